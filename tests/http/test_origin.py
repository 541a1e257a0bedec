"""Requests from other web pages: cross-site form and JSON posts are refused (403), a Host the
service does not answer for (DNS rebinding) is refused on every endpoint (421), the page's own
origin and tools that send neither header still work, and CORS is answered for the origins the
operator lists, and for no one else. Behind every web server."""
import re

import pytest
import requests

from conftest import assert_json_error, languages_conf, raw_http, start_stack, stop_stack
from test_operate import metrics

# What can differ by web server (headers, limits, errors, origin checks, the seed's examples):
# run behind every server, not only the first (scripts/test.sh).
pytestmark = pytest.mark.by_server

EVIL = "http://evil.example"
COURSE = "https://course.example.org"


def ran_nothing(stack, before):
    """Nothing ran, nothing was recorded."""
    stack.settle()
    assert stack.used_containers() == []
    assert stack.history() == before


def test_foreign_form_post_is_refused_with_html(stack, clean):
    before = stack.history()
    m0 = metrics(stack)
    r = requests.post(stack.url("/run"), timeout=30,
                      data={"language": "python", "code": "print('from evil')"},
                      headers={"Origin": EVIL, "Accept": "text/html,*/*"})
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("text/html")
    assert "cross-site request refused" in r.text
    assert "Access-Control-Allow-Origin" not in r.headers
    ran_nothing(stack, before)
    assert metrics(stack).get('sce_rejections_total{status="403"}', 0) == \
        m0.get('sce_rejections_total{status="403"}', 0) + 1


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL},
    {"Origin": "null"},                                  # sandboxed frames, file: pages
    {"Origin": "http://127.0.0.1.evil.example"},
    {"Origin": "http://127.0.0.1:1"},                    # same host, another port
    {"Sec-Fetch-Site": "cross-site"},                    # a browser that sends no Origin
    {"Origin": "garbage"},
])
def test_foreign_json_post_is_refused(stack, clean, headers):
    before = stack.history()
    r = requests.post(stack.url("/run"), json={"language": "python", "code": "print(1)"},
                      headers=headers, timeout=30)
    assert_json_error(r, 403)
    assert r.json()["error"].startswith("cross-site request refused")
    assert "Access-Control-Allow-Origin" not in r.headers
    ran_nothing(stack, before)


@pytest.mark.parametrize("origin_of", [
    lambda s: f"http://127.0.0.1:{s.port}",
    lambda s: f"HTTP://127.0.0.1:{s.port}",
    lambda s: None,
])
def test_the_pages_own_origin_and_tools_still_work(stack, clean, origin_of):
    origin = origin_of(stack)
    headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"} if origin else {}
    r = requests.post(stack.url("/run"), json={"language": "python", "code": "print(6*7)"},
                      headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["output"] == "42\n"
    assert "Access-Control-Allow-Origin" not in r.headers  # same origin needs no CORS


@pytest.mark.parametrize("path,method", [
    ("/run", "POST"), ("/history", "GET"), ("/metrics", "GET"), ("/healthz", "GET"),
    ("/readyz", "GET"),
])
def test_rebinding_host_is_refused_everywhere(stack, clean, path, method):
    before = stack.history()
    for host in ("evil.example", f"evil.example:{stack.port}", "127.0.0.1.nip.io"):
        r = requests.request(method, stack.url(path), timeout=30, headers={"Host": host},
                             json={"language": "python", "code": "print(1)"}
                             if method == "POST" else None)
        assert_json_error(r, 421)
        assert "does not answer for host" in r.json()["error"]
    ran_nothing(stack, before)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "LOCALHOST.", "[::1]"])
def test_loopback_names_are_answered(stack, host):
    r = requests.get(stack.url("/history"), headers={"Host": f"{host}:{stack.port}"},
                     timeout=30)
    assert r.status_code == 200


def test_request_without_host_passes(stack, clean):
    """HTTP/1.0 tools send no Host: not a browser, so not refused for it."""
    body = b'{"language": "python", "code": "print(5)"}'
    status, _, answer = raw_http(stack.port, b"POST /run HTTP/1.0\r\n"
                                 b"Content-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert status == 200, answer
    assert b'"output":"5\\n"' in answer


@pytest.fixture(scope="module")
def cors(tmp_path_factory):
    """A stack whose operator lists a course site's origin and the service's own host name."""
    s, proc = start_stack(tmp_path_factory.mktemp("cors"),
                          f"allowed_origins = {COURSE} http://localhost:8080\n"
                          "allowed_hosts = sce.example.org 127.0.0.1\n"
                          + languages_conf(tmp_path_factory.mktemp("cors-table"), warm=0))
    yield s
    stop_stack(s, proc)


def test_cors_preflight_for_a_listed_origin(cors):
    r = requests.options(cors.url("/run"), timeout=30, headers={
        "Origin": COURSE, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == COURSE
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in r.headers["Access-Control-Allow-Headers"]
    assert r.headers["Vary"] == "Origin"


def test_cors_post_from_a_listed_origin(cors):
    for origin in (COURSE, "https://COURSE.example.org:443", "http://localhost:8080"):
        r = requests.post(cors.url("/run"), json={"language": "python", "code": "print(3)"},
                          headers={"Origin": origin, "Sec-Fetch-Site": "cross-site"},
                          timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["output"] == "3\n"
        assert r.headers["Access-Control-Allow-Origin"] == origin
    r = requests.get(cors.url("/history"), headers={"Origin": COURSE}, timeout=30)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == COURSE


def test_no_cors_for_anyone_else(cors):
    for origin in (EVIL, "https://course.example.org:8443", "http://course.example.org",
                   "null"):
        r = requests.options(cors.url("/run"), timeout=30, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        assert r.status_code == 405, (origin, r.status_code)
        assert "Access-Control-Allow-Origin" not in r.headers
        r = requests.post(cors.url("/run"), json={"language": "python", "code": "print(1)"},
                          headers={"Origin": origin}, timeout=30)
        assert_json_error(r, 403)
        assert "Access-Control-Allow-Origin" not in r.headers
        r = requests.get(cors.url("/history"), headers={"Origin": origin}, timeout=30)
        assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers


def test_listed_hosts_replace_the_defaults(cors):
    ok = requests.get(cors.url("/history"), headers={"Host": "sce.example.org"}, timeout=30)
    assert ok.status_code == 200
    r = requests.post(cors.url("/run"), json={"language": "python", "code": "print(8)"},
                      headers={"Host": f"sce.example.org:{cors.port}",
                               "Origin": f"http://sce.example.org:{cors.port}"}, timeout=60)
    assert r.status_code == 200 and r.json()["output"] == "8\n"
    assert_json_error(requests.get(cors.url("/history"), headers={"Host": "localhost"},
                                   timeout=30), 421)


def test_a_bad_list_stops_the_program_with_its_line(tmp_path):
    import subprocess
    from conftest import ROOT
    for line, why in (("allowed_origins = https://x.example/path", "not a list of origins"),
                      ("allowed_hosts = evil.example:80", "not a list of host names"),
                      ("bind = 127.0.0.1; rm -rf /", "not an IP address or a host name")):
        conf = tmp_path / "sce.conf"
        conf.write_text(f"# comment\n{line}\n")
        r = subprocess.run([str(ROOT / "cgi-bin" / "run.fcgi"), "--check-config"],
                           env={"SCE_CONFIG": str(conf)}, capture_output=True, text=True)
        assert r.returncode == 1
        assert re.search(rf"sce.conf:2: \w+: {why}", r.stderr), r.stderr
