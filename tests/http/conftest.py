"""The whole stack for the HTTP suite: a web server + the FastCGI programs + dockerd + the real
images, started by scripts/serve.sh on a free loopback port with a config of its own, so the
suite can run beside `make run`.

SCE_SERVER chooses the web server (scripts/serve.sh): lighttpd (the standalone service, the
default), nginx (the standalone nginx config with the nginx drop-in, programs under spawn-fcgi),
lighttpd-drop-in (this host's stock lighttpd.conf with the drop-in, programs under spawn-fcgi)
or front (the standalone lighttpd as a host on 127.0.0.3 behind the multi-host front, HAProxy,
on the suite's port). make test runs the suite once for each."""
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from requests.structures import CaseInsensitiveDict  # header names: HAProxy sends them lower-case

ROOT = Path(__file__).resolve().parents[2]
DOCKER = "/usr/bin/docker"
LABEL = "org.safe-code-executor.instance"
CANARY = "sce-canary-" + secrets.token_hex(8)
SERVER = os.environ.get("SCE_SERVER", "lighttpd")
# In the drop-in, what is not the service's (GET /, unknown paths, header limits) is the host's.
STANDALONE = SERVER in ("lighttpd", "nginx", "front")
# Behind the front, the host listens on its own loopback address (same port) and believes the
# front's X-Forwarded-For, which comes from this one.
FRONT_SOURCE = "127.0.0.2"
HOST_BIND = "127.0.0.3"


def pytest_configure(config):
    config.addinivalue_line("markers", "by_server: can differ by web server; run behind each")


def containers_of(instance):
    """Names of all containers of an instance (the idle warm pool included)."""
    out = subprocess.run([DOCKER, "ps", "-a", "--filter", f"label={LABEL}={instance}",
                          "--format", "{{.Names}}"], check=True, capture_output=True, text=True)
    return out.stdout.split()


def remove_containers(instance):
    """What a test's own service left behind, removed (a test's clean-up, not a check)."""
    names = containers_of(instance)
    if names:
        subprocess.run([DOCKER, "rm", "-f", *names], capture_output=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, base, instance, workdir, history_path, log_path):
        self.base = base
        self.instance = instance
        self.workdir = workdir
        self.history_path = history_path
        self.log_path = log_path
        self.port = int(base.rsplit(":", 1)[1])

    def url(self, path):
        return self.base + path

    def run(self, language, code, timeout=60, stdin=None):
        """POST /run as JSON (with stdin when given); returns (status, parsed JSON)."""
        body = {"language": language, "code": code}
        if stdin is not None:
            body["stdin"] = stdin
        r = requests.post(self.url("/run"), json=body, timeout=timeout)
        return r.status_code, r.json()

    def run_from(self, source, language, code, timeout=120, headers=None):
        """POST /run from another loopback address (the per-client cap counts addresses);
        returns (status, headers, parsed JSON)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=(source, 0))
        try:
            conn.request("POST", "/run", json.dumps({"language": language, "code": code}),
                         {"Content-Type": "application/json", **(headers or {})})
            r = conn.getresponse()
            return r.status, CaseInsensitiveDict(r.getheaders()), json.loads(r.read())
        finally:
            conn.close()

    def post(self, body, content_type="application/json", **kw):
        headers = {"Content-Type": content_type} if content_type else {}
        headers.update(kw.pop("headers", {}))
        return requests.post(self.url("/run"), data=body, headers=headers, timeout=60, **kw)

    def history(self):
        r = requests.get(self.url("/history"), timeout=30)
        assert r.status_code == 200
        return r.json()

    def containers(self):
        """Names of all containers of this instance, the idle warm pool included."""
        return containers_of(self.instance)

    def idle_pool(self):
        """{name: id} of the idle warm containers, from the service's records."""
        idle = {}
        for path in (self.workdir / "state" / "pool").glob("*/sce-*"):
            try:
                idle[path.name] = path.read_text().split()[1]
            except (OSError, IndexError):
                pass
        return idle

    def idle_states(self):
        """Docker's state of each idle warm container (all "running" when the pool is sound)."""
        idle = self.idle_pool()
        if not idle:
            return []
        return subprocess.run([DOCKER, "inspect", "--format", "{{.State.Status}}", *idle],
                              capture_output=True, text=True).stdout.split()

    def used_containers(self):
        """Containers that are not idle in the warm pool: the ones that ran (or run) code."""
        idle = self.idle_pool()
        return [c for c in self.containers() if c not in idle]

    def docker_clients(self):
        """docker CLI processes working for this instance (exec, rm, run for the pool)."""
        out = subprocess.run(["pgrep", "-af", f"sce-{self.instance}-"], capture_output=True,
                             text=True).stdout
        return [line for line in out.splitlines() if "docker" in line]

    def stray_processes(self):
        """Processes of the sandbox user on the host that are in a container of this instance
        other than an idle warm one, or in no container at all. (Containers of other instances,
        such as a `make run` beside the tests, are theirs to mind.)"""
        idle_ids = set(self.idle_pool().values())
        ours = set(subprocess.run([DOCKER, "ps", "-q", "--no-trunc", "--filter",
                                   f"label={LABEL}={self.instance}"],
                                  capture_output=True, text=True).stdout.split())
        out = subprocess.run(["pgrep", "-u", "65534"], capture_output=True, text=True).stdout
        stray = []
        for pid in out.split():
            try:
                cgroup = open(f"/proc/{pid}/cgroup").read()
                cmd = open(f"/proc/{pid}/cmdline").read().replace("\0", " ")
            except OSError:
                continue
            in_docker = "/docker/" in cgroup or "docker-" in cgroup
            mine = [i for i in ours if i in cgroup]
            if not in_docker or (mine and mine[0] not in idle_ids):
                stray.append(pid + " " + cmd)
        return stray

    def settle(self, timeout=10):
        """Waits for the work done after an answer (removing the used container, refilling the
        pool) to end; then nothing of a finished run may remain."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline and quiet < 2:  # twice in a row: not between steps
            quiet = quiet + 1 if not self.used_containers() and not self.docker_clients() else 0
            time.sleep(0.3)

    def log(self):
        """What the web server and the programs logged (under spawn-fcgi, their own file)."""
        programs = self.workdir / "programs.log"
        extra = programs.read_text(errors="replace") if programs.exists() else ""
        return self.log_path.read_text(errors="replace") + extra


def raw_http(port, data, read_timeout=30):
    """Sends bytes on a fresh connection and returns (status, headers, body) of the answer, read
    up to its Content-Length or else to the end of the connection (a server may keep reading
    what the client still sends for a while after answering, as nginx's lingering close does)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(data)
        raw = b""
        while True:
            head, sep, body = raw.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head) if sep else None
            if length and len(body) >= int(length.group(1)):
                break
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            raw += b
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in
               (line.split(":", 1) for line in lines[1:] if ":" in line)}
    return status, headers, body


LANGUAGES = re.findall(r"(?m)^\[([^\]]+)\]", (ROOT / "conf" / "languages.conf").read_text())
# Idle containers of the suite's stack once its warm pools are full: the table's "warm"s.
WARM_TOTAL = sum(map(int, re.findall(r"(?m)^warm = (\d+)$", (ROOT / "conf" / "languages.conf").read_text())))


def languages_conf(workdir, warm=None, images=None, extra=""):
    """A copy of conf/languages.conf in workdir with every entry's warm pool set to warm (when
    not None), the images of {language: image} replaced, and extra (more entries) appended;
    returns the sce.conf line that names it."""
    text = (ROOT / "conf" / "languages.conf").read_text()
    if warm is not None:
        text = re.sub(r"(?m)^warm = \d+$", f"warm = {warm}", text)
    for name, image in (images or {}).items():
        text = re.sub(rf"(?ms)^(\[{re.escape(name)}\].*?^image = )\S+", rf"\g<1>{image}", text,
                      count=1)
    path = workdir / "languages.conf"
    path.write_text(text + extra)
    return f"languages = {path}\n"


def start_stack(workdir, overrides=""):
    """Starts scripts/serve.sh with conf/sce.conf plus overrides (the table: conf/languages.conf
    unless they name another, see languages_conf); returns (Stack, process)."""
    port = free_port()
    instance = "test" + secrets.token_hex(4)
    history_path = workdir / "history" / "history.json"
    config = workdir / "sce.conf"
    config.write_text((ROOT / "conf" / "sce.conf").read_text() +
                      f"\n# test overrides\nport = {port}\ninstance = {instance}\n"
                      f"history_path = {history_path}\nstate_dir = {workdir / 'state'}\n"
                      f"seccomp_profile = {ROOT / 'conf' / 'seccomp.json'}\n"
                      f"languages = {ROOT / 'conf' / 'languages.conf'}\n"
                      # runs queue rather than get 503 (test_load.py tests the 503)
                      "queue_wait_ms = 30000\n"
                      + (f"bind = {HOST_BIND}\nfront_addresses = {FRONT_SOURCE}\n"
                         if SERVER == "front" else "")
                      + overrides)
    log_path = workdir / "serve.log"
    env = dict(os.environ, SCE_CONFIG=str(config), SCE_TEST_CANARY=CANARY, SCE_SERVER=SERVER,
               SCE_LOG=str(workdir / "programs.log"), SCE_FRONT_BIND="127.0.0.1",
               SCE_FRONT_PORT=str(port), SCE_FRONT_SOURCE=FRONT_SOURCE)
    with open(log_path, "a") as log:
        proc = subprocess.Popen([str(ROOT / "scripts" / "serve.sh")], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the stack did not start:\n" + log_path.read_text())
        time.sleep(0.2)
    return Stack(base, instance, workdir, history_path, log_path), proc


def stop_stack(s, proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("serve.sh did not stop on SIGTERM")
    leftover = s.containers()
    assert leftover == [], f"containers left after the stack stopped: {leftover}"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    s, proc = start_stack(tmp_path_factory.mktemp("stack"))
    yield s
    stop_stack(s, proc)


@pytest.fixture
def clean(stack):
    """After the test: no used container, no docker client of ours, no temp file beside history."""
    yield stack
    stack.settle()
    assert stack.used_containers() == [], "a container outlived its request"
    assert stack.docker_clients() == [], "a docker client outlived its request"
    state = stack.history_path.parent
    if state.exists():
        temps = [p.name for p in state.iterdir() if ".tmp" in p.name]
        assert temps == [], f"temp files left: {temps}"


def assert_json_error(r, status, message=None):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"]
    if message is not None:
        assert body["error"] == message
    return body["error"]


def history_snapshot(stack):
    return json.dumps(stack.history(), sort_keys=True)
