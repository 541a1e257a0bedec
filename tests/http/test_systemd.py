"""The systemd units under a real systemd: `make install DESTDIR=...` mounted into a container
that boots systemd (Debian 12, from debootstrap like the sandbox images), the README's set-up
(user sce in the docker group, the units enabled), then FastCGI requests through the sockets as
the web server's user would send them (cgi-fcgi), with the sandbox containers made by the host's
dockerd through its socket."""
import json
import os
import re
import secrets
import subprocess
import tempfile
import time

import pytest

from conftest import DOCKER, ROOT, containers_of, remove_containers

IMAGE = "sce-systemd-test:3"
# systemd, the programs' libraries, cgi-fcgi; Debian's lighttpd, nginx and spawn-fcgi (the path
# without systemd) and curl to ask them.
PACKAGES = ("systemd,systemd-sysv,libfcgi0ldbl,libcjson1,libhiredis0.14,libfcgi-bin,procps,"
            "lighttpd,nginx,spawn-fcgi,curl")
UNITS = ["safe-code-executor-run.socket", "safe-code-executor-run.service",
         "safe-code-executor-history.socket", "safe-code-executor-history.service"]


def build_image():
    """The test's systemd image, from Debian 12 packages (about 20 s once the packages are in
    the apt cache debootstrap shares with build-images.sh)."""
    if subprocess.run([DOCKER, "image", "inspect", IMAGE], capture_output=True).returncode == 0:
        return
    mirror = os.environ.get("SCE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as root:
        subprocess.run(["debootstrap", "--variant=minbase", "--cache-dir=/var/cache/apt/archives",
                        f"--include={PACKAGES}", "bookworm", root, mirror],
                       check=True, capture_output=True)
        subprocess.run(f"rm -rf {root}/var/lib/apt/lists/* {root}/var/cache/apt/* && "
                       f"tar --numeric-owner -C {root} -c . | {DOCKER} import - {IMAGE}",
                       shell=True, check=True, capture_output=True)


class Box:
    """The container systemd runs in."""

    def __init__(self, dest, name, state):
        self.name = name
        gid = os.stat("/run/docker.sock").st_gid
        subprocess.run([
            DOCKER, "run", "-d", "--name", name, "--label", "org.safe-code-executor.test=systemd",
            # systemd sets up the units' sandboxing (ProtectSystem, PrivateTmp...) with mounts
            "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined",
            "--security-opt", "apparmor=unconfined",
            "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
            "-v", "/run/docker.sock:/run/docker.sock", "-v", f"{DOCKER}:/usr/bin/docker:ro",
            "-v", f"{dest}/usr/local:/usr/local:ro",
            # the state, where the host's dockerd finds the containers' directories too
            "-v", f"{state}:/var/lib/safe-code-executor",
            "-v", f"{dest}/etc/safe-code-executor:/etc/safe-code-executor",
            "-v", f"{dest}/etc/lighttpd/conf-available/50-safe-code-executor.conf:"
                  "/etc/lighttpd/conf-available/50-safe-code-executor.conf:ro",
            "-v", f"{dest}/etc/nginx/snippets/safe-code-executor.conf:"
                  "/etc/nginx/snippets/safe-code-executor.conf:ro",
            IMAGE, "/lib/systemd/systemd"], check=True, capture_output=True)
        deadline = time.monotonic() + 60
        while self.sh("systemctl is-system-running").stdout.strip() not in ("running", "degraded"):
            assert time.monotonic() < deadline, "systemd did not boot"
            time.sleep(0.5)
        self.gid = gid

    def sh(self, script, check=False, stdin=None):
        return subprocess.run([DOCKER, "exec", "-i", self.name, "sh", "-c", script], input=stdin,
                              capture_output=True, text=True, check=check, timeout=120)

    def fastcgi(self, sock, method, path, body="", user="www-data"):
        """One FastCGI request as `user`; returns (status, parsed JSON) or None if refused."""
        env = (f"REQUEST_METHOD={method} SCRIPT_NAME={path} CONTENT_TYPE=application/json "
               f"CONTENT_LENGTH={len(body.encode())} REMOTE_ADDR=127.0.0.1 SERVER_PROTOCOL=HTTP/1.1")
        p = self.sh(f"runuser -u {user} -- env {env} cgi-fcgi -bind -connect "
                    f"/run/safe-code-executor/{sock}.sock", stdin=body)
        if p.returncode != 0 or "\r\n\r\n" not in p.stdout and "\n\n" not in p.stdout:
            return None
        head, _, payload = p.stdout.replace("\r\n", "\n").partition("\n\n")
        return int(head.split()[1]), json.loads(payload)

    def programs(self, prefix="/usr/local/lib/safe-code-executor/"):
        lines = [line.split(None, 1) for line in self.sh("ps -eo user=,args=").stdout.splitlines()]
        return [(user, args) for user, args in lines if args.startswith(prefix)]

    def remove(self):
        subprocess.run([DOCKER, "rm", "-f", self.name], capture_output=True)


@pytest.fixture
def box(tmp_path):
    build_image()
    dest = tmp_path / "root"
    subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "install", f"DESTDIR={dest}"],
                   check=True, capture_output=True)
    instance = "systemd" + secrets.token_hex(3)
    state = tmp_path / "state"
    state.mkdir()
    with open(dest / "etc/safe-code-executor/sce.conf", "a") as f:
        f.write(f"\ninstance = {instance}\nworkers = 3\nper_client_waiting = 0\n"
                f"engine_state_dir = {state}\n")
    table = dest / "etc/safe-code-executor/languages.conf"
    table.write_text(re.sub(r"(?m)^warm = \d+$", "warm = 1", table.read_text()))
    b = Box(dest, f"sce-systemd-test-{instance}", state)
    b.instance = instance
    try:
        yield b
    finally:
        b.remove()
        remove_containers(instance)


# The README's set-up of the user and the state, in the container.
SETUP = ("groupadd -g {gid} docker && "
         "useradd --system --home-dir /var/lib/safe-code-executor --shell /usr/sbin/nologin sce && "
         "usermod -aG docker sce && install -d -m 0700 /var/lib/safe-code-executor && "
         "chown sce: /var/lib/safe-code-executor && "
         "chgrp sce /etc/safe-code-executor/sce.conf && ")


def test_units_under_systemd(box):
    box.sh(SETUP.format(gid=box.gid) +
           "cp /usr/local/lib/systemd/system/safe-code-executor-* /etc/systemd/system/ && "
           "systemctl daemon-reload && systemctl enable --now safe-code-executor-run.socket "
           "safe-code-executor-history.socket", check=True)
    socks = box.sh("stat -c '%n %a %U %G' /run/safe-code-executor/*.sock", check=True).stdout
    assert socks.split("\n")[:2] == ["/run/safe-code-executor/history.sock 660 root www-data",
                                     "/run/safe-code-executor/run.sock 660 root www-data"]
    assert box.programs() == []  # nothing runs before the first request

    # A load balancer's first readiness probe starts both services: the pool is filled before
    # /readyz answers, so it says ready without any run having been made.
    status, ready = box.fastcgi("history", "GET", "/readyz")
    assert (status, ready["ready"], ready["warm"]["python"]) == (200, True, 1), ready

    # The answers.
    status, body = box.fastcgi("run", "POST", "/run", '{"language":"python","code":"print(2+2)"}')
    assert (status, body["output"], body["status"]) == (200, "4\n", "ok")
    status, body = box.fastcgi("run", "POST", "/run",
                               '{"language":"javascript","code":"console.log(2+2)"}')
    assert (status, body["output"]) == (200, "4\n")
    status, body = box.fastcgi("run", "POST", "/run",
                               '{"language":"python","code":"x = \\"a\\" * 1000000000"}')
    assert (status, body["exit_code"], body["status"]) == (200, 137, "memory_limit")
    assert box.fastcgi("history", "GET", "/healthz") == (200, {"status": "alive"})
    status, history = box.fastcgi("history", "GET", "/history")
    assert status == 200 and [h["language"] for h in history] == ["python", "javascript", "python"]

    # Not the web server's group: no connection.
    assert box.fastcgi("run", "POST", "/run", '{"language":"python","code":"1"}',
                       user="nobody") is None

    # The programs run as sce: a supervisor, the config's 3 workers and the keeper for /run, 2
    # workers for the rest.
    programs = box.programs()
    assert {user for user, _ in programs} == {"sce"}
    assert sum("run.fcgi --workers" in args for _, args in programs) == 5
    assert sum("history.fcgi --workers" in args for _, args in programs) == 3

    # One line per run in the journal, without the program's own prefix doubled.
    journal = box.sh("journalctl -u safe-code-executor-run.service --no-pager -o cat").stdout
    assert journal.count("run from 127.0.0.1 (python): ok, exit 0") == 1, journal
    assert "run.fcgi[" not in journal

    # Stopping: every program ends, ExecStopPost removes the idle warm containers.
    assert containers_of(box.instance)
    box.sh("systemctl stop " + " ".join(UNITS), check=True)
    assert box.sh("systemctl is-active safe-code-executor-run.service").stdout.strip() == "inactive"
    assert box.programs() == []
    assert containers_of(box.instance) == []


def curl(box, url, body=None, headers=()):
    """(status, parsed JSON) of one request made inside the box."""
    args = " ".join(f"-H '{h}'" for h in headers)
    if body is not None:
        args += " -H 'Content-Type: application/json' --data-binary @-"
    p = box.sh(f"curl -s -w '\\n%{{http_code}}' {args} {url}", stdin=body)
    text, _, status = p.stdout.rpartition("\n")
    return int(status), json.loads(text)


def test_spawn_fcgi_path_with_debian_web_servers(box):
    """The README's deployment without systemd, step by step as a newcomer would follow it, with
    the real user split: the programs as sce under spawn.sh, Debian's own lighttpd (with the
    drop-in) and nginx (with the snippet) as www-data. Ready before the first run; the seed's
    answers through both; nobody else reaches the sockets; nothing left once stopped."""
    box.sh("systemctl stop lighttpd nginx")
    box.sh(SETUP.format(gid=box.gid) +
           "install -d -o sce -g www-data -m 0750 /run/safe-code-executor && "
           "runuser -u sce -- env SCE_CONFIG=/etc/safe-code-executor/sce.conf "
           "/usr/local/share/safe-code-executor/scripts/spawn.sh /run/safe-code-executor",
           check=True)
    # lighttpd: the drop-in enabled as the README says; nginx: the snippet in the default site
    # (moved to port 8080 beside lighttpd's 80).
    box.sh("lighty-enable-mod safe-code-executor && systemctl restart lighttpd", check=True)
    box.sh("sed -i -e 's/listen 80 default_server;/listen 8080 default_server;/' "
           "-e 's/listen \\[::\\]:80 default_server;/listen [::]:8080 default_server;/' "
           "-e 's/server_name _;/server_name _;\\n\\tinclude snippets\\/safe-code-executor.conf;/' "
           "/etc/nginx/sites-available/default && nginx -t && systemctl restart nginx",
           check=True)

    socks = box.sh("stat -c '%n %a %U %G' /run/safe-code-executor "
                   "/run/safe-code-executor/*.sock", check=True).stdout.split("\n")
    assert socks[:3] == ["/run/safe-code-executor 750 sce www-data",
                         "/run/safe-code-executor/history.sock 666 sce sce",
                         "/run/safe-code-executor/run.sock 666 sce sce"], socks
    bases = ("http://127.0.0.1", "http://127.0.0.1:8080")
    for base in bases:
        # Ready before anyone ran anything: the pool was filled when the programs started.
        status, ready = curl(box, base + "/readyz")
        assert (status, ready["ready"]) == (200, True), (base, ready)
    for base in bases:
        status, body = curl(box, base + "/run", '{"language":"python","code":"print(2+2)"}')
        assert (status, body["output"], body["status"]) == (200, "4\n", "ok"), (base, body)
        status, body = curl(box, base + "/run", '{"language":"javascript","code":"console.log(6*7)"}')
        assert (status, body["output"]) == (200, "42\n"), (base, body)
        status, body = curl(box, base + "/run", '{"language":"python","code":"print(1)"}',
                            headers=["Origin: http://evil.example"])
        assert status == 403, (base, body)
        status, history = curl(box, base + "/history")
        assert status == 200 and history[0]["code"] == "console.log(6*7)"
    # Who runs what: the programs as sce, the web servers' workers as www-data.
    programs = box.programs()
    assert programs and {user for user, _ in programs} == {"sce"}
    assert {u for u, _ in box.programs("/usr/sbin/lighttpd")} == {"www-data"}
    assert "www-data" in {u for u, a in box.programs("nginx: worker")}
    # Another user cannot reach the sockets.
    assert box.fastcgi("run", "POST", "/run", '{"language":"python","code":"1"}',
                       user="nobody") is None
    # Stopping as the README says: the supervisors (their workers end with them), then --cleanup.
    box.sh("for f in /run/safe-code-executor/*.pid; do kill \"$(cat \"$f\")\"; done", check=True)
    deadline = time.monotonic() + 30
    while box.programs():
        assert time.monotonic() < deadline, box.programs()
        time.sleep(0.3)
    box.sh("runuser -u sce -- env SCE_CONFIG=/etc/safe-code-executor/sce.conf "
           "/usr/local/lib/safe-code-executor/run.fcgi --cleanup", check=True)
    assert containers_of(box.instance) == []
