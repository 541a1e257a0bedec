"""Past one host: three hosts (each its own stack: lighttpd, programs, warm pool, state) behind
the front (HAProxy, conf/haproxy.cfg), history shared in Redis (with AUTH), on this machine's one
Docker engine, as `make cluster` sets them up. The hosts take runs only from the front, whose
source address is 127.0.0.2. Runs once (not by_server): the front's by-server part runs with
SCE_SERVER=front."""
import concurrent.futures
import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import time

import pytest
import requests

from conftest import ROOT, containers_of, free_port, languages_conf, remove_containers

FRONT_SOURCE = "127.0.0.2"
HOSTS = 3
# Programs that take a while, to hold run slots or to be cut.
SLOW = "import time\ntime.sleep({})\nprint('slow done')"


class Redis:
    def __init__(self, workdir):
        self.dir = workdir / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.password_file = workdir / "redis-password"
        self.password_file.write_text(self.password + "\n")
        self.proc = None

    def start(self):
        # Appended to disk, so that what it held before a restart is still there.
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir",
             str(self.dir), "--appendonly", "yes", "--requirepass", self.password,
             "--loglevel", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while self.cli("PING") != "PONG":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port), "--no-auth-warning", "-a",
                            self.password, *args], capture_output=True, text=True)
        return r.stdout.strip()


class Host:
    def __init__(self, workdir, name, redis, instance):
        self.dir = workdir / name
        self.dir.mkdir()
        self.name = name
        self.port = free_port()
        self.instance = instance
        self.config = self.dir / "sce.conf"
        self.config.write_text(
            (ROOT / "conf" / "sce.conf").read_text() +
            f"\n# test_cluster: {name}\nport = {self.port}\ninstance = {instance}\n"
            f"history_path = {self.dir / 'history.json'}\nstate_dir = {self.dir / 'state'}\n"
            f"seccomp_profile = {ROOT / 'conf' / 'seccomp.json'}\n"
            + languages_conf(self.dir, warm=0) +
            "max_runs = 2\nqueue_wait_ms = 500\nhistory_size = 10\n"
            f"history_backend = redis\nredis_port = {redis.port}\n"
            f"redis_password_file = {redis.password_file}\nfront_addresses = {FRONT_SOURCE}\n")
        self.proc = None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        env = dict(os.environ, SCE_CONFIG=str(self.config), SCE_SERVER="lighttpd",
                   SCE_LOG=str(self.dir / "programs.log"))
        with open(self.dir / "serve.log", "a") as log:
            self.proc = subprocess.Popen([str(ROOT / "scripts" / "serve.sh")], env=env,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_for(self.base + "/healthz", self.proc, self.dir / "serve.log")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)

    def processes(self):
        """Our processes of this host: those started with its config in their environment."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            except OSError:
                continue
            if f"SCE_CONFIG={self.config}".encode() in environ:
                found.append(int(pid))
        return found

    def kill9(self):
        """The host dies at once: every process of it, SIGKILL (its containers stay behind).
        All are stopped first, so that none sees another die (lighttpd would answer a 500 of its
        own for a FastCGI program killed before it)."""
        pids = self.processes()
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        self.proc.wait(timeout=10)

    def metric(self, key):
        text = requests.get(self.base + "/metrics", timeout=10).text
        m = re.search(rf"(?m)^{re.escape(key)} (\S+)$", text)
        return float(m.group(1)) if m else 0.0

    def runs(self):
        return sum(self.metric(f'sce_runs_total{{language="python",status="{s}"}}')
                   for s in ("ok", "error", "timeout"))

    def drain(self, *args):
        return subprocess.run([str(ROOT / "cgi-bin" / "run.fcgi"), *args], capture_output=True,
                              text=True, env=dict(os.environ, SCE_CONFIG=str(self.config)),
                              timeout=120)

    def run_as_front(self, code, client, timeout=60, headers=None):
        """POST /run straight to this host from the front's address, as the front would send it
        (with the client's address in X-Forwarded-For)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=(FRONT_SOURCE, 0))
        try:
            conn.request("POST", "/run", json.dumps({"language": "python", "code": code}),
                         {"Content-Type": "application/json", "X-Forwarded-For": client,
                          **(headers or {})})
            r = conn.getresponse()
            return r.status, json.loads(r.read())
        finally:
            conn.close()


class Front:
    def __init__(self, workdir, hosts):
        self.port = free_port()
        self.hosts_file = workdir / "hosts.cfg"
        self.hosts_file.write_text(
            "backend hosts\n    default-server source 127.0.0.2\n" +
            "".join(f"    server {h.name} 127.0.0.1:{h.port}\n" for h in hosts))
        self.log = workdir / "front.log"
        self.proc = None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        env = dict(os.environ, SCE_FRONT_PORT=str(self.port), SCE_FRONT_BIND="127.0.0.1",
                   SCE_FRONT_HOSTS=str(self.hosts_file))
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([str(ROOT / "scripts" / "front.sh")], env=env,
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.base + "/healthz", self.proc, self.log)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)

    def run(self, code, client="127.0.9.1", timeout=60, language="python", headers=None,
            stdin=None):
        """POST /run through the front from a loopback address of the client's own; returns
        (status, headers, body as parsed JSON)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=(client, 0))
        try:
            request = {"language": language, "code": code}
            if stdin is not None:
                request["stdin"] = stdin
            conn.request("POST", "/run", json.dumps(request),
                         {"Content-Type": "application/json", **(headers or {})})
            r = conn.getresponse()
            raw = r.read()
            assert r.getheader("Content-Type", "").startswith("application/json"), raw
            return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(raw)
        finally:
            conn.close()


def wait_for(url, proc, log, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{url} did not answer:\n" + log.read_text(errors="replace")[-4000:])
        time.sleep(0.2)


def wait_until(check, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cluster")
    tag = "test" + secrets.token_hex(3)
    redis = Redis(workdir)
    redis.start()
    hosts = [Host(workdir, f"host{i + 1}", redis, f"{tag}-host{i + 1}") for i in range(HOSTS)]
    for h in hosts:
        h.start()
    front = Front(workdir, hosts)
    front.start()
    # Every host up in the front's eyes (its checks: 2 in a row, 1 s apart).
    wait_until(lambda: len({front.run("print(1)", f"127.0.9.{i}")[1]["x-sce-host"]
                            for i in range(1, 7)}) == HOSTS, 30, "the front to use every host")
    yield redis, hosts, front
    front.stop()
    for h in hosts:
        if h.proc.poll() is None:
            h.stop()
        remove_containers(h.instance)
    redis.stop()


def settled(hosts):
    """Nothing of a finished run left on any host (warm pools are empty here)."""
    wait_until(lambda: all(containers_of(h.instance) == [] for h in hosts), 30,
               "the hosts to remove their containers")


def test_runs_spread_and_say_which_host_ran_them(cluster):
    redis, hosts, front = cluster
    before = [h.runs() for h in hosts]
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda i: front.run("import time; time.sleep(0.5); print(2)",
                                                    f"127.0.9.{i + 1}"), range(12)))
    assert [a[0] for a in answers] == [200] * 12
    assert {a[2]["output"] for a in answers} == {"2\n"}
    ran_on = {a[1]["x-sce-host"] for a in answers}
    assert ran_on == {f"{os.uname().nodename}/{h.instance}" for h in hosts}
    after = [h.runs() for h in hosts]
    assert all(a > b for a, b in zip(after, before)), (before, after)  # each host's own count
    assert sum(after) - sum(before) == 12
    settled(hosts)


def test_history_is_the_same_everywhere_newest_first(cluster):
    redis, hosts, front = cluster
    marks = [f"mark-{secrets.token_hex(3)}-{i}" for i in range(12)]
    for i, m in enumerate(marks):  # one after the other: their order is known
        assert front.run(f"print('{m}')", f"127.0.9.{i % 6 + 1}")[0] == 200
    views = [requests.get(b + "/history", timeout=10) for b in
             [front.base] + [h.base for h in hosts]]
    assert {v.status_code for v in views} == {200}
    texts = {v.text for v in views}
    assert len(texts) == 1, "every host answers the same history"
    entries = views[0].json()
    assert len(entries) == 10  # history_size: the newest of all hosts
    assert [e["output"] for e in entries] == [m + "\n" for m in reversed(marks)][:10]
    assert len({e["id"] for e in entries}) == 10
    assert {e["host"] for e in entries} <= {f"{os.uname().nodename}/{h.instance}" for h in hosts}
    # Each host keeps its own copy too (what it answers while Redis is away).
    assert all(h.dir.joinpath("history.json").exists() for h in hosts)
    settled(hosts)


def test_hosts_take_runs_only_from_the_front(cluster):
    redis, hosts, front = cluster
    h = hosts[0]
    for headers in ({}, {"X-Forwarded-For": FRONT_SOURCE}):  # nor believe a client's XFF
        r = requests.post(h.base + "/run", json={"language": "python", "code": "print(1)"},
                          headers=headers, timeout=10)
        assert r.status_code == 403, r.text
        assert r.json() == {"error": "this host takes runs only through its front (the load "
                                     "balancer)"}
    # The rest of a host answers anyone (probes, Prometheus).
    assert requests.get(h.base + "/healthz", timeout=10).status_code == 200
    assert requests.get(h.base + "/metrics", timeout=10).status_code == 200


def test_the_per_client_cap_sees_the_client_behind_the_front(cluster):
    """per_client_runs = 2 per host: one address's third run at a host waits; two addresses
    through the same front are two clients."""
    redis, hosts, front = cluster
    h = hosts[0]
    log_before = (h.dir / "programs.log").read_text()
    status, body = h.run_as_front("print('seen')", "127.0.42.7")
    assert status == 200
    log = (h.dir / "programs.log").read_text()[len(log_before):]
    assert "run from 127.0.42.7 (python): ok" in log, log
    # Through the front, an X-Forwarded-For of the client's own is replaced, not believed, also
    # under a name the host's web server reads as the same.
    for i, forged in enumerate(({"X-Forwarded-For": "203.0.113.66"},
                                {"X_Forwarded_For": "203.0.113.67"},
                                {"X.Forwarded~For": "203.0.113.68"})):
        status, headers, _ = front.run("print('forged')", f"127.0.43.{i + 1}", headers=forged)
        assert status == 200
        ran = next(x for x in hosts if headers["x-sce-host"].endswith("/" + x.instance))
        log = (ran.dir / "programs.log").read_text()
        assert f"run from 127.0.43.{i + 1} (python): ok" in log and "203.0.113.6" not in log
    # Had a front let such a second header through, the host believes neither of the two.
    before = (h.dir / "programs.log").read_text()
    assert h.run_as_front("print('two')", "127.0.44.1", headers={"X_Forwarded_For": "6.6.6.6"})[0] == 200
    log = (h.dir / "programs.log").read_text()[len(before):]
    assert "run from 127.0.0.2 (python): ok" in log and "6.6.6.6" not in log, log
    settled(hosts)


def test_a_full_host_passes_its_runs_to_the_others(cluster):
    """All run slots of one host held (by runs sent straight to it, which the front does not
    see): runs through the front go to the others, none refused; all hosts full: 503 with
    Retry-After, nothing run."""
    redis, hosts, front = cluster
    busy = hosts[0]
    label = f"{os.uname().nodename}/{busy.instance}"
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        held = [pool.submit(busy.run_as_front, SLOW.format(6), f"127.0.50.{i}") for i in (1, 2)]
        wait_until(lambda: busy.metric("sce_runs_in_flight") == 2, 20, "the host to be full")
        # As many at once as the other hosts have room for (2 run slots each).
        answers = list(pool.map(lambda i: front.run("print(3)", f"127.0.51.{i + 1}"), range(4)))
        assert [a[0] for a in answers] == [200] * 4, answers
        assert label not in {a[1]["x-sce-host"] for a in answers}
        # Every host full: two slow runs on each of the others too.
        others = [pool.submit(front.run, SLOW.format(5), f"127.0.52.{i + 1}") for i in range(4)]
        wait_until(lambda: all(h.metric("sce_runs_in_flight") == 2 for h in hosts), 20,
                   "every host to be full")
        before = sum(h.runs() for h in hosts)
        status, headers, body = front.run("print('never')", "127.0.53.1")
        assert status == 503, body
        assert int(headers["retry-after"]) > 0
        assert "error" in body
        assert all(f.result()[0] == 200 for f in held + others)
    assert sum(h.runs() for h in hosts) == before + 6  # the slow ones only: "never" never ran
    assert "never" not in requests.get(front.base + "/history", timeout=10).text
    settled(hosts)


def test_draining_a_host(cluster):
    """--drain: the run in flight ends well, the command waits for it; no new run goes there;
    --resume: it takes runs again."""
    redis, hosts, front = cluster
    h = hosts[1]
    label = f"{os.uname().nodename}/{h.instance}"
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(h.run_as_front, SLOW.format(3), "127.0.60.1")
        wait_until(lambda: h.metric("sce_runs_in_flight") == 1, 20, "the slow run")
        start = time.monotonic()
        drained = h.drain("--drain", "60")
        assert drained.returncode == 0, drained.stdout + drained.stderr
        assert time.monotonic() - start > 1.5  # it waited for the run
        assert "waiting for 1 run in flight" in drained.stdout
        assert "drained: no run in flight" in drained.stdout
        status, body = slow.result()
        assert status == 200 and body["output"] == "slow done\n", body
    r = requests.get(h.base + "/readyz", timeout=10)
    assert r.status_code == 503 and r.json()["draining"] is True and r.json()["takes_runs"] is False
    assert h.metric("sce_draining") == 1
    answers = [front.run("print(4)", f"127.0.61.{i + 1}") for i in range(6)]
    assert [a[0] for a in answers] == [200] * 6
    assert label not in {a[1]["x-sce-host"] for a in answers}
    resumed = h.drain("--resume")
    assert resumed.returncode == 0, resumed.stderr
    wait_until(lambda: requests.get(h.base + "/readyz", timeout=10).json()["takes_runs"], 10,
               "readyz to take runs again")
    wait_until(lambda: label in {front.run("print(5)", f"127.0.62.{i + 1}")[1]["x-sce-host"]
                                 for i in range(6)}, 20, "the front to use the host again")
    settled(hosts)


def test_a_stopped_host_is_skipped(cluster):
    redis, hosts, front = cluster
    h = hosts[2]
    h.stop()
    try:
        answers = [front.run("print(6)", f"127.0.70.{i + 1}") for i in range(6)]
        assert [a[0] for a in answers] == [200] * 6, answers
    finally:
        h.start()
    settled(hosts)


def test_a_host_killed_mid_run(cluster):
    """kill -9 of the host running a program: its client gets the front's JSON 502, the run is
    not run again anywhere; restarted, the host's sweep removes what it left."""
    redis, hosts, front = cluster
    mark = "cut-" + secrets.token_hex(4)
    before = [h.runs() for h in hosts]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        cut = pool.submit(front.run, f"import time\nprint('{mark}', flush=True)\ntime.sleep(8)",
                          "127.0.80.1")
        wait_until(lambda: any(h.metric("sce_runs_in_flight") == 1 for h in hosts), 20,
                   "the run to start")
        victim = next(h for h in hosts if h.metric("sce_runs_in_flight") == 1)
        time.sleep(0.5)
        victim.kill9()
        status, headers, body = cut.result(timeout=30)
    assert status == 502, body
    assert body == {"error": "the host running this request stopped answering: the program may "
                             "have run in part; it was not run again"}
    assert containers_of(victim.instance) != []  # what the dead host left
    others = [h for h in hosts if h is not victim]
    time.sleep(9)  # longer than the program: had it been sent again, it would have ended
    assert [h.runs() for h in others] == [b for h, b in zip(hosts, before) if h is not victim]
    assert mark not in requests.get(front.base + "/history", timeout=10).text
    # The other runs go on meanwhile.
    assert front.run("print(7)", "127.0.80.2")[0] == 200
    victim.start()
    settled(hosts)


def test_redis_away_and_back(cluster):
    """Redis stopped while runs go on: answers as usual, /readyz 200 and degraded, entries wait
    (counted in /metrics); Redis back: they arrive in order, each once."""
    redis, hosts, front = cluster
    redis.stop()
    try:
        marks = [f"away-{secrets.token_hex(3)}-{i}" for i in range(6)]
        for i, m in enumerate(marks):
            start = time.monotonic()
            status, headers, body = front.run(f"print('{m}')", f"127.0.90.{i + 1}")
            assert status == 200 and body["output"] == m + "\n"
            assert time.monotonic() - start < 5
        for h in hosts:
            # ready (once the warm pool refilled after the runs), and degraded
            wait_until(lambda: requests.get(h.base + "/readyz", timeout=10).status_code == 200,
                       15, "readyz 200 with Redis away")
            assert requests.get(h.base + "/readyz", timeout=10).json()["history_degraded"]
        waiting = sum(h.metric("sce_history_waiting_entries") for h in hosts)
        assert waiting >= 6
        # /history still answers: each host its own copy.
        assert requests.get(front.base + "/history", timeout=10).status_code == 200
    finally:
        redis.start()
    wait_until(lambda: sum(h.metric("sce_history_waiting_entries") for h in hosts) == 0, 20,
               "the waiting entries to reach Redis")
    entries = requests.get(front.base + "/history", timeout=10).json()
    outputs = [e["output"] for e in entries]
    assert outputs[:6] == [m + "\n" for m in reversed(marks)], outputs
    assert len({e["id"] for e in entries}) == len(entries)  # none twice
    assert int(redis.cli("ZCARD", "sce:history")) == 10
    for h in hosts:
        assert requests.get(h.base + "/readyz", timeout=10).json()["history_degraded"] is False
    settled(hosts)


def test_make_cluster(tmp_path):
    """scripts/cluster.sh (make cluster) as a user runs it, on ports of its own: Redis, the hosts
    of a hosts file, the front; the seed's example through the front, the same history from every
    host; Ctrl+C (SIGINT to its process group) stops all of it and leaves no container."""
    tag = "mc" + secrets.token_hex(2)
    ports = [free_port() for _ in range(3)]
    hosts_file = tmp_path / "hosts.cfg"
    hosts_file.write_text("backend hosts\n    default-server source 127.0.0.2\n" +
                          "".join(f"    server {tag}h{i + 1} 127.0.0.1:{p}\n"
                                  for i, p in enumerate(ports)))
    front_port, redis_port = free_port(), free_port()
    env = dict(os.environ, SCE_FRONT_HOSTS=str(hosts_file), SCE_FRONT_PORT=str(front_port),
               SCE_REDIS_PORT=str(redis_port), SCE_CLUSTER_DIR=str(tmp_path / "cluster"))
    log = tmp_path / "cluster.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(ROOT / "scripts" / "cluster.sh")], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{front_port}"
    instances = [f"{tag}h{i + 1}" for i in range(3)]
    try:
        wait_for(base + "/healthz", proc, log, timeout=180)
        seen = set()
        for i in range(6):
            r = requests.post(base + "/run", json={"language": "python",
                                                   "code": f"print('Hello, World! {i}')"},
                              timeout=60)
            assert r.status_code == 200 and r.json()["output"] == f"Hello, World! {i}\n"
            seen.add(r.headers["X-SCE-Host"].split("/")[1])
        assert seen <= set(instances) and len(seen) >= 2, seen
        views = {requests.get(f"http://127.0.0.1:{p}/history", timeout=10).text for p in ports}
        assert len(views) == 1
        assert [e["output"] for e in json.loads(views.pop())][:6] == \
            [f"Hello, World! {i}\n" for i in range(5, -1, -1)]
        text = log.read_text()
        assert f"Front on http://127.0.0.1:{front_port}" in text
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            assert proc.wait(timeout=120) == 130
        finally:
            leftover = [c for i in instances for c in containers_of(i)]
            for i in instances:
                remove_containers(i)
    assert leftover == [], leftover
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert left == "", left  # redis, the hosts' servers and programs, the front: all gone


def test_a_request_larger_than_the_fronts_buffer(cluster):
    """The longest input (64 KiB, here as escapes JSON allows) is more than the front holds to
    send again: it is answered all the same."""
    redis, hosts, front = cluster
    status, headers, body = front.run("import sys\nprint(len(sys.stdin.buffer.read()))",
                                      "127.0.95.1", stdin="\u0001" * 65536)
    assert status == 200 and body["output"] == "65536\n", body
    settled(hosts)
