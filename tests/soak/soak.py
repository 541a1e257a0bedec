#!/usr/bin/python3
"""Soak of the whole stack under faults (issue 10, part 7): nothing lost, nothing left.

Starts its own stack (scripts/serve.sh, a config of its own on a free loopback port, the history
directory on a small tmpfs it mounts), drives it from 8 concurrent clients with a mixed load for
a bounded time (ordinary programs, errors, timeouts, memory bombs, output floods, fork bombs,
malformed requests, clients that leave mid-run), and meanwhile injects faults on a schedule:
kill -9 of a run.fcgi worker in the middle of a run, a dockerd restart, the history file system
full, a stuck holder of the history lock and of the metrics lock. Then, once the pool has
settled, it checks:

  - every answer is JSON with a status documented for POST /run (docs/openapi.json); runs cut by
    an injected fault (a 5xx or a broken connection while a worker was killed or dockerd
    restarted) are counted apart, every other answer must be right (an ordinary program's output
    comes back exactly);
  - no container but the idle warm pool, no process of uid 65534 outside it, no docker client,
    no temp file and no stale record is left; after the stack stops, no container at all;
  - history.json is valid JSON and holds the newest successful runs;
  - /metrics counts what the clients saw, with exactly the slack the faults allow;
  - a stuck lock holder delays the service by a bounded time, not until it lets go.

It prints the figures and exits 0 when every check passed, 1 naming each failed check, 2 when it
could not run at all. Needs root (mount, kill, dockerd), a running dockerd, the images and the
programs built (make all). Python stdlib only; run with /usr/bin/python3.

    tests/soak/soak.py                       # 900 s, 8 clients, behind lighttpd
    tests/soak/soak.py --seconds 60 --min-runs 30 --no-dockerd-restart
"""
import argparse
import collections
import errno
import fcntl
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKER = "/usr/bin/docker"
LABEL = "org.safe-code-executor.instance"
DOCKERD_LOG = "/var/log/sce-dockerd.log"
RUN_TIMEOUT = 75  # seconds a client waits for any answer (the run's 10 s + start + queueing)
PROBE_SOURCE = "127.0.2.1"  # the fault probes' own address (the per-client cap counts addresses)
TRICKLE_SOURCE = "127.0.2.2"
CALIBRATE_SOURCE = "127.0.2.3"
CUT_STATUSES = (500, 502, 503, 504)  # what a web server answers when its backend went away


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


# --- the stack --------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def conf_value(text, key, default):
    """The last value of key in a config text (as scripts/lib.sh conf_value reads it)."""
    value = default
    for line in text.splitlines():
        m = re.match(rf"\s*{key}\s*=\s*([^#]*[^#\s])", line)
        if m:
            value = m.group(1)
    return value


def proc_table():
    """{pid: (ppid, state, cmdline argv)} of every process now."""
    table = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            stat = open(f"/proc/{p}/stat").read()
            argv = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")[:-1]
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        table[int(p)] = (int(fields[1]), fields[0], [a.decode(errors="replace") for a in argv])
    return table


class Stack:
    """The web server and the programs of scripts/serve.sh, with the history on a tmpfs."""

    def __init__(self, workdir, server, tmpfs_size):
        self.workdir = workdir
        self.server = server
        self.tmpfs_size = tmpfs_size
        self.history_dir = workdir / "history"
        self.history_path = self.history_dir / "history.json"
        self.state_dir = workdir / "state"
        self.config = workdir / "sce.conf"
        self.serve_log = workdir / "serve.log"
        self.programs_log = workdir / "programs.log"
        self.instance = "soak" + os.urandom(4).hex()
        self.port = free_port()
        self.proc = None
        self.mounted = False

    def start(self):
        self.history_dir.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.tmpfs_size},mode=0700",
                        "sce-soak-history", str(self.history_dir)], check=True)
        self.mounted = True
        base = (ROOT / "conf" / "sce.conf").read_text()
        self.config.write_text(base + "\n# soak overrides\n"
                               f"port = {self.port}\ninstance = {self.instance}\n"
                               f"history_path = {self.history_path}\n"
                               f"state_dir = {self.state_dir}\n"
                               f"seccomp_profile = {ROOT / 'conf' / 'seccomp.json'}\n"
                               f"languages = {ROOT / 'conf' / 'languages.conf'}\n")
        text = self.config.read_text()
        self.timeout_s = int(conf_value(text, "timeout_s", "10"))
        self.memory_mb = int(conf_value(text, "memory_mb", "128"))
        self.output_limit = int(conf_value(text, "output_limit", "65536"))
        self.history_size = int(conf_value(text, "history_size", "10"))
        self.workers = int(conf_value(text, "workers", "16"))
        # each language's warm pool, from the table
        table = (ROOT / "conf" / "languages.conf").read_text()
        self.warm = {name: int(warm) for name, warm in re.findall(
            r"(?ms)^\[([^\]]+)\][^\[]*?^warm = (\d+)$", table)}
        env = dict(os.environ, SCE_CONFIG=str(self.config), SCE_SERVER=self.server,
                   SCE_LOG=str(self.programs_log))
        with open(self.serve_log, "a") as out:
            self.proc = subprocess.Popen([str(ROOT / "scripts" / "serve.sh")], env=env,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("serve.sh exited:\n" + self.serve_log.read_text())
            if time.monotonic() > deadline:
                raise RuntimeError("the stack did not become ready in 90 s:\n" +
                                   self.serve_log.read_text()[-3000:])
            try:
                status, _, body = http_call(self.port, "GET", "/readyz", timeout=5)
                if status == 200 and json.loads(body).get("ready") is True:
                    return
            except (OSError, http.client.HTTPException, ValueError):
                pass
            time.sleep(0.5)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM to serve.sh (it stops the server and the programs and runs --cleanup); True
        when it ended by itself within 90 s."""
        if self.proc is None or self.proc.poll() is not None:
            return True
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=90)
            return True
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            return False

    def unmount(self):
        if not self.mounted:
            return True
        for _ in range(20):
            if subprocess.run(["umount", str(self.history_dir)], capture_output=True).returncode == 0:
                self.mounted = False
                return True
            time.sleep(0.5)
        subprocess.run(["umount", "-l", str(self.history_dir)], capture_output=True)
        self.mounted = False
        return False

    # What the stack has now: processes, containers, records, files.

    def workers_now(self, table=None):
        """Live run.fcgi processes of this stack (found by its config in their environment)."""
        table = table or proc_table()
        mine = ("SCE_CONFIG=" + str(self.config)).encode()
        pids = []
        for pid, (_, state, argv) in table.items():
            if state == "Z":
                continue
            try:
                if not os.readlink(f"/proc/{pid}/exe").endswith("/run.fcgi"):
                    continue
                env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            except OSError:
                continue
            if mine in env:
                pids.append(pid)
        return pids

    def containers(self):
        out = subprocess.run([DOCKER, "ps", "-a", "--filter", f"label={LABEL}={self.instance}",
                              "--format", "{{.Names}} {{.State}}"],
                             capture_output=True, text=True, timeout=60)
        if out.returncode:
            raise RuntimeError("docker ps failed: " + out.stderr.strip())
        return dict(line.split(None, 1) for line in out.stdout.splitlines() if line.strip())

    def idle_pool(self):
        """{name: id} of the idle warm containers, from the service's records."""
        idle = {}
        for path in (self.state_dir / "pool").glob("*/sce-*"):
            try:
                idle[path.name] = path.read_text().split()[1]
            except (OSError, IndexError):
                idle[path.name] = "?"
        return idle

    def docker_clients(self):
        out = subprocess.run(["pgrep", "-af", f"sce-{self.instance}-"], capture_output=True,
                             text=True).stdout
        return [line for line in out.splitlines() if "docker" in line]

    def stray_processes(self):
        """Processes of uid 65534 in a container of this instance other than an idle warm one,
        or in no container at all (as tests/http/conftest.py counts them)."""
        idle_ids = set(self.idle_pool().values())
        ours = set(subprocess.run([DOCKER, "ps", "-q", "--no-trunc", "--filter",
                                   f"label={LABEL}={self.instance}"],
                                  capture_output=True, text=True, timeout=60).stdout.split())
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
                stray.append(pid + " " + cmd.strip())
        return stray

    def leftovers(self):
        """Everything that must be gone once the pool has settled, by kind (empty lists)."""
        containers = self.containers()
        idle = self.idle_pool()
        left = collections.OrderedDict()
        left["containers not in the idle pool"] = sorted(c for c in containers if c not in idle)
        left["idle containers not running"] = sorted(
            f"{c} ({containers.get(c, 'missing')})" for c in idle if containers.get(c) != "running")
        left["idle pool not full"] = [
            f"{lang}: {n} of {self.warm[lang]}" for lang, n in
            ((lang, len(list((self.state_dir / "pool" / lang).glob("sce-*"))))
             for lang in self.warm) if n != self.warm[lang]]
        left["processes of uid 65534"] = self.stray_processes()
        left["docker clients"] = self.docker_clients()
        left["records of used containers (owned/, done/)"] = sorted(
            f"{p.name} ({describe_record(p, containers)})"
            for sub in ("owned", "done") for p in (self.state_dir / sub).glob("*"))
        left["temp files"] = self.temp_files()
        return left

    def temp_files(self):
        """Temp files and set-aside files: in the history directory anything but the history and
        its lock; in the state directory any temp file (state/tmp/ is for record temp files)."""
        found = []
        if self.history_dir.exists():
            found += [f"history/{p.name}" for p in self.history_dir.iterdir()
                      if p.name not in ("history.json", "history.json.lock")]
        for p in self.state_dir.rglob("*"):
            rel = p.relative_to(self.state_dir)
            if (rel.parts[0] == "tmp" and p.is_file()) or ".tmp" in p.name:
                found.append(f"state/{rel}")
        return sorted(found)


def describe_record(path, containers):
    """What a record says: its owner (alive or not) and its container's state."""
    try:
        owner = path.read_text().split()[0]
    except (OSError, IndexError):
        return "unreadable"
    alive = "alive" if owner.isdigit() and os.path.exists(f"/proc/{owner}") else "gone"
    return f"owner {owner} {alive}, container {containers.get(path.name, 'gone')}"


# --- HTTP -------------------------------------------------------------------------------------

def http_call(port, method, path, body=None, headers=None, source="127.0.0.1",
              timeout=RUN_TIMEOUT):
    """One request on a fresh connection from a loopback source address: (status, headers,
    body bytes). Raises OSError / HTTPException."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def raw_call(port, data, source="127.0.0.1", timeout=30):
    """Sends bytes as they are and reads the answer up to its Content-Length or the end of the
    connection: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(source, 0)) as s:
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
    if not lines[0].startswith("HTTP/"):
        raise http.client.BadStatusLine(lines[0][:80])
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in
               (line.split(":", 1) for line in lines[1:] if ":" in line)}
    return status, headers, body


def metrics_now(port):
    """The samples of GET /metrics: {"name{labels}": value}."""
    status, _, body = http_call(port, "GET", "/metrics", timeout=30)
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    samples = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


# --- what the clients send --------------------------------------------------------------------

class Expect:
    """What the answer to a program must be: the run's status, exit code, output, error."""

    def __init__(self, status, exit_code, output, error=None, error_end=None, truncated=False,
                 or_timeout=None):
        self.status, self.exit_code, self.output = status, exit_code, output
        self.error, self.error_end, self.truncated = error, error_end, truncated
        # A memory bomb starved of CPU (2 cores under the soak's load) may not fill the memory
        # before the deadline: then a timeout with its message is right too.
        self.or_timeout = or_timeout

    def problem(self, body):
        got = (body["status"], body["exit_code"])
        if self.or_timeout and got == ("timeout", -2):
            if body["output"] != self.output or not body["error"].endswith(self.or_timeout):
                return f"a timeout with output {body['output'][:80]!r}, error {body['error'][-200:]!r}"
            return None
        if got != (self.status, self.exit_code):
            return (f"status/exit {got}, wanted {(self.status, self.exit_code)} (error "
                    f"{body['error'][-120:]!r}, {body['duration_ms']} ms, output "
                    f"{len(body['output'])} characters)")
        if body["output"] != self.output:
            return f"output {body['output'][:80]!r}..., wanted {self.output[:80]!r}..."
        if self.error is not None and body["error"] != self.error:
            return f"error {body['error'][-200:]!r}, wanted {self.error!r}"
        if self.error_end is not None and not body["error"].endswith(self.error_end):
            return f"error {body['error'][-200:]!r}, wanted it to end with {self.error_end!r}"
        if body["truncated"] is not self.truncated:
            return f"truncated {body['truncated']}, wanted {self.truncated}"
        return None


def program_kinds(timeout_s, memory_mb, limit):
    """(name, language, weight, code(token), Expect(token), form post) for every kind of
    program the clients run. A token makes each request's code unique."""
    timed_out = f"Execution timed out after {timeout_s} seconds."
    memory = f"Memory limit exceeded ({memory_mb} MB)."
    return [
        ("py_ok", "python", 22, lambda t: f'print("{t}", sum(range(1000)))',
         lambda t: Expect("ok", 0, f"{t} 499500\n", error=""), False),
        ("js_ok", "javascript", 14, lambda t: f'console.log("{t}", [1, 2, 3].reduce((a, b) => a + b))',
         lambda t: Expect("ok", 0, f"{t} 6\n", error=""), False),
        ("py_form", "python", 4, lambda t: f'x = "{t}"\r\nprint(x)',
         lambda t: Expect("ok", 0, f"{t}\n", error=""), True),
        ("py_error", "python", 6,
         lambda t: f'import sys\nprint("{t}")\nsys.stderr.write("bad {t}\\n")\nsys.exit(3)',
         lambda t: Expect("error", 3, f"{t}\n", error=f"bad {t}\n"), False),
        ("js_error", "javascript", 4,
         lambda t: f'console.log("{t}");\nconsole.error("bad {t}");\nprocess.exit(4);',
         lambda t: Expect("error", 4, f"{t}\n", error=f"bad {t}\n"), False),
        ("py_timeout", "python", 1.5, lambda t: f'print("{t}", flush=True)\nwhile True: pass',
         lambda t: Expect("timeout", -2, f"{t}\n", error=timed_out), False),
        ("js_timeout", "javascript", 1, lambda t: f'console.log("{t}");\nfor (;;) {{}}',
         lambda t: Expect("timeout", -2, f"{t}\n", error=timed_out), False),
        ("py_memory", "python", 3, lambda t: f'print("{t}", flush=True)\nb = b"x" * (1 << 30)',
         lambda t: Expect("memory_limit", 137, f"{t}\n", error=memory, or_timeout=timed_out), False),
        ("js_memory", "javascript", 2,
         lambda t: f'console.log("{t}");\nconst a = []; for (let i = 0; ; i++) a.push("x".repeat(1000) + i);',
         lambda t: Expect("memory_limit", 137, f"{t}\n", error_end=memory, or_timeout=timed_out),
         False),
        ("py_stdin", "python", 2,
         lambda t: f'import sys\nprint("{t}", len(sys.stdin.buffer.read()))',
         lambda t: Expect("ok", 0, f"{t} 60000\n", error=""), False),
        ("rb_ok", "ruby", 2, lambda t: f'puts "{t}", [1, 2, 3].sum',
         lambda t: Expect("ok", 0, f"{t}\n6\n", error=""), False),
        ("c_ok", "c", 2, lambda t: f'#include <stdio.h>\nint main(void) {{ puts("{t}"); return 0; }}',
         lambda t: Expect("ok", 0, f"{t}\n", error=""), False),
        ("c_compile_error", "c", 1, lambda t: f'int main(void) {{ return {t.replace("-", "_")}; }}',
         lambda t: Expect("compile_error", 1, "", error=""), False),
        ("py_flood", "python", 3, lambda t: f'import sys\nsys.stdout.write("{t}" + "x" * 200000)',
         lambda t: Expect("ok", 0, (t + "x" * 200000)[:limit], error="", truncated=True), False),
        ("js_flood", "javascript", 2, lambda t: f'process.stdout.write("{t}" + "y".repeat(200000));',
         lambda t: Expect("ok", 0, (t + "y" * 200000)[:limit], error="", truncated=True), False),
        ("py_endless_flood", "python", 0.7,
         lambda t: f'import sys\nsys.stdout.write("{t}")\nwhile True: sys.stdout.write("z" * 10000)',
         lambda t: Expect("timeout", -2, (t + "z" * limit)[:limit], error=timed_out,
                          truncated=True), False),
        ("py_fork_bomb", "python", 0.8,
         lambda t: f'import os\nprint("{t}", flush=True)\nwhile True:\n    try:\n        os.fork()\n'
                   f'    except OSError:\n        pass',
         lambda t: Expect("timeout", -2, f"{t}\n", error_end=timed_out), False),
        ("js_fork_bomb", "javascript", 0.5,
         lambda t: f'console.log("{t}");\nconst cp = require("child_process");\n'
                   f'for (;;) {{ try {{ cp.spawnSync("/bin/sh", ["-c", "sleep 100 &"]); }} catch (e) {{}} }}',
         lambda t: Expect("timeout", -2, f"{t}\n", error_end=timed_out), False),
    ]


# The input of the kinds that read one: 60000 bytes of UTF-8, two a character.
STDIN = {"py_stdin": "é" * 30000}


def json_body(obj):
    return json.dumps(obj).encode()


def malformed_kinds(max_body, standalone):
    """(name, request(port, source) -> (status, headers, body), wanted status, wanted message or
    None): requests the service must refuse without running anything. Behind the lighttpd
    drop-in, paths other than the API's are the host's (its own HTML 404): not sent there."""
    def post(body, ctype="application/json"):
        return lambda port, src: http_call(port, "POST", "/run", body,
                                           {"Content-Type": ctype} if ctype else {}, src, 30)

    def raw(data):
        return lambda port, src: raw_call(port, data(port), src)

    big = json_body({"language": "python", "code": "#" + "x" * (max_body + 4000)})
    return [
        ("bad_json", post(b'{"language": "python", "code": "print(1)"'), 400, "invalid JSON"),
        ("not_object", post(b'["python", "print(1)"]'), 400, None),
        ("missing_code", post(json_body({"language": "python"})), 400, 'missing field "code"'),
        ("unknown_field", post(json_body({"language": "python", "code": "print(1)", "x": 1})),
         400, 'unknown field "x"'),
        ("bad_language", post(json_body({"language": "perl", "code": "print 1"})), 400, None),
        ("input_too_long", post(json_body({"language": "python", "code": "print(1)",
                                           "stdin": "\0" * 65537})), 400,
         "Input too long. Maximum allowed size is 65536 bytes."),
        ("empty_code", post(json_body({"language": "python", "code": ""})), 400, None),
        ("code_too_long", post(json_body({"language": "python", "code": "a" * 5001})), 400,
         "Code too long. Maximum allowed length is 5000 characters."),
        ("nul_in_code", post(json_body({"language": "python", "code": "print(1)\0"})), 400, None),
        ("bad_utf8", post(b'{"language": "python", "code": "print(\xff)"}'), 400, None),
        ("wrong_type", post(b"language=python", "text/plain"), 415, None),
        ("bad_form", post(b"language=python&code=%zz", "application/x-www-form-urlencoded"),
         400, None),
        ("get_run", lambda port, src: http_call(port, "GET", "/run", None, {}, src, 30), 405, None),
    ] + ([
        ("wrong_path", lambda port, src: http_call(port, "POST", "/runner", b"{}",
                                                   {"Content-Type": "application/json"}, src, 30),
         404, None),
    ] if standalone else []) + [
        ("body_over_max_body", post(big), 413, None),
        ("length_over_server_cap", raw(lambda port: (
            f"POST /run HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: 2000000\r\nConnection: close\r\n\r\n").encode()), 413, None),
        ("no_length", raw(lambda port: (
            f"POST /run HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\n\r\n").encode()), 411, None),
    ]


class Record:
    """One request and what came back."""
    __slots__ = ("kind", "lang", "source", "code", "token", "t0", "t1", "status", "headers",
                 "body", "json", "exc", "outcome", "problem", "detail", "group")

    def __init__(self, kind, lang, source, code=None, token=None, group="load"):
        self.kind, self.lang, self.source, self.code, self.token = kind, lang, source, code, token
        self.group = group
        self.t0 = time.monotonic()
        self.t1 = None
        self.status = self.headers = self.body = self.json = self.exc = None
        self.outcome = self.problem = self.detail = None


class Load:
    """The clients: what they send, and a record of everything that came back."""

    def __init__(self, stack, seed):
        self.stack = stack
        self.programs = program_kinds(stack.timeout_s, stack.memory_mb, stack.output_limit)
        self.by_name = {k[0]: k for k in self.programs}
        self.malformed = malformed_kinds(
            int(conf_value(stack.config.read_text(), "max_body", "457312")),
            stack.server in ("lighttpd", "nginx"))
        self.records = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.seed = seed
        self.counter = 0

    def add(self, rec):
        with self.lock:
            self.records.append(rec)

    def token(self, rng):
        with self.lock:
            self.counter += 1
            return f"tok{self.counter}x{rng.getrandbits(48):012x}"

    def run(self, name, source, rng, group="load", timeout=RUN_TIMEOUT):
        """Runs one program of the named kind; returns its Record."""
        _, lang, _, code_of, _, form = self.by_name[name]
        tok = self.token(rng)
        code = code_of(tok)
        rec = Record(name, lang, source, code, tok, group)
        if form:
            body = urllib.parse.urlencode({"language": lang, "code": code}).encode()
            ctype = "application/x-www-form-urlencoded"
            # what the service runs: a form post's CRLF line breaks become LF
            rec.code = code.replace("\r\n", "\n")
        else:
            request = {"language": lang, "code": code}
            if name in STDIN:
                request["stdin"] = STDIN[name]
            body = json_body(request)
            ctype = "application/json"
        try:
            rec.status, rec.headers, rec.body = http_call(
                self.stack.port, "POST", "/run", body, {"Content-Type": ctype}, source, timeout)
        except (OSError, http.client.HTTPException) as e:
            rec.exc = f"{type(e).__name__}: {e}"
        rec.t1 = time.monotonic()
        self.add(rec)
        return rec

    def send_malformed(self, index, source, group="load"):
        name, request, _, _ = self.malformed[index]
        rec = Record(name, None, source, group=group)
        try:
            rec.status, rec.headers, rec.body = request(self.stack.port, source)
        except (OSError, http.client.HTTPException, ValueError, IndexError) as e:
            rec.exc = f"{type(e).__name__}: {e}"
        rec.t1 = time.monotonic()
        self.add(rec)
        return rec

    def leave(self, source, rng):
        """Sends a run of a few seconds and goes away before its answer."""
        tok = self.token(rng)
        code = f'import time\ntime.sleep(4)\nprint("{tok}")'
        rec = Record("leave_mid_run", "python", source, code, tok)
        body = json_body({"language": "python", "code": code})
        try:
            with socket.create_connection(("127.0.0.1", self.stack.port), timeout=10,
                                          source_address=(source, 0)) as s:
                s.sendall((f"POST /run HTTP/1.1\r\nHost: 127.0.0.1:{self.stack.port}\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                           f"Connection: close\r\n\r\n").encode() + body)
                s.settimeout(rng.uniform(0.3, 2.5))
                try:
                    if s.recv(1):  # an answer before we left (a refusal): read it as one
                        rec.detail = "answered before leaving"
                except socket.timeout:
                    pass
        except OSError as e:
            rec.detail = f"{type(e).__name__}: {e}"
        rec.t1 = time.monotonic()
        self.add(rec)
        return rec

    def client(self, index, source, deadline):
        rng = random.Random(self.seed * 1000 + index)
        names = [k[0] for k in self.programs] + ["malformed", "leave"]
        weights = [k[2] for k in self.programs] + [14, 3]
        while not self.stop.is_set() and time.monotonic() < deadline:
            pick = rng.choices(names, weights)[0]
            if pick == "malformed":
                rec = self.send_malformed(rng.randrange(len(self.malformed)), source)
            elif pick == "leave":
                rec = self.leave(source, rng)
            else:
                rec = self.run(pick, source, rng)
            if rec.status in (429, 503) and rec.headers:
                try:  # a polite client honours Retry-After (bounded)
                    self.stop.wait(min(float(rec.headers.get("retry-after", "1")), 5))
                except ValueError:
                    self.stop.wait(1)
            elif rec.exc:
                self.stop.wait(0.5)


# --- faults -----------------------------------------------------------------------------------

class Fault:
    def __init__(self, name):
        self.name = name
        self.t0 = time.monotonic()
        self.t1 = None
        self.window_end = None  # until when a run may have been cut by it
        self.skipped = None
        self.detail = ""
        self.bounded = None  # lock faults: the service went on while the lock was held
        self.problem = None


class Faults:
    """Injects the faults one after another on a schedule; keeps what it did."""

    def __init__(self, stack, load, args):
        self.stack = stack
        self.load = load
        self.args = args
        self.done = []
        self.dockerd_how = None  # how dockerd was started, once we restarted it
        self.dockerd_proc = None  # the dockerd we started (our child: reaped when it ends)
        self.restarting = False  # our dockerd restart is under way
        self.dockerd_pids = dockerd_pids()
        self.external = None  # a dockerd restart that was not ours, under way
        self.seen_ok = time.monotonic()
        self.rng = random.Random(args.seed)
        s = args.seconds
        self.fill_s = min(max(s / 40, 5), 20)
        self.lock_min_s = 4
        self.lock_max_s = {"metrics_lock": min(max(s / 45, 8), 20),
                           # its probe is a run: under the soak's load it may wait several
                           # seconds for one of the run slots before it gets to the lock
                           "history_lock": min(max(s / 45, 15), 20)}
        self.gap_s = min(max(s / 60, 2), 15)

    def plan(self):
        # the history lock early: it needs the longest (its probe is a run, which may wait for
        # a run slot behind the load; so may the fill's), and the one-minute soak must fit all
        cycle = ["kill", "history_lock", "metrics_lock", "fill", "kill"]
        if self.args.dockerd_restart:
            cycle += ["dockerd"]
        return cycle + ["kill"]

    def loop(self, start_at, stop_at):
        wait_until(self.load.stop, start_at)
        needs = {"kill": 20, "fill": self.fill_s + 5, "dockerd": 90,
                 **{name: patience + 5 for name, patience in self.lock_max_s.items()}}
        i = 0
        cycle = self.plan()
        while not self.load.stop.is_set():
            name = cycle[i % len(cycle)]
            i += 1
            if time.monotonic() + needs[name] > stop_at:
                if all(time.monotonic() + needs[n] > stop_at for n in cycle):
                    break
                continue
            try:
                fault = getattr(self, name)()
            except Exception as e:  # a fault that could not be injected is a failed check
                fault = Fault(name)
                fault.problem = f"could not inject: {type(e).__name__}: {e}"
                log(f"fault {name}: {fault.problem}")
                traceback.print_exc()
            fault.t1 = fault.t1 or time.monotonic()
            fault.window_end = fault.window_end or fault.t1
            self.done.append(fault)
            log(f"fault {name}: {fault.skipped or fault.detail}")
            wait_until(self.load.stop, time.monotonic() + self.gap_s)

    # kill -9 of a run.fcgi worker while it runs a program

    def kill(self):
        fault = Fault("kill")
        floor = self.args.clients + 2  # spawn-fcgi: enough workers left for every client
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not self.load.stop.is_set():
            table = proc_table()
            workers = self.stack.workers_now(table)
            if self.stack.server != "lighttpd" and len(workers) <= floor:
                fault.skipped = (f"skipped: {len(workers)} workers left, and spawn-fcgi does not "
                                 f"replace a killed one")
                return fault
            busy = [(ppid, [a for a in argv if a.startswith("sce-")])
                    for ppid, _, argv in table.values()
                    if ppid in workers and len(argv) > 2 and argv[0].endswith("docker") and
                    argv[1] == "exec"]
            if busy:
                worker, names = self.rng.choice(busy)
                fault.t0 = time.monotonic()
                try:
                    os.kill(worker, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                fault.window_end = fault.t0 + 3
                fault.detail = f"killed run.fcgi {worker} running {' '.join(names)}"
                time.sleep(2)
                after = len(self.stack.workers_now())
                fault.detail += f"; workers before {len(workers)}, 2 s after {after}"
                return fault
            time.sleep(0.1)
        fault.skipped = "skipped: no worker was running a program for 15 s"
        return fault

    # dockerd stopped (SIGTERM) and started again with the same command line

    def dockerd(self):
        fault = Fault("dockerd")
        pids = dockerd_pids()
        if len(pids) != 1:
            fault.skipped = f"skipped: {len(pids)} dockerd processes"
            return fault
        pid = int(pids[0])
        self.restarting = True
        # started again as it was: the same program, arguments, environment and directory
        how = (os.readlink(f"/proc/{pid}/exe"),
               open(f"/proc/{pid}/cmdline").read().split("\0")[:-1],
               dict(line.split("=", 1) for line in
                    open(f"/proc/{pid}/environ").read().split("\0") if "=" in line),
               os.readlink(f"/proc/{pid}/cwd"))
        self.dockerd_how = how
        fault.t0 = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        if not wait_gone(pid, 90, self.dockerd_proc):
            fault.problem = "dockerd did not stop within 90 s of SIGTERM: killed"
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 30, self.dockerd_proc)
        stopped = time.monotonic()
        time.sleep(2)  # runs meanwhile meet no engine
        self.dockerd_proc = start_dockerd(how)
        back = wait_docker(90)
        self.dockerd_pids = dockerd_pids()
        self.restarting = False
        if back is None:
            fault.problem = "dockerd did not answer within 90 s of its start"
            back = time.monotonic()
        fault.t1 = back
        fault.window_end = back + 10
        fault.detail = (f"stopped in {stopped - fault.t0:.1f} s, answering again "
                        f"{back - fault.t0:.1f} s after SIGTERM")
        return fault

    def watch_dockerd(self):
        """Called every second: a dockerd restarted by someone else (another test run on this
        machine) is a fault too; its runs count as cut, and the report says so."""
        if self.restarting:
            return
        now = time.monotonic()
        pids = dockerd_pids()
        if pids == self.dockerd_pids:
            self.seen_ok = now
            return
        if self.external is None:
            if self.restarting:  # ours began meanwhile
                return
            self.external = Fault("dockerd_external")
            self.external.t0 = self.seen_ok
            self.external.window_end = float("inf")
            self.external.detail = f"dockerd {self.dockerd_pids} became {pids}: not ours"
            self.done.append(self.external)
            log(f"WARNING: {self.external.detail}")
        if len(pids) == 1 and subprocess.run([DOCKER, "info"], capture_output=True,
                                             timeout=30).returncode == 0:
            self.external.t1 = time.monotonic()
            self.external.window_end = self.external.t1 + 10
            self.dockerd_pids = pids
            self.external = None

    # the history file system full

    def fill(self):
        fault = Fault("fill")
        filler = self.stack.history_dir / "soak-filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        written = 0
        try:
            for chunk in (1 << 20, 4096, 1):
                try:
                    while True:
                        written += os.write(fd, b"\0" * chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
            fault.t0 = time.monotonic()
            free = os.statvfs(self.stack.history_dir).f_bavail
            # meanwhile a run must still be answered, right (classify checks its output)
            tries = []
            while time.monotonic() < fault.t0 + self.fill_s and not self.load.stop.is_set():
                rec = self.load.run("py_ok", PROBE_SOURCE, self.rng, group="probe")
                tries.append(str(rec.status or rec.exc))
                if rec.status == 200:
                    break
                time.sleep(0.5)
            fault.detail = (f"{written >> 10} KiB written, {free} blocks free; a run while full "
                            f"answered {' then '.join(tries)}")
            wait_until(self.load.stop, fault.t0 + self.fill_s)
        finally:
            os.close(fd)
            os.unlink(filler)
        fault.t1 = time.monotonic()
        return fault

    # a process holding a lock file and not letting go

    def history_lock(self):
        return self.hold(Path(str(self.stack.history_path) + ".lock"), "history_lock",
                         lambda: self.load.run("py_ok", PROBE_SOURCE, self.rng, group="probe"),
                         lambda rec: rec.status == 200)

    def metrics_lock(self):
        index = [m[0] for m in self.load.malformed].index("bad_json")
        return self.hold(self.stack.state_dir / "metrics.lock", "metrics_lock",
                         lambda: self.load.send_malformed(index, PROBE_SOURCE, group="probe"),
                         lambda rec: rec.status == 400)

    def hold(self, path, name, probe, conclusive):
        """Holds an flock on path from at least lock_min_s until a probe request is answered
        (or lock_max_s); the service must answer the probe while the lock is still held."""
        fault = Fault(name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        fault.skipped = f"skipped: {path.name} stayed busy for 10 s"
                        return fault
                    time.sleep(0.01)
            fault.t0 = time.monotonic()
            answered = threading.Event()
            probes = []

            def prober():
                while not answered.is_set() and time.monotonic() < fault.t0 + self.lock_max_s[name]:
                    rec = probe()
                    probes.append(rec)
                    if conclusive(rec):
                        answered.set()
                    else:
                        time.sleep(0.5)

            time.sleep(0.2)
            th = threading.Thread(target=prober, daemon=True)
            th.start()
            answered.wait(self.lock_max_s[name])
            wait_until(self.load.stop, fault.t0 + self.lock_min_s)
            held_until = time.monotonic()
        finally:
            os.close(fd)  # lets go
        fault.t1 = time.monotonic()
        th.join(RUN_TIMEOUT + 5)
        held = held_until - fault.t0
        good = [r for r in probes if r.t1 is not None and conclusive(r)]
        if good and good[0].t1 <= held_until:
            fault.bounded = True
            fault.detail = (f"held {held:.1f} s; the probe was answered {good[0].status} in "
                            f"{good[0].t1 - good[0].t0:.1f} s while it was held")
        elif good:
            fault.bounded = False
            fault.detail = (f"held {held:.1f} s; the probe (sent {good[0].t0 - fault.t0:.1f} s "
                            f"after the lock was taken) was answered {good[0].status} only "
                            f"{good[0].t1 - held_until:.1f} s after it was let go")
        else:
            fault.bounded = None
            fault.detail = (f"held {held:.1f} s; inconclusive, the probes got "
                            f"{[r.status or r.exc for r in probes]}")
        return fault


def process_state(pid):
    """The state letter of a process (Z for a zombie), or None when there is none."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def dockerd_pids():
    """The live dockerd processes (not zombies)."""
    pids = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout
    return [p for p in pids.split() if process_state(p) not in (None, "Z")]


def wait_gone(pid, seconds, child=None):
    """Waits for a process to end (a zombie has ended; a child of ours is reaped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child is not None and child.pid == pid:
            child.poll()
        if process_state(pid) in (None, "Z"):
            return True
        time.sleep(0.2)
    return False


def start_dockerd(how):
    """Starts dockerd as (executable, argv, environment, directory), in a session of its own;
    returns its Popen."""
    exe, argv, env, cwd = how
    with open(DOCKERD_LOG, "a") as out:
        return subprocess.Popen(argv, executable=exe, env=env,
                                cwd=cwd if os.path.isdir(cwd) else "/", stdout=out, stderr=out,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def wait_docker(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if subprocess.run([DOCKER, "info"], capture_output=True, timeout=30).returncode == 0:
            return time.monotonic()
        time.sleep(0.5)
    return None


def wait_until(event, when):
    """Sleeps until the monotonic time when, or until event is set."""
    delay = when - time.monotonic()
    if delay > 0:
        event.wait(delay)


# --- checks -----------------------------------------------------------------------------------

RUN_RESULT = {"output": str, "error": str, "exit_code": int, "status": str, "duration_ms": int,
              "truncated": bool, "memory_peak_bytes": (int, type(None)),
              "cpu_time_ms": (int, type(None)), "compile_output": str,
              "compile_ms": (int, type(None))}


def documented_run_statuses():
    spec = json.loads((ROOT / "docs" / "openapi.json").read_text())
    return {int(s) for s in spec["paths"]["/run"]["post"]["responses"]}, \
        set(spec["components"]["schemas"]["RunResult"]["properties"]["status"]["enum"])


def server_error_bodies():
    """{status: body} of the errors the web server answers itself (htdocs/errors)."""
    bodies = {}
    for p in (ROOT / "htdocs" / "errors").glob("status-*.html"):
        bodies[int(p.stem.split("-")[1])] = json.loads(p.read_text())
    return bodies


def overlaps(rec, windows):
    return any(rec.t0 <= end and rec.t1 >= start for start, end in windows)


class Checks:
    def __init__(self):
        self.results = []  # (ok, name, detail); ok None: a warning, not a failure

    def check(self, ok, name, detail=""):
        self.results.append((bool(ok), name, detail))
        return ok

    def warn(self, name, detail):
        self.results.append((None, name, detail))

    def failed(self):
        return [r for r in self.results if r[0] is False]


# What is wrong with a bad answer, for the checks: category -> the check's name.
BAD = {
    "no_answer": "every request outside a fault gets an answer",
    "not_json": "every answer is JSON with a documented status",
    "undocumented": "every answer is JSON with a documented status",
    "wrong_result": "the answers of ordinary runs are right",
    "wrong_result_dockerd": "runs while dockerd restarts are answered right or refused",
    "malformed": "malformed requests are refused with their status, nothing run",
    "refused_valid": "valid runs are not refused outside a fault (but 429 and busy 503)",
}


def classify(load, faults, statuses, run_enum, server_bodies, calibration):
    """Sets each record's outcome: run, refused (by the service), busy (429 or 503 server busy),
    server (the web server's own answer to a malformed request), cut (by an injected fault),
    left (the client went away), or bad (problem set to (category, text))."""
    kill_w = [(f.t0, f.window_end) for f in faults if f.name == "kill" and not f.skipped]
    docker_w = [(f.t0, f.window_end) for f in faults
                if f.name in ("dockerd", "dockerd_external") and not f.skipped]
    malformed = {m[0]: m for m in load.malformed}
    for rec in load.records:
        rec.outcome, rec.problem = classify_one(rec, overlaps(rec, kill_w),
                                                overlaps(rec, docker_w), load, malformed,
                                                statuses, run_enum, server_bodies, calibration)


def classify_one(rec, in_kill, in_docker, load, malformed, statuses, run_enum, server_bodies,
                 calibration):
    in_fault = in_kill or in_docker
    if rec.kind == "leave_mid_run":
        return "left", None
    if rec.exc:
        return ("cut", None) if in_fault else ("bad", ("no_answer", f"no answer: {rec.exc}"))
    ctype = rec.headers.get("content-type", "")
    try:
        rec.json = json.loads(rec.body)
    except ValueError:
        rec.json = None
    if rec.json is None or not ctype.startswith("application/json"):
        return "bad", ("not_json", f"{rec.status} not JSON ({ctype}): {rec.body[:200]!r}")
    body = rec.json
    if rec.status == 200:
        if rec.kind in malformed:
            return "bad", ("malformed", f"run: {str(body)[:200]}")
        wrong = [k for k, t in RUN_RESULT.items() if not isinstance(body.get(k), t) or
                 (t is int and isinstance(body.get(k), bool))]
        if wrong or set(body) != set(RUN_RESULT) or body.get("status") not in run_enum:
            return "bad", ("undocumented", f"200 but not a RunResult ({wrong}): {str(body)[:300]}")
        why = load.by_name[rec.kind][4](rec.token).problem(body)
        if why:
            return "bad", ("wrong_result_dockerd" if in_docker else "wrong_result", why)
        return "run", None
    if not (isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], str)
            and body["error"]):
        return "bad", ("undocumented", f"{rec.status} not an error object: {str(body)[:200]}")
    from_server = server_bodies.get(rec.status) == body
    msg = body["error"]
    cut = in_fault and from_server and rec.status in CUT_STATUSES
    if rec.kind in malformed:
        _, _, want, want_msg = malformed[rec.kind]
        if rec.status == want and (want_msg is None or msg == want_msg or from_server):
            return ("refused" if rec.kind in calibration else "server"), None
        if cut:
            return "cut", None
        return "bad", ("malformed", f"{rec.status} {msg!r}, wanted {want} {want_msg or ''}")
    if cut:
        return "cut", None
    if rec.status not in statuses:
        return "bad", ("undocumented", f"undocumented status {rec.status} {msg!r}")
    if from_server:
        return "bad", ("refused_valid", f"the web server answered {rec.status} {msg!r}")
    if rec.status == 429 or (rec.status == 503 and msg.startswith("server busy")):
        return "busy", None
    if rec.status == 503 and in_docker:
        return "refused", None  # the service's own 503: the engine was away
    return "bad", ("refused_valid", f"{rec.status} {msg!r} for a valid run")


def check_history(stack, load, checks, quiet_after):
    """history.json now (GET /history and the file): valid, every entry one of the runs sent,
    equal to the answer seen, newest first; and the newest successful runs in it."""
    status, _, body = http_call(stack.port, "GET", "/history", timeout=30)
    try:
        history = json.loads(body)
        from_file = json.loads(stack.history_path.read_text())
    except ValueError as e:
        checks.check(False, "history is valid JSON", f"{e}: {body[:200]!r}")
        return
    checks.check(status == 200 and isinstance(history, list) and history == from_file,
                 "GET /history answers 200 with history.json's list",
                 f"{status}, {len(history) if isinstance(history, list) else history!r}")
    if not isinstance(history, list):
        return
    by_code = {r.code: r for r in load.records if r.code}
    problems = []
    for i, e in enumerate(history):
        rec = by_code.get(e.get("code")) if isinstance(e, dict) else None
        if rec is None:
            problems.append(f"entry {i} is no run sent: {str(e)[:120]}")
            continue
        if rec.outcome == "run":
            diff = [k for k in RUN_RESULT if k != "truncated" and e.get(k) != rec.json[k]]
            if diff or e.get("language") != rec.lang or "truncated" in e:
                problems.append(f"entry {i} ({rec.kind}) differs from its answer in {diff}")
        elif rec.outcome in ("refused", "busy"):
            problems.append(f"entry {i} ({rec.kind}) was refused {rec.status} yet recorded")
    times = [e.get("time", "") for e in history if isinstance(e, dict)]
    if times != sorted(times, reverse=True):
        problems.append(f"not newest first: {times}")
    checks.check(not problems, "history entries are runs sent, as answered, newest first",
                 "; ".join(problems[:5]))
    # The newest successful runs: an answered run can be pushed out only by runs appended
    # after it, each one answered later, or one whose client had gone.
    keep = stack.history_size
    runs = sorted((r for r in load.records if r.outcome == "run" and r.t1 > quiet_after),
                  key=lambda r: r.t1, reverse=True)
    unseen = [r for r in load.records if r.outcome in ("left", "cut") and r.code]
    in_history = {e.get("code") for e in history if isinstance(e, dict)}
    missing = []
    for n, r in enumerate(runs):
        could_push = n + sum(1 for u in unseen if u.t1 + 2 * stack.timeout_s + 30 > r.t1)
        if could_push >= keep:
            break
        if r.code not in in_history:
            missing.append(f"{r.kind} {r.token} answered {r.t1 - r.t0:.1f} s")
    checks.check(not missing, "history holds the newest successful runs", "; ".join(missing[:5]))
    return history


def metrics_checks(before, after, load, faults, checks, calibration, stack):
    """The sce_* counters against what the clients saw; returns rows for the table."""
    delta = {k: v - before.get(k, 0) for k, v in after.items()}
    metrics_w = [(f.t0, f.t1 + 1) for f in faults if f.name == "metrics_lock" and not f.skipped]
    history_w = [(f.t0, f.t1 + 1) for f in faults if f.name in ("fill", "history_lock")
                 and not f.skipped]
    fill_w = [(f.t0, f.t1) for f in faults if f.name == "fill" and not f.skipped]
    recs = load.records
    # answers the service gave while the metrics lock was held may not be counted (a bounded
    # wait that gave up): that many of each counter, no more
    held = [r for r in recs if r.t1 and r.outcome in ("run", "refused", "busy") and
            any(s <= r.t1 <= e for s, e in metrics_w)]
    lock_slack = len(held)
    held_runs = collections.Counter((r.lang, r.json["status"]) for r in held if r.outcome == "run")
    held_rej = collections.Counter(calibration.get(r.kind, r.status) for r in held
                                   if r.outcome != "run")
    unknown = collections.Counter(r.lang for r in recs if r.outcome in ("cut", "left") and r.lang)
    unknown_all = sum(unknown.values())
    rows = []

    def compare(key, seen, up, down, why=""):
        got = delta.get(key)
        ok = got is not None and seen - down <= got <= seen + up
        rows.append((key, "missing" if got is None else int(got), seen, f"-{down}/+{up}", ok, why))
        checks.check(ok, f"metrics {key}", f"{got} against {seen} seen, allowed -{down}/+{up}")

    seen_runs = collections.Counter((r.lang, r.json["status"]) for r in recs if r.outcome == "run")
    keys = {tuple(re.findall(r'"([^"]*)"', k)) for k in delta if k.startswith("sce_runs_total{")}
    for lang, status in sorted(set(seen_runs) | keys):
        compare(f'sce_runs_total{{language="{lang}",status="{status}"}}', seen_runs[(lang, status)],
                unknown[lang], held_runs[(lang, status)], why="cut or left runs may have run")
    seen_rej = collections.Counter()
    for r in recs:
        if r.outcome == "refused" and r.kind in calibration:
            seen_rej[calibration[r.kind]] += 1
        elif r.outcome in ("refused", "busy") and r.kind not in calibration:
            seen_rej[r.status] += 1
    rej_keys = {int(re.search(r'"(\d+)"', k).group(1)) for k in delta
                if k.startswith("sce_rejections_total{")}
    for status in sorted(set(seen_rej) | rej_keys):
        loose = status in (429, 499, 503)  # what a cut or gone client's run may have met
        compare(f'sce_rejections_total{{status="{status}"}}', seen_rej[status],
                unknown_all if loose else 0, held_rej[status],
                why="cut or left runs may be refused" if loose else "exact")
    runs_total = sum(v for k, v in delta.items() if k.startswith("sce_runs_total{"))
    count = delta.get("sce_run_duration_seconds_count")
    inf = delta.get('sce_run_duration_seconds_bucket{le="+Inf"}')
    checks.check(count == runs_total == inf, "metrics histogram counts every run once",
                 f"count {count}, +Inf {inf}, sce_runs_total {runs_total}")
    rows.append(("sce_run_duration_seconds_count", count, int(runs_total), "0", count == runs_total,
                 "= sum of sce_runs_total"))
    failures = delta.get("sce_history_write_failures_total")
    exposed = sum(1 for r in recs if r.outcome == "run" and
                  any(s <= r.t1 <= e for s, e in history_w))
    full_runs = sum(1 for r in recs if r.outcome == "run" and
                    any(s + 0.5 <= r.t1 - 0.5 and r.t1 <= e for s, e in fill_w))
    low = 1 if full_runs else 0
    ok = failures is not None and low <= failures <= exposed + unknown_all
    rows.append(("sce_history_write_failures_total", failures, exposed,
                 f">={low}, <={exposed + unknown_all}", ok,
                 "runs ended while history could not be written"))
    checks.check(ok, "metrics sce_history_write_failures_total",
                 f"{failures}: {full_runs} runs ended while the file system was full, {exposed} "
                 f"while full or locked, +{unknown_all} cut or left")
    inflight = after.get("sce_runs_in_flight")
    checks.check(inflight == 0, "metrics sce_runs_in_flight is 0 at the end", str(inflight))
    for lang, want in stack.warm.items():
        size = after.get(f'sce_warm_pool_size{{language="{lang}"}}')
        checks.check(size == want, f"metrics sce_warm_pool_size {lang} is {want} at the end",
                     str(size))
    return rows, lock_slack


# --- the run ----------------------------------------------------------------------------------

def settle(stack, load, checks, passive_s, trickle_s):
    """Waits for the pool to settle: nothing left but the full idle pool, twice in a row.
    First without any request, then with one ordinary run every 3 s (a sweep follows a run).
    Returns (passive leftovers or None, seconds, the leftovers at the end)."""
    rng = random.Random(7)
    start = time.monotonic()
    passive = None
    clean = 0
    last = None
    next_run = None
    while True:
        now = time.monotonic()
        try:
            last = stack.leftovers()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            last = {"cannot look": [str(e)]}
        clean = clean + 1 if not any(last.values()) else 0
        if clean >= 2:
            return passive, now - start, last
        if now - start > passive_s and passive is None:
            passive = {k: v for k, v in last.items() if v}
            next_run = now
        if now - start > passive_s + trickle_s:
            return passive, now - start, last
        if next_run is not None and now >= next_run:
            load.run("py_ok", TRICKLE_SOURCE, rng, group="settle")
            next_run = time.monotonic() + 3
        time.sleep(1)


def calibrate(load, stack):
    """Which malformed requests the service counts in sce_rejections_total (the web server
    answers some itself): {kind: status counted}."""
    counted = {}
    for i, (name, _, want, _) in enumerate(load.malformed):
        before = metrics_now(stack.port)
        rec = load.send_malformed(i, CALIBRATE_SOURCE, group="calibrate")
        after = metrics_now(stack.port)
        moved = [k for k in after if k.startswith("sce_rejections_total{") and
                 after[k] != before.get(k, 0)]
        if rec.status != want:
            raise RuntimeError(f"calibration: {name} answered {rec.status or rec.exc}, not {want}"
                               f": {rec.body!r}")
        if moved:
            counted[name] = int(re.search(r'"(\d+)"', moved[0]).group(1))
    load.records.clear()  # before the baseline of the metrics: not part of the soak
    return counted


def table(title, header, rows):
    print(f"\n{title}")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else \
        [len(h) for h in header]
    fmt = "  " + "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*header))
    for row in rows:
        print(fmt.format(*[str(x) for x in row]))


def report(load, faults, rows_metrics, lock_slack, left_final, passive, settle_s, checks, args,
           stack, elapsed, calibration):
    recs = [r for r in load.records if r.group != "calibrate"]
    outcomes = collections.Counter(r.outcome for r in recs)
    print("\n" + "=" * 100)
    print(f"SOAK: {args.server}, {args.clients} clients, {elapsed:.0f} s of load, seed {args.seed}, "
          f"instance {stack.instance}, history on a {args.tmpfs_size} tmpfs")
    runs = [r for r in recs if r.outcome == "run"]
    print(f"\nrequests sent {len(recs)}: runs answered (200) {len(runs)}, refused (JSON error) "
          f"{outcomes['refused'] + outcomes['server']}, busy (429 or 503 with Retry-After) "
          f"{outcomes['busy']}, cut by injected faults {outcomes['cut']}, clients that left "
          f"mid-run {outcomes['left']}, wrong or invalid {outcomes['bad']}")
    by_status = collections.Counter(r.json["status"] for r in runs)
    print("  runs answered by status: " + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
    refused = collections.Counter(r.status for r in recs if r.outcome in ("refused", "server"))
    print("  refused by HTTP status:  " + ", ".join(f"{k} {v}" for k, v in sorted(refused.items())))
    busy = collections.Counter(r.status for r in recs if r.outcome == "busy")
    print("  busy by HTTP status:     " + (", ".join(f"{k} {v}" for k, v in sorted(busy.items()))
                                           or "none"))
    cut = collections.Counter(str(r.status) if r.status else "no answer" for r in recs
                              if r.outcome == "cut")
    print("  cut by faults:           " + (", ".join(f"{k} {v}" for k, v in sorted(cut.items()))
                                           or "none"))
    print(f"  throughput: {len(runs) / max(elapsed, 1):.2f} runs/s answered")
    waits = sorted((r.t1 - r.t0, r) for r in recs if r.outcome == "run")
    if waits:
        pick = lambda q: waits[min(len(waits) - 1, int(q * len(waits)))][0]  # noqa: E731
        slow = ", ".join(f"{r.kind} {w:.1f} s at {r.t0 - load.t_start:.0f} s"
                         for w, r in waits[-3:][::-1])
        print(f"  time to answer a run: p50 {pick(0.5):.1f} s, p95 {pick(0.95):.1f} s; "
              f"slowest: {slow}")
    kinds = [k[0] for k in load.programs] + ["leave_mid_run"] + [m[0] for m in load.malformed]
    rows = []
    for kind in kinds:
        rs = [r for r in recs if r.kind == kind]
        if not rs:
            continue
        st = collections.Counter(r.json["status"] for r in rs if r.outcome == "run")
        c = collections.Counter(r.outcome for r in rs)
        refusals = collections.Counter(r.status for r in rs if r.outcome in ("refused", "server"))
        rows.append((kind, len(rs), c["run"], st["ok"], st["error"], st["timeout"],
                     st["memory_limit"], " ".join(f"{k}:{v}" for k, v in sorted(refusals.items()))
                     or "-", c["busy"], c["cut"], c["left"], c["bad"]))
    table("by kind of request", ("kind", "sent", "200", "ok", "error", "timeout", "memory",
                                 "refused", "429/busy", "cut", "left", "WRONG"), rows)
    frows = []
    for name in ("kill", "dockerd", "fill", "history_lock", "metrics_lock", "dockerd_external"):
        fs = [f for f in faults if f.name == name]
        if not fs:
            continue
        done = [f for f in fs if not f.skipped and not f.problem]
        cut_by = sum(1 for r in recs if r.outcome == "cut" and
                     any(f.t0 <= r.t1 and r.t0 <= f.window_end for f in done))
        extra = ""
        if name in ("history_lock", "metrics_lock"):
            extra = f"probe answered while held: {sum(1 for f in done if f.bounded)}/{len(done)}"
        elif name == "fill":
            extra = "runs answered while full: " + str(sum(
                1 for r in recs if r.outcome == "run" and any(f.t0 <= r.t1 <= f.t1 for f in done)))
        frows.append((name, len(done), len(fs) - len(done), cut_by, extra))
    table("faults injected", ("fault", "injected", "skipped/failed", "runs cut", "effect"), frows)
    for f in faults:
        print(f"    {f.name:<13} at {f.t0 - load.t_start:6.1f} s: {f.skipped or f.problem or f.detail}")
    print(f"\nleftovers once the pool settled ({settle_s:.0f} s after the load):")
    for k, v in left_final.items():
        print(f"  {k:<40} {len(v)}" + (f"   {v[:5]}" if v else ""))
    if passive:
        print(f"  before any request came (passive wait of {args.passive_settle} s): " +
              "; ".join(f"{k}: {len(v)} {v[:3]}" for k, v in passive.items()))
    table(f"metrics against what the clients saw (slack: runs cut by a fault or left by their "
          f"client may have run or been refused; {lock_slack} answers given while the metrics "
          f"lock was held may be uncounted)",
          ("counter", "metrics", "clients", "allowed", "ok", "why"),
          [(k, m, s, a, "ok" if ok else "FAIL", w) for k, m, s, a, ok, w in rows_metrics])
    print(f"\nmalformed requests the service counts itself: "
          f"{', '.join(f'{k}={v}' for k, v in calibration.items())}; the web server answers "
          f"{', '.join(m[0] for m in load.malformed if m[0] not in calibration) or 'none'}")
    bad = [r for r in recs if r.outcome == "bad"]
    if bad:
        print(f"\nwrong or invalid answers ({len(bad)}), the first 15:")
        for r in bad[:15]:
            print(f"  {r.kind} from {r.source} at {r.t0 - load.t_start:.1f}-"
                  f"{r.t1 - load.t_start:.1f} s: {r.problem[1]}")
    print("\nchecks:")
    for ok, name, detail in checks.results:
        mark = {True: "PASS", False: "FAIL", None: "WARN"}[ok]
        print(f"  {mark}  {name}" + (f"  ({detail})" if detail and (not ok or args.verbose)
                                     else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=900, help="time of load (default 900)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    ap.add_argument("--server", default=os.environ.get("SCE_SERVER", "lighttpd"),
                    choices=("lighttpd", "nginx", "lighttpd-drop-in"),
                    help="web server (default: $SCE_SERVER, else lighttpd)")
    ap.add_argument("--min-runs", type=int, default=None,
                    help="fail with fewer runs answered (default: 1000 for 900 s, pro rata)")
    ap.add_argument("--no-dockerd-restart", dest="dockerd_restart", action="store_false",
                    help="inject every fault but the dockerd restart")
    ap.add_argument("--tmpfs-size", default="2m", help="size of the history tmpfs (default 2m)")
    ap.add_argument("--passive-settle", type=float, default=45,
                    help="seconds to wait for the pool to settle before sending anything")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--verbose", "-v", action="store_true", help="details of passed checks too")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (logs, config) also when the soak passed")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    if args.min_runs is None:
        args.min_runs = int(args.seconds * 1000 / 900)
    if os.geteuid() != 0:
        print("soak: needs root (mount, kill, dockerd)", file=sys.stderr)
        return 2
    for prog in ("run.fcgi", "history.fcgi"):
        if not os.access(ROOT / "cgi-bin" / prog, os.X_OK):
            print(f"soak: cgi-bin/{prog} not built (make all)", file=sys.stderr)
            return 2
    if subprocess.run([DOCKER, "info"], capture_output=True).returncode != 0:
        print("soak: the Docker engine does not answer", file=sys.stderr)
        return 2

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="sce-soak-"))
    stack = Stack(workdir, args.server, args.tmpfs_size)
    checks = Checks()
    faults = fault_thread = None
    code = 2
    try:
        log(f"soak: {args.seconds:.0f} s, {args.clients} clients behind {args.server}, seed "
            f"{args.seed}, work directory {workdir}")
        stack.start()
        log(f"stack up on 127.0.0.1:{stack.port}, instance {stack.instance}")
        load = Load(stack, args.seed)
        calibration = calibrate(load, stack)
        statuses, run_enum = documented_run_statuses()
        before = metrics_now(stack.port)
        faults = Faults(stack, load, args)
        load.t_start = time.monotonic()
        deadline = load.t_start + args.seconds
        threads = [threading.Thread(target=load.client, args=(i, f"127.0.1.{i + 1}", deadline),
                                    daemon=True) for i in range(args.clients)]
        fault_thread = threading.Thread(
            target=faults.loop, daemon=True,
            args=(load.t_start + min(10, args.seconds * 0.1),
                  deadline - max(10, args.seconds * 0.12)))
        for t in threads + [fault_thread]:
            t.start()
        next_note = load.t_start + 30
        while any(t.is_alive() for t in threads) or fault_thread.is_alive():
            time.sleep(1)
            faults.watch_dockerd()
            if not stack.alive():
                load.stop.set()
                checks.check(False, "the stack stays up", stack.serve_log.read_text()[-2000:])
                break
            if time.monotonic() >= next_note:
                next_note += 30
                c = collections.Counter(r.status for r in load.records)
                log(f"{time.monotonic() - load.t_start:5.0f} s: {len(load.records)} requests, "
                    f"{c[200]} answered 200, {len(faults.done)} faults")
            if time.monotonic() > deadline + RUN_TIMEOUT + 120:
                load.stop.set()
                checks.check(False, "the clients and faults end in time",
                             "still running long after the deadline")
                break
        load.stop.set()
        elapsed = time.monotonic() - load.t_start
        log(f"load over after {elapsed:.0f} s: {len(load.records)} requests; settling")
        classify(load, faults.done, statuses, run_enum, server_error_bodies(), calibration)
        quiet_after = max([f.window_end for f in faults.done] + [load.t_start])
        passive, settle_s, _ = settle(stack, load, checks, args.passive_settle, 90)
        if passive:  # what stays until some request comes: reported, not failed
            checks.warn(f"nothing left {args.passive_settle:.0f} s after the load without "
                        f"another request", "; ".join(f"{k}: {v[:3]}" for k, v in passive.items()))
        classify(load, faults.done, statuses, run_enum, server_error_bodies(), calibration)
        check_history(stack, load, checks, quiet_after)
        # The newest runs, one after another with nothing else going on: history holds exactly
        # these, newest first.
        rng = random.Random(args.seed + 1)
        final = [load.run("py_ok", TRICKLE_SOURCE, rng, group="final")
                 for _ in range(stack.history_size)]
        classify(load, faults.done, statuses, run_enum, server_error_bodies(), calibration)
        status, _, body = http_call(stack.port, "GET", "/history", timeout=30)
        try:
            codes = [e["code"] for e in json.loads(body)]
        except (ValueError, TypeError, KeyError):
            codes = body[:200]
        checks.check(all(r.outcome == "run" for r in final) and
                     codes == [r.code for r in reversed(final)],
                     f"history holds exactly the last {stack.history_size} runs, newest first",
                     f"{[r.status for r in final]}, {codes if isinstance(codes, bytes) else len(codes)}")
        _, settle_b, left_final = settle(stack, load, checks, 30, 60)
        settle_s += settle_b
        for k, v in left_final.items():
            checks.check(not v, f"left once the pool settled: {k} = 0", "; ".join(v[:5]))
        classify(load, faults.done, statuses, run_enum, server_error_bodies(), calibration)
        after = metrics_now(stack.port)
        rows_metrics, lock_slack = metrics_checks(before, after, load, faults.done, checks,
                                                  calibration, stack)
        status, _, body = http_call(stack.port, "GET", "/readyz", timeout=30)
        checks.check(status == 200, "/readyz is ready at the end", body[:200].decode(errors="replace"))
        # the answers
        recs = [r for r in load.records if r.group != "calibrate"]
        bad = [r for r in recs if r.outcome == "bad"]
        for name in dict.fromkeys(BAD.values()):
            hits = [r for r in bad if BAD[r.problem[0]] == name]
            checks.check(not hits, name, "; ".join(f"{r.kind}: {r.problem[1][:200]}"
                                                   for r in hits[:3]))
        runs = sum(1 for r in recs if r.outcome == "run")
        checks.check(runs >= args.min_runs, f"at least {args.min_runs} runs answered", str(runs))
        for f in faults.done:
            if f.problem:
                checks.check(False, f"fault {f.name} injected", f.problem)
            if f.name == "dockerd_external":
                checks.warn("dockerd was restarted by something else during the soak (its runs "
                            "counted as cut)", f.detail)
        for name in ("history_lock", "metrics_lock"):
            fs = [f for f in faults.done if f.name == name and not f.skipped and not f.problem]
            unbounded = [f for f in fs if f.bounded is False]
            checks.check(not unbounded, f"a stuck {name.replace('_', ' ')} holder delays the "
                         f"service a bounded time", "; ".join(f.detail for f in unbounded[:2]))
        wanted = {"kill", "fill", "history_lock", "metrics_lock"} | (
            {"dockerd"} if args.dockerd_restart else set())
        injected = {f.name for f in faults.done if not f.skipped and not f.problem}
        checks.check(wanted <= injected, "every kind of fault was injected",
                     f"missing: {sorted(wanted - injected)}")
        # stop, then nothing of the instance may remain
        stopped = stack.stop()
        checks.check(stopped, "serve.sh stops on SIGTERM within 90 s")
        left_after = stack.containers()
        checks.check(not left_after, "no container of the instance after the stack stopped",
                     str(list(left_after)))
        workers = stack.workers_now()
        checks.check(not workers, "no run.fcgi of the stack after it stopped", str(workers))
        report(load, faults.done, rows_metrics, lock_slack, left_final, passive, settle_s, checks,
               args, stack, elapsed, calibration)
        code = 1 if checks.failed() else 0
    except KeyboardInterrupt as e:
        log(f"soak: interrupted ({e})")
        code = 2
    except Exception:
        traceback.print_exc()
        code = 2
    finally:
        if faults is not None:
            faults.load.stop.set()
            if fault_thread is not None:
                fault_thread.join(240)  # a dockerd restart under way ends first
            # interrupted while dockerd was stopped, or it did not come back: not left down
            if faults.dockerd_how and not dockerd_pids():
                log("soak: starting dockerd again")
                start_dockerd(faults.dockerd_how)
                if wait_docker(90) is None:
                    log("soak: dockerd does not answer")
        if not stack.stop():
            log("soak: serve.sh did not stop on SIGTERM; killed its process group")
        if stack.mounted and not stack.unmount():
            log(f"soak: {stack.history_dir} was busy; unmounted lazily")
        try:
            leftover = stack.containers()
            if leftover:  # a clean-up, not a check (that was done above)
                subprocess.run([DOCKER, "rm", "-f", *leftover], capture_output=True, timeout=120)
        except Exception:
            pass
    failed = checks.failed()
    if code == 0:
        if args.keep:
            print(f"\nwork directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        print("\nSOAK PASSED")
    else:
        for _, name, detail in failed:
            print(f"FAILED: {name}" + (f": {detail}" if detail else ""))
        print(f"\nSOAK FAILED (logs kept in {workdir}: serve.log, programs.log, sce.conf)")
    return code


if __name__ == "__main__":
    sys.exit(main())
