"""Bad requests get a clear JSON error with the right status, run nothing and add nothing to history."""
import json
import time

import pytest
import requests

from conftest import STANDALONE, assert_json_error, history_snapshot, raw_http

UNSUPPORTED = 'unsupported language: use "python", "javascript", "ruby" or "c"'

# What can differ by web server (headers, limits, errors, origin checks, the seed's examples):
# run behind every server, not only the first (scripts/test.sh).
pytestmark = pytest.mark.by_server


@pytest.fixture
def unchanged(stack, clean):
    """The test must not add to history nor leave a container."""
    before = history_snapshot(stack)
    yield stack
    assert history_snapshot(stack) == before


BAD_JSON = [
    ("{", "invalid JSON"),
    ('{"language":"python","code":"x"', "invalid JSON"),
    ('{"language":"python","code":"x"} trailing', "invalid JSON"),
    ('[{"language":"python","code":"x"}]', "request body must be a JSON object"),
    ('"just a string"', "request body must be a JSON object"),
    ("", "invalid JSON"),
    ('{"code":"print(1)"}', 'missing field "language"'),
    ('{"language":"python"}', 'missing field "code"'),
    ('{"language":"python","code":5}', 'field "code" must be a string'),
    ('{"language":"python","code":null}', 'field "code" must be a string'),
    ('{"language":["python"],"code":"x"}', 'field "language" must be a string'),
    ('{"language":"python","code":{"a":1}}', 'field "code" must be a string'),
    ('{"language":"perl","code":"print 1"}', UNSUPPORTED),
    ('{"language":"Python","code":"print(1)"}', UNSUPPORTED),
    ('{"language":"python","code":""}', "code must not be empty"),
    ('{"language":"python","code":"a","code":"b"}', 'duplicate field "code"'),
    ('{"language":"python","language":"python","code":"b"}', 'duplicate field "language"'),
    ('{"language":"python","Code":"print(1)"}', 'unknown field "Code"'),
    ('{"language":"python","code":"x","extra":1}', 'unknown field "extra"'),
    ('{"language":"python","code":"a\\u0000b"}', "NUL characters (\\u0000) are not allowed"),
    ('{"language":"python","code":"print(1)\\uZZZZimport os"}', "invalid JSON: bad escape"),
    ('{"language":"python",\x0c"code":"print(1)"}', "invalid JSON: control character"),
    ('{"language":"python","code":"\\ud800"}', "invalid JSON"),
    ('{"language":"python","code":"\\udc00x"}', "invalid JSON"),
    ('{"language":"python","code":"a\tb"}', "invalid JSON: control character in a string"),
]


@pytest.mark.parametrize("body,message", BAD_JSON)
def test_bad_json_bodies(stack, unchanged, body, message):
    assert_json_error(stack.post(body.encode()), 400, message)


def test_deep_nesting(stack, unchanged):
    r = stack.post(b'{"language":"python","code":' + b"[" * 5000 + b"]" * 5000 + b"}")
    assert_json_error(r, 400)


def test_invalid_utf8_body(stack, unchanged):
    r = stack.post(b'{"language":"python","code":"print(\xff)"}')
    assert_json_error(r, 400, "request body is not valid UTF-8")


def test_unicode_boundary(stack, clean):
    ok = stack.post(json.dumps({"language": "python", "code": "#" + "é" * 4999}).encode())
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    ok = stack.post(json.dumps({"language": "python", "code": "#" + "é" * 4999},
                               ensure_ascii=False).encode())
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    too_long = stack.post(json.dumps({"language": "python", "code": "#" + "é" * 5000}).encode())
    assert_json_error(too_long, 400, "Code too long. Maximum allowed length is 5000 characters.")


def test_largest_legal_body_fits(stack, clean):
    """5000 characters written as surrogate pairs (about 60 KB of JSON) are accepted."""
    body = json.dumps({"language": "python", "code": "#" + "\U0001F600" * 4999})
    assert len(body) > 59000
    r = stack.post(body.encode())
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/xml", "multipart/form-data; boundary=x", "application/jsonx",
    "application/json; charset=latin-1", None])
def test_unsupported_content_type(stack, unchanged, content_type):
    r = stack.post(b'{"language":"python","code":"print(1)"}', content_type=content_type)
    assert_json_error(r, 415)


def test_json_with_charset_is_accepted(stack, clean):
    r = stack.post(b'{"language":"python","code":"print(1)"}',
                   content_type="application/json; charset=UTF-8")
    assert r.status_code == 200 and r.json()["output"] == "1\n"


def test_body_over_the_cap(stack, unchanged):
    # over max_body (457312 bytes: the longest code and input, escaped), under the web server's
    r = stack.post(json.dumps({"language": "python", "code": "#" * 470000}).encode())
    assert_json_error(r, 413, "request body too large: the limit is 457312 bytes")


def test_huge_content_length_is_refused_without_reading(stack, unchanged):
    start = time.monotonic()
    status, headers, body = raw_http(stack.port, (
        b"POST /run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\nConnection: close\r\n\r\n{"))
    assert status == 413
    assert json.loads(body)["error"]
    assert time.monotonic() - start < 5


def test_body_between_program_and_server_caps(stack, unchanged):
    status, headers, body = raw_http(stack.port, (
        b"POST /run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 470000\r\nConnection: close\r\n\r\n" + b" " * 470000))
    assert status == 413
    assert json.loads(body) == {"error": "request body too large: the limit is 457312 bytes"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_run_other_methods(stack, unchanged, method):
    r = requests.request(method, stack.url("/run"), timeout=10)
    assert_json_error(r, 405)
    assert r.headers["Allow"] == "POST"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_history_other_methods(stack, unchanged, method):
    r = requests.request(method, stack.url("/history"), data=b"{}", timeout=10)
    assert_json_error(r, 405)
    assert r.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/runner", "/run/", "/run/x", "/historyx", "/history/1",
                                  "/nope", "/run.fcgi", "/cgi-bin/run.fcgi"])
def test_unknown_paths(stack, unchanged, path):
    r = requests.post(stack.url(path), json={"language": "python", "code": "print(1)"},
                      timeout=10)
    assert r.status_code == 404, r.text
    # With the drop-in, every path but the service's own is the host's (its own 404 page).
    if STANDALONE:
        assert r.json()["error"]


def test_head_history(stack):
    r = requests.head(stack.url("/history"), timeout=10)
    assert r.status_code == 200 and r.content == b""


def test_every_answer_has_safety_headers(stack, unchanged):
    paths = ["/history", "/ui", "/healthz", "/app.js"] + (["/", "/nope"] if STANDALONE else [])
    for r in [requests.get(stack.url(p), timeout=10) for p in paths] + [stack.post(b"{")]:
        assert r.headers["X-Content-Type-Options"] == "nosniff", r.url
        assert r.headers["Cache-Control"] == "no-store", r.url


def test_missing_content_length(stack, unchanged):
    status, headers, body = raw_http(stack.port, (
        b"POST /run HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\r\n"))
    assert status in (400, 411)
    if STANDALONE:  # with the drop-in, the host refuses it before the service's settings apply
        assert json.loads(body)["error"]


def test_errors_do_not_leak_paths(stack, unchanged):
    for r in (stack.post(b"{"), requests.get(stack.url("/nope"), timeout=10),
              stack.post(b"x", content_type="text/plain")):
        assert "/work" not in r.text and "/tmp" not in r.text and "docker" not in r.text


# Browser form posts (application/x-www-form-urlencoded).

def form(stack, fields):
    return requests.post(stack.url("/run"), data=fields, timeout=60)


def test_form_post_python(stack, clean):
    r = form(stack, {"language": "python", "code": "print(2+2)"})
    assert r.status_code == 200 and r.json()["output"] == "4\n"


def test_form_post_javascript_with_crlf(stack, clean):
    r = form(stack, {"language": "javascript", "code": "const a = 2;\r\nconsole.log(a + 2)"})
    assert r.status_code == 200 and r.json()["output"] == "4\n"


def test_form_post_ignores_other_controls(stack, clean):
    r = form(stack, {"language": "python", "code": "print('ok')", "submit": "Run"})
    assert r.status_code == 200 and r.json()["output"] == "ok\n"


@pytest.mark.parametrize("body,message", [
    ("language=python", 'missing field "code"'),
    ("code=print(1)", 'missing field "language"'),
    ("language=perl&code=1", UNSUPPORTED),
    ("language=python&code=", "code must not be empty"),
    ("language=python&code=a&code=b", 'duplicate field "code"'),
    ("language=python&code=%zz", "malformed form body: bad % escape"),
    ("language=python&code=%ff", "code is not valid UTF-8"),
    ("language=python&code=a%00b", "code must not contain NUL characters"),
    ("language=python&code=" + "a" * 5001,
     "Code too long. Maximum allowed length is 5000 characters."),
], ids=lambda v: v[:40])
def test_bad_form_posts(stack, unchanged, body, message):
    r = stack.post(body.encode(), content_type="application/x-www-form-urlencoded")
    assert_json_error(r, 400, message)
