"""The programs run directly as plain CGI (no web server): the same binaries, environment + stdin."""
import json
import os
import subprocess

import pytest

from conftest import ROOT, languages_conf


def cgi(program, stack, method="POST", body=b"", content_type="application/json",
        path=None, extra=None):
    env = {
        "PATH": os.environ["PATH"],
        "SCE_CONFIG": str(stack.workdir / "sce.conf"),
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": path or ("/" + program),
        "CONTENT_TYPE": content_type,
        "REMOTE_ADDR": "127.0.0.1",
    }
    if method == "POST":
        env["CONTENT_LENGTH"] = str(len(body))
    env.update(extra or {})
    p = subprocess.run([str(ROOT / "cgi-bin" / f"{program}.fcgi")], input=body, env=env,
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    head, _, payload = p.stdout.partition(b"\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
    return int(headers["Status"].split()[0]), headers, payload


def test_run_as_cgi(stack, clean):
    status, headers, body = cgi("run", stack, body=b'{"language":"python","code":"print(2+2)"}')
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert int(headers["Content-Length"]) == len(body)
    assert json.loads(body)["output"] == "4\n"


def test_plain_cgi_answers_whole_when_a_stream_is_asked_for(stack, clean):
    """Streaming needs FastCGI: as plain CGI, Accept: text/event-stream gets the ordinary answer."""
    status, headers, body = cgi("run", stack, body=b'{"language":"python","code":"print(2+2)"}',
                                extra={"HTTP_ACCEPT": "text/event-stream"})
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(body)["output"] == "4\n"


@pytest.mark.parametrize("kwargs,status", [
    ({"body": b"{"}, 400),
    ({"method": "GET"}, 405),
    ({"path": "/runner", "body": b"{}"}, 404),
    ({"body": b"{}", "content_type": "text/plain"}, 415),
    ({"body": b"x" * 470000}, 413),
    ({"body": b'{"language":"python","code":"1"}', "extra": {"CONTENT_LENGTH": "40"}}, 400),
])
def test_run_errors_as_cgi(stack, clean, kwargs, status):
    got, headers, body = cgi("run", stack, **kwargs)
    assert got == status
    assert set(json.loads(body)) == {"error"}
    if status == 405:
        assert headers["Allow"] == "POST"


def test_history_as_cgi(stack):
    status, headers, body = cgi("history", stack, method="GET")
    assert status == 200 and isinstance(json.loads(body), list)
    status, headers, body = cgi("history", stack, method="HEAD")
    assert status == 200 and body == b""


def test_bad_config_stops_with_the_line_number(stack, tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("port = 5000\ntimeout_s = ten\n")
    p = subprocess.run([str(ROOT / "cgi-bin" / "run.fcgi"), "--check-config"],
                       env={"SCE_CONFIG": str(bad)}, capture_output=True, text=True)
    assert p.returncode == 1
    assert f"{bad}:2: timeout_s: not a whole number" in p.stderr


@pytest.mark.parametrize("program", ["run", "history"])
def test_state_others_can_write_to_stops_the_programs(tmp_path, program):
    """Records in the state directory name containers to exec into and remove: one that another
    user can write to (or that is not the service's) is refused at start, with what to fix."""
    state = tmp_path / "state"
    state.mkdir()
    conf = tmp_path / "sce.conf"
    conf.write_text(f"state_dir = {state}\nhistory_path = {tmp_path}/history.json\n"
                    f"seccomp_profile = {ROOT}/conf/seccomp.json\n"
                    f"instance = state{os.getpid()}\n" + languages_conf(tmp_path, warm=0))
    for bad in (lambda: os.chmod(state, 0o777), lambda: os.chmod(state / "owned", 0o777),
                lambda: os.chown(state / "pool", 65534, 65534)):
        subprocess.run([str(ROOT / "cgi-bin" / f"{program}.fcgi"), "--prepare"],
                       env={"SCE_CONFIG": str(conf)}, capture_output=True, check=True)
        bad()
        p = subprocess.run([str(ROOT / "cgi-bin" / f"{program}.fcgi"), "--prepare"],
                           env={"SCE_CONFIG": str(conf)}, capture_output=True, text=True)
        assert p.returncode == 1, p.stderr
        assert "refusing to start" in p.stderr and "no one else may write there" in p.stderr
        for d in (state, state / "owned", state / "pool"):  # put right for the next case
            os.chmod(d, 0o700)
            os.chown(d, 0, 0)
