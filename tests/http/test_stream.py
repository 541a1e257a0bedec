"""Live output: POST /run with Accept: text/event-stream answers Server-Sent Events as the program
prints (stdout, stderr, compile), then the result the ordinary answer would have been. Behind
every server (by_server): each buffers differently, and each tells a program differently that
its client left."""
import http.client
import json
import socket
import time

import pytest
import requests

from conftest import assert_json_error

pytestmark = pytest.mark.by_server

SSE = {"Accept": "text/event-stream"}


def events(stack, body, timeout=60):
    """POSTs body as JSON asking for a stream; returns (response, [(seconds, event, data)])."""
    start = time.monotonic()
    r = requests.post(stack.url("/run"), json=body, headers=SSE, stream=True, timeout=timeout)
    got, name = [], None
    if r.headers.get("Content-Type", "").startswith("text/event-stream"):
        for line in r.iter_lines():
            line = line.decode()
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                got.append((time.monotonic() - start, name, json.loads(line[6:])))
    return r, got


def test_output_arrives_as_it_is_printed(stack, clean):
    r, got = events(stack, {"language": "python", "code":
                            "import time\nprint('a', flush=True)\ntime.sleep(1)\nprint('b')"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-store"
    assert "Content-Length" not in r.headers  # a stream: chunked, or closed at its end
    names = [e[1] for e in got]
    assert names[-1] == "result" and set(names[:-1]) == {"stdout"}
    first_a = next(t for t, name, data in got if name == "stdout" and "a" in data["text"])
    result_at, _, result = got[-1]
    assert result_at - first_a >= 0.8, got  # "a" was not held back until the end
    assert "".join(d["text"] for _, n, d in got if n == "stdout") == "a\nb\n"
    # the result is the ordinary answer, to the field
    plain = requests.post(stack.url("/run"), json={"language": "python", "code": "print(1)"},
                          timeout=60).json()
    assert set(result) == set(plain)
    assert result["exit_code"] == 0 and result["error"] == "" and result["compile_output"] == ""
    assert result["output"] == "a\nb\n" and result["status"] == "ok" and not result["truncated"]
    # history has the same entry as for a run not streamed
    newest = stack.history()[0]
    assert newest["output"] == "1\n"
    assert stack.history()[1]["output"] == "a\nb\n" and stack.history()[1]["status"] == "ok"


def test_stderr_apart_and_split_characters_whole(stack, clean):
    code = ("import sys, time\nsys.stdout.buffer.write(b'\\xc3'); sys.stdout.flush()\n"
            "time.sleep(0.3)\nsys.stdout.buffer.write(b'\\xa9\\n'); sys.stdout.flush()\n"
            "print('oops', file=sys.stderr)\nsys.exit(3)")
    r, got = events(stack, {"language": "python", "code": code})
    result = got[-1][2]
    assert got[-1][1] == "result" and result["exit_code"] == 3
    assert joined(got, "stdout") == "\u00e9\n" == result["output"]  # held back, then whole
    assert joined(got, "stderr") == "oops\n" == result["error"]


def test_compiler_warnings_come_before_the_output(stack, clean):
    r, got = events(stack, {"language": "c", "code":
                            '#include <stdio.h>\n#warning "mind this"\n'
                            'int main(void) { puts("ran"); return 0; }'})
    names = [e[1] for e in got]
    assert names[0] == "compile" and names[-1] == "result" and "stdout" in names, names
    result = got[-1][2]
    assert result["status"] == "ok" and result["output"] == "ran\n"
    assert joined(got, "compile") == result["compile_output"] and "mind this" in result["compile_output"]


def test_compiler_messages_and_a_compile_error(stack, clean):
    r, got = events(stack, {"language": "c", "code": "int main(void) { return x; }"})
    assert r.status_code == 200
    assert [e[1] for e in got] == ["compile", "result"]
    assert "undeclared" in got[0][2]["text"]
    assert got[1][2]["status"] == "compile_error"


def joined(got, name):
    return "".join(d["text"] for _, n, d in got if n == name)


def test_a_flood_ends_truncated_and_the_connection_stays_healthy(stack, clean):
    """Both streams flooded: each stops at the limit, as the ordinary answer does; the answer
    ends properly, so the client's connection carries the next request (no reconnect)."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
    body = json.dumps({"language": "python", "code": "import sys\nfor i in range(200):\n"
                       "    print('x' * 1000)\n    print('y' * 1000, file=sys.stderr)"})
    conn.request("POST", "/run", body, {**SSE, "Content-Type": "application/json"})
    r = conn.getresponse()
    sock = conn.sock
    got, name = [], None
    for line in r.read().decode().split("\n"):
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            got.append((0, name, json.loads(line[6:])))
    result = got[-1][2]
    assert got[-1][1] == "result" and result["truncated"] is True and result["status"] == "ok"
    assert len(joined(got, "stdout")) == 65536  # the limit, no more, as in the ordinary answer
    assert joined(got, "stdout") == result["output"]
    assert joined(got, "stderr") == result["error"] and len(result["error"]) == 65536
    assert not r.will_close
    conn.request("POST", "/run", json.dumps({"language": "python", "code": "print(2)"}),
                 {"Content-Type": "application/json"})
    again = conn.getresponse()
    assert conn.sock is sock, "the server closed the connection after the stream"
    assert again.status == 200 and json.loads(again.read())["output"] == "2\n"
    conn.close()


def test_a_character_the_limit_cuts_is_dropped_as_in_the_answer(stack, clean):
    """30000 euro signs are 90000 bytes: the limit (65536) falls inside one. The streamed text
    ends before it, exactly as the result's output does: no U+FFFD."""
    r, got = events(stack, {"language": "python", "code": "print('\u20ac' * 30000)"})
    result = got[-1][2]
    assert result["truncated"] is True and result["output"] == "\u20ac" * 21845
    assert joined(got, "stdout") == result["output"]


def test_a_timeout_streams_to_the_end_and_the_service_message(stack, clean):
    """A program that prints, then loops past its deadline: what it printed, then the service's
    words on stderr; the streamed text is the result's, to the byte."""
    r, got = events(stack, {"language": "python", "code":
                            "import sys\nprint('before', flush=True)\n"
                            "sys.stderr.write('half a line'); sys.stderr.flush()\nwhile True: pass"})
    result = got[-1][2]
    assert got[-1][1] == "result" and result["status"] == "timeout"
    assert joined(got, "stdout") == result["output"] == "before\n"
    assert joined(got, "stderr") == result["error"]
    assert result["error"].startswith("half a line\nExecution timed out after ")


def test_a_quiet_program_gets_keep_alive_comments(stack, clean):
    """Nothing printed for 6 s: a comment line keeps proxies from closing the connection."""
    r = requests.post(stack.url("/run"), json={"language": "python", "code":
                                               "import time\ntime.sleep(6)\nprint('late')"},
                      headers=SSE, stream=True, timeout=60)
    lines = [line.decode() for line in r.iter_lines()]
    assert ": keep-alive" in lines, lines
    assert lines.index(": keep-alive") < lines.index("event: stdout")


def test_a_browser_form_post_gets_html_not_a_stream(stack, clean):
    r = requests.post(stack.url("/run"), data={"language": "python", "code": "print(1)"},
                      headers={"Accept": "text/html, text/event-stream"}, timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")


def test_refusals_are_ordinary_answers(stack, clean):
    r = requests.post(stack.url("/run"), json={"language": "cobol", "code": "x"}, headers=SSE,
                      timeout=30)
    assert_json_error(r, 400)
    r = requests.post(stack.url("/run"), data="x", headers={**SSE, "Content-Type": "text/plain"},
                      timeout=30)
    assert_json_error(r, 415)


def test_a_client_that_leaves_ends_the_run(stack, clean):
    """The client closes after the first event: the program (which would print for 8 s) is
    ended and its container removed well before its deadline."""
    body = json.dumps({"language": "python", "code":
                       "import time\nfor i in range(80):\n    print(i, flush=True)\n"
                       "    time.sleep(0.1)"}).encode()
    s = socket.create_connection(("127.0.0.1", stack.port), timeout=30)
    s.sendall(b"POST /run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Accept: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    seen = b""
    while b"event: stdout" not in seen:
        chunk = s.recv(4096)
        assert chunk, seen
        seen += chunk
    left = time.monotonic()
    s.close()
    deadline = left + 12
    while (stack.used_containers() or stack.docker_clients()) and time.monotonic() < deadline:
        time.sleep(0.2)
    took = time.monotonic() - left
    assert stack.used_containers() == [] and stack.docker_clients() == []
    print(f"the run ended {took:.1f} s after its client left")
    # measured here: 0.6-1.1 s behind each server, the container's removal included
    assert took < 4, f"the run went on {took:.1f} s after its client left"


def test_a_client_that_stops_reading_does_not_hold_the_run(stack, clean):
    """A client that stays connected and reads nothing, with a tiny receive buffer, while the
    program prints as much as the limits let it, then spins: the run ends at its deadline and
    its container goes. (lighttpd and nginx here take in the whole stream, bounded by the
    output limits, so the service's writes never block; the cut of a write still blocked at
    the deadline is tested in tests/unit/test_cutoff.c.)"""
    body = json.dumps({"language": "python", "code":
                       "import sys\nsys.stdout.write('\\x01' * 65536); sys.stdout.flush()\n"
                       "sys.stderr.write('\\x01' * 65536); sys.stderr.flush()\nwhile True: pass"
                       }).encode()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", stack.port))
    s.sendall(b"POST /run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Accept: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    try:
        start = time.monotonic()
        time.sleep(3)
        running = stack.used_containers()  # the run's, its output not read
        assert running != []
        deadline = start + 25
        while set(running) & set(stack.containers()) and time.monotonic() < deadline:
            time.sleep(0.2)
        took = time.monotonic() - start
        print(f"the run of a client that reads nothing ended after {took:.1f} s")
        assert not set(running) & set(stack.containers()), "the run outlived its deadline"
        assert took < 18  # its 10 s, the start, the removal
    finally:
        s.close()
