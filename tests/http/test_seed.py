"""Every example of the seed document, through HTTP against the real stack, with the seed's result."""
import re
import subprocess

import pytest
import requests

from conftest import DOCKER, ROOT, STANDALONE, assert_json_error

# What can differ by web server (headers, limits, errors, origin checks, the seed's examples):
# run behind every server, not only the first (scripts/test.sh).
pytestmark = pytest.mark.by_server

RUN_KEYS = {"output", "error", "exit_code", "status", "duration_ms", "truncated",
            "memory_peak_bytes", "cpu_time_ms", "compile_output", "compile_ms"}


def image(language):
    """The image of a language, from the table."""
    text = (ROOT / "conf" / "languages.conf").read_text()
    return re.search(rf"(?ms)^\[{language}\].*?^image = (\S+)", text).group(1)


def test_health(stack):
    assert requests.get(stack.url("/healthz"), timeout=10).json() == {"status": "alive"}
    if not STANDALONE:
        return  # with the drop-in, GET / is the host's page
    r = requests.get(stack.url("/"), timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.text == "Safe Code Executor API is running!"


def test_python_print(stack, clean):
    status, body = stack.run("python", "print(2+2)")
    assert status == 200
    assert set(body) == RUN_KEYS
    assert body["output"] == "4\n"
    assert body["error"] == ""
    assert body["exit_code"] == 0
    assert body["status"] == "ok"
    assert body["truncated"] is False
    assert isinstance(body["duration_ms"], int) and 0 <= body["duration_ms"] < 10000
    # read from the container's cgroup: a Python hello-world uses some MB and some CPU
    assert 1 << 20 < body["memory_peak_bytes"] <= 128 << 20
    assert 0 < body["cpu_time_ms"] < 10000


def test_javascript_console_log(stack, clean):
    status, body = stack.run("javascript", "console.log(2+2)")
    assert status == 200
    assert (body["output"], body["exit_code"], body["status"]) == ("4\n", 0, "ok")


def test_infinite_loop_times_out(stack, clean):
    status, body = stack.run("python", "print('before', flush=True)\nwhile True: pass")
    assert status == 200
    assert body["error"] == "Execution timed out after 10 seconds."
    assert body["exit_code"] == -2
    assert body["status"] == "timeout"
    assert body["output"] == "before\n"  # what was printed before the deadline is kept
    assert 10000 <= body["duration_ms"] < 12000


def test_memory_bomb_is_killed(stack, clean):
    status, body = stack.run("python", 'x = "a" * 1000000000')
    assert status == 200
    assert body["exit_code"] == 137
    assert body["status"] == "memory_limit"
    assert body["error"] == "Memory limit exceeded (128 MB)."
    assert body["memory_peak_bytes"] == 128 << 20


def test_network_is_blocked(stack, clean):
    status, body = stack.run(
        "python", 'import urllib.request; urllib.request.urlopen("https://google.com")')
    assert status == 200
    assert body["exit_code"] == 1
    assert "URLError" in body["error"]
    assert "Temporary failure in name resolution" in body["error"]


def test_filesystem_is_read_only(stack, clean):
    status, body = stack.run("python", 'open("/tmp/hack.txt","w").write("hello")')
    assert status == 200
    assert "OSError: [Errno 30] Read-only file system" in body["error"]
    assert body["exit_code"] == 1


def test_reading_container_files_gives_the_containers_passwd(stack, clean):
    status, body = stack.run("python", 'print(open("/etc/passwd").read())')
    assert status == 200
    expected = subprocess.run([DOCKER, "run", "--rm", "--network", "none", "--pull", "never",
                               image("python"), "cat", "/etc/passwd"],
                              check=True, capture_output=True, text=True).stdout
    assert body["output"] == expected + "\n"
    assert body["output"] != open("/etc/passwd").read() + "\n"


def test_code_length_limit(stack, clean):
    before = stack.history()
    r = stack.post('{"language":"python","code":"%s"}' % ("a" * 5001))
    assert_json_error(r, 400, "Code too long. Maximum allowed length is 5000 characters.")
    assert stack.history() == before


def test_history_after_runs(stack, clean):
    status, body = stack.run("python", "print(2+2)")
    assert status == 200, body
    entries = stack.history()
    assert 1 <= len(entries) <= 10
    newest = entries[0]
    assert {"language", "code", "output", "error", "exit_code", "time"} <= set(newest)
    assert newest["language"] == "python"
    assert newest["code"] == "print(2+2)"
    assert newest["output"] == "4\n"
    assert newest["error"] == ""
    assert newest["exit_code"] == 0
    time_ = newest["time"]
    assert len(time_) == 19 and time_[4] == "-" and time_[10] == " " and time_[13] == ":"
