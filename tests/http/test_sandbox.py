"""What the sandbox returns for awkward programs: output caps, floods, bytes that are not text,
exit codes, and that nothing is left behind."""

import pytest


def test_stdout_flood_is_truncated(stack, clean):
    status, body = stack.run("python", "import sys\nfor i in range(200000): print(i)")
    assert status == 200
    assert body["status"] == "ok" and body["exit_code"] == 0
    assert body["truncated"] is True
    assert len(body["output"].encode()) == 65536
    assert body["output"].startswith("0\n1\n2\n")


def test_both_streams_flood_without_deadlock(stack, clean):
    code = ("import sys\n"
            "sys.stderr.write('e' * 1000000)\n"      # a large stderr write before any stdout
            "sys.stdout.write('o' * 1000000)\n")
    status, body = stack.run("python", code)
    assert status == 200 and body["status"] == "ok"
    assert body["truncated"] is True
    assert body["output"] == "o" * 65536
    assert body["error"] == "e" * 65536


def test_javascript_flood_without_newlines(stack, clean):
    status, body = stack.run("javascript", "process.stdout.write('x'.repeat(5000000))")
    assert status == 200 and body["status"] == "ok"
    assert body["truncated"] is True and body["output"] == "x" * 65536


def test_invalid_utf8_and_nul_are_replaced(stack, clean):
    code = ("import sys\n"
            "sys.stdout.buffer.write(b'a\\xff\\x00b\\xc3(\\xe2\\x82c')\n"
            "sys.stderr.buffer.write(b'\\xed\\xa0\\x80z')\n")
    status, body = stack.run("python", code)
    assert status == 200
    assert body["output"] == "a\ufffd\ufffdb\ufffd(\ufffd\ufffdc"
    assert body["error"] == "\ufffd\ufffd\ufffdz"


def test_text_that_looks_like_json_html_or_headers_stays_text(stack, clean):
    text = '"}\n{"exit_code":0}<script>alert(1)</script>\r\nStatus: 302\r\n\x1b[31mred'
    status, body = stack.run("python", f"import sys; sys.stdout.write({text!r})")
    assert status == 200
    assert body["output"] == text
    assert body["exit_code"] == 0


def test_truncation_does_not_split_a_character(stack, clean):
    status, body = stack.run("python", "print('a' + '\u00e9' * 40000)")
    assert body["truncated"] is True
    assert "\ufffd" not in body["output"]
    assert len(body["output"].encode()) in (65535, 65536)


@pytest.mark.parametrize("code,expected", [
    ("import sys; sys.exit(3)", 3),
    ("import sys; sys.exit(125)", 125),
    ("import sys; sys.exit(126)", 126),
    ("import sys; sys.exit(127)", 127),
    ("import sys; sys.exit(137)", 137),
    ("raise SystemExit(0)", 0),
])
def test_exit_codes_are_the_programs_own(stack, clean, code, expected):
    status, body = stack.run("python", code)
    assert status == 200
    assert body["exit_code"] == expected
    assert body["status"] == ("ok" if expected == 0 else "error")
    assert body["error"] == ""


def test_sigkill_to_itself_is_not_a_memory_limit(stack, clean):
    status, body = stack.run("python", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert status == 200
    assert body["exit_code"] == 137 and body["status"] == "error" and body["error"] == ""


def test_javascript_heap_bomb(stack, clean):
    status, body = stack.run("javascript", "const a = []; while (true) a.push('x'.repeat(1e6) + a.length);")
    assert status == 200
    assert body["exit_code"] != 0 and body["status"] in ("memory_limit", "error")


def test_input_gets_eof(stack, clean):
    status, body = stack.run("python", "try:\n    input()\nexcept EOFError:\n    print('eof')")
    assert body["output"] == "eof\n"


def test_stderr_before_the_timeout_is_kept(stack, clean):
    status, body = stack.run("javascript",
                             "console.error('warming up'); setInterval(() => {}, 1000)")
    assert body["status"] == "timeout" and body["exit_code"] == -2
    assert body["error"] == "warming up\nExecution timed out after 10 seconds."


def test_environment_and_user(stack, clean):
    status, body = stack.run("python", "import os; print(os.getuid(), sorted(os.environ))")
    uid, env = body["output"].split(" ", 1)
    assert uid == "65534"
    assert "SCE_CONFIG" not in env and "SCE_TEST_CANARY" not in env


def test_javascript_dynamic_import(stack, clean):
    status, body = stack.run("javascript", "import('os').then(os => console.log(os.platform()))")
    assert status == 200 and body["output"] == "linux\n" and body["error"] == "", body


def test_docker_client_config_of_the_user_does_not_reach_containers(tmp_path):
    """The docker CLI copies the `proxies` of ~/.docker/config.json into every container it
    makes: the service gives it an empty config directory of its own instead."""
    import json
    from pathlib import Path
    import requests
    from conftest import languages_conf, start_stack, stop_stack
    canary = "http://canary-proxy.invalid:3128"
    config = Path.home() / ".docker" / "config.json"
    saved = config.read_bytes() if config.exists() else None
    config.parent.mkdir(exist_ok=True)
    config.write_text(json.dumps({"proxies": {"default": {"httpProxy": canary,
                                                          "httpsProxy": canary}}}))
    try:
        s, proc = start_stack(tmp_path, languages_conf(tmp_path, warm=0))
        try:
            r = requests.post(s.url("/run"), timeout=60, json={"language": "python", "code":
                              "import os\nprint(open('/proc/1/environ', 'rb').read())\n"
                              "print(sorted(os.environ))"})
            assert r.status_code == 200, r.text
            out = r.json()["output"]
            assert "canary" not in out and "PROXY" not in out.upper(), out
        finally:
            stop_stack(s, proc)
    finally:
        if saved is None:
            config.unlink()
        else:
            config.write_bytes(saved)
