"""Deployment: `make install DESTDIR=...`; the nginx drop-in inside an operator's bare server
block, with the programs under spawn-fcgi, and with the programs started as the installed
systemd units start them (the socket on stdin, --workers). The whole suite also runs behind nginx
and behind Debian's stock lighttpd.conf with the lighttpd drop-in (SCE_SERVER, conftest.py)."""
import configparser
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time

import pytest
import requests

from conftest import ROOT, containers_of, free_port, languages_conf, remove_containers


def test_install_tree(tmp_path):
    dest = tmp_path / "root"
    subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "install", f"DESTDIR={dest}",
                    "PREFIX=/opt/sce"], check=True, capture_output=True)
    expected = [
        "opt/sce/lib/safe-code-executor/run.fcgi", "opt/sce/lib/safe-code-executor/history.fcgi",
        "opt/sce/share/safe-code-executor/htdocs/index.html",
        "opt/sce/share/safe-code-executor/htdocs/app.js",
        "opt/sce/share/safe-code-executor/htdocs/errors/status-404.html",
        "opt/sce/share/safe-code-executor/scripts/build-images.sh",
        "opt/sce/share/safe-code-executor/scripts/spawn.sh",
        "opt/sce/share/safe-code-executor/images/node-main.js",
        "opt/sce/share/safe-code-executor/images/node-snapshot.sh",
        "opt/sce/share/safe-code-executor/htdocs/index.html.in",
        "opt/sce/share/safe-code-executor/htdocs/examples/c.json",
        "etc/safe-code-executor/sce.conf", "etc/safe-code-executor/seccomp.json",
        "etc/safe-code-executor/languages.conf",
        "etc/lighttpd/conf-available/50-safe-code-executor.conf",
        "etc/nginx/snippets/safe-code-executor.conf",
        "opt/sce/lib/systemd/system/safe-code-executor-run.socket",
        "opt/sce/lib/systemd/system/safe-code-executor-run.service",
        "opt/sce/lib/systemd/system/safe-code-executor-history.socket",
        "opt/sce/lib/systemd/system/safe-code-executor-history.service",
    ]
    for f in expected:
        assert (dest / f).is_file(), f
    assert (dest / "var/lib/safe-code-executor").is_dir()
    # The config may hold api_token, the state every program and its output: not for everyone.
    assert (dest / "etc/safe-code-executor/sce.conf").stat().st_mode & 0o777 == 0o640
    assert (dest / "var/lib/safe-code-executor").stat().st_mode & 0o777 == 0o700
    conf = (dest / "etc/safe-code-executor/sce.conf").read_text()
    assert "history_path = /var/lib/safe-code-executor/history.json" in conf
    assert "/opt/sce/share/safe-code-executor/htdocs" in (
        dest / "etc/nginx/snippets/safe-code-executor.conf").read_text()
    program = dest / "opt/sce/lib/safe-code-executor/run.fcgi"
    p = subprocess.run([str(program), "--check-config"], capture_output=True, text=True, env={})
    assert "/etc/safe-code-executor/sce.conf" in p.stderr  # the installed default path
    p = subprocess.run([str(program), "--check-config"], capture_output=True, text=True,
                       env={"SCE_CONFIG": str(dest / "etc/safe-code-executor/sce.conf")})
    assert p.stdout == "Using history file at: /var/lib/safe-code-executor/history.json\n"
    # the installed page offers every language of the table without JavaScript, and the
    # installed image script reads the installed table through the installed program
    page = (dest / "opt/sce/share/safe-code-executor/htdocs/index.html").read_text()
    assert '<option value="ruby">Ruby 3.1</option>' in page and "<!-- languages -->" not in page
    p = subprocess.run([str(dest / "opt/sce/share/safe-code-executor/scripts/build-images.sh"),
                        "--dry-run"], capture_output=True, text=True,
                       env={"SCE_CONFIG": str(dest / "etc/safe-code-executor/sce.conf"),
                            "PATH": os.environ["PATH"]})
    assert p.returncode == 0, p.stderr
    assert [line.split(":", 1)[0] for line in p.stdout.splitlines()] == [
        "image sce-python", "image sce-node", "image sce-ruby", "image sce-gcc"], p.stdout
    # the multi-host front's config, installed beside the script that runs it, checks
    share = dest / "opt/sce/share/safe-code-executor"
    assert (share / "scripts/front.sh").stat().st_mode & 0o111
    p = subprocess.run(["haproxy", "-c", "-f", str(share / "conf/haproxy.cfg"), "-f",
                        str(share / "conf/haproxy-hosts.cfg")], capture_output=True, text=True,
                       env={"SCE_HOME": str(share), "SCE_FRONT_BIND": "127.0.0.1",
                            "SCE_FRONT_PORT": "5000", "PATH": os.environ["PATH"]})
    assert p.returncode == 0 and "Configuration file is valid" in p.stdout, p.stdout + p.stderr
    subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "uninstall",
                    f"DESTDIR={dest}", "PREFIX=/opt/sce"], check=True, capture_output=True)
    assert not (dest / "opt/sce/lib/safe-code-executor").exists()
    assert (dest / "etc/safe-code-executor/sce.conf").is_file()  # config and history stay


def spawn_programs(tmp, overrides=""):
    """The programs under spawn-fcgi (scripts/spawn.sh), with a config of their own."""
    instance = "deploy" + secrets.token_hex(3)
    config = tmp / "sce.conf"
    config.write_text((ROOT / "conf/sce.conf").read_text() +
                      f"\ninstance = {instance}\nhistory_path = {tmp}/history/history.json\n"
                      f"state_dir = {tmp}/state\nseccomp_profile = {ROOT}/conf/seccomp.json\n"
                      "workers = 4\nper_client_waiting = 0\n" + languages_conf(tmp, warm=1) +
                      overrides)
    (tmp / "history").mkdir()
    env = dict(os.environ, SCE_CONFIG=str(config), SCE_SOCKET_GROUP="nogroup")
    subprocess.run([str(ROOT / "cgi-bin/run.fcgi"), "--prepare"], env=env, check=True)
    subprocess.run([str(ROOT / "scripts/spawn.sh"), str(tmp / "sock")], env=env, check=True)
    return instance


def running(pid):
    """Neither gone nor a zombie waiting for init."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_programs(tmp, instance):
    """SIGTERM to the programs, wait for them to end (one may be refilling the pool), then
    remove what the instance has left."""
    pids = []
    for pidfile in (tmp / "sock").glob("*.pid"):
        for pid in pidfile.read_text().split():
            try:
                os.kill(int(pid), signal.SIGTERM)
                pids.append(int(pid))
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 60
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    remove_containers(instance)


def wait_up(url):
    for _ in range(100):
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer")


def check_service(base):
    """The seed's examples and the errors that matter, as a user would see them."""
    r = requests.post(base + "/run", json={"language": "python", "code": "print(2+2)"}, timeout=60)
    assert r.status_code == 200 and r.json()["output"] == "4\n" and r.json()["exit_code"] == 0
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = requests.post(base + "/run", json={"language": "javascript", "code": "console.log(2+2)"},
                      timeout=60)
    assert r.json()["output"] == "4\n"
    r = requests.post(base + "/run", json={"language": "python", "code": 'x = "a" * 1000000000'},
                      timeout=60)
    assert (r.json()["exit_code"], r.json()["status"]) == (137, "memory_limit")
    r = requests.post(base + "/run", json={"language": "python",
                                           "code": 'open("/tmp/hack.txt","w").write("hello")'}, timeout=60)
    assert "Read-only file system" in r.json()["error"]
    r = requests.post(base + "/run", data=json.dumps({"language": "python", "code": "a" * 5001}),
                      headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 400
    assert r.json() == {"error": "Code too long. Maximum allowed length is 5000 characters."}
    r = requests.get(base + "/run", timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = requests.post(base + "/run", data={"language": "python", "code": "print('form')"}, timeout=60)
    assert r.json()["output"] == "form\n"
    history = requests.get(base + "/history", timeout=10).json()
    assert history[0]["code"] == "print('form')" and len(history) == 5
    page = requests.get(base + "/ui", timeout=10)
    assert page.status_code == 200 and "<textarea" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert requests.get(base + "/app.js", timeout=10).status_code == 200


class Nginx:
    """Real nginx with the drop-in included in a bare server block, as an operator adds it,
    talking to the programs' sockets in sock_dir."""

    def __init__(self, tmp, sock_dir):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        shutil.copy("/etc/nginx/mime.types", tmp)
        shutil.copy("/etc/nginx/fastcgi_params", tmp)
        snippet = (ROOT / "conf/deploy/nginx-safe-code-executor.conf").read_text()
        snippet = snippet.replace("/run/safe-code-executor", str(sock_dir))
        snippet = snippet.replace("/usr/local/share/safe-code-executor/htdocs", str(ROOT / "htdocs"))
        (tmp / "safe-code-executor.conf").write_text(snippet)
        # Workers as root here only because pytest's temp directories are private to root.
        (tmp / "nginx.conf").write_text(f"""
user root root;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ }}
http {{
    include mime.types;
    access_log off;
    client_body_temp_path {tmp}/body;
    server {{
        listen 127.0.0.1:{self.port};
        include safe-code-executor.conf;
    }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp),
                                      "-g", "daemon off;"])
        wait_up(self.base + "/ui")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def test_drop_in_in_a_bare_nginx_server_block(tmp_path):
    instance = spawn_programs(tmp_path)
    nginx = None
    try:
        nginx = Nginx(tmp_path, tmp_path / "sock")
        check_service(nginx.base)
        assert wait_for(lambda: requests.get(nginx.base + "/readyz", timeout=30).json()["ready"],
                        timeout=30)  # once the warm pool is refilled
        assert "sce_runs_total" in requests.get(nginx.base + "/metrics", timeout=10).text
        # Errors nginx answers itself on the service's paths are JSON too.
        r = requests.post(nginx.base + "/run", data=b"x" * 1100000, timeout=10,
                          headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json() == {"error": "request body too large"}
    finally:
        if nginx:
            nginx.stop()
        stop_programs(tmp_path, instance)
    # With the programs gone, nginx's 502 is JSON as well.
    nginx = Nginx(tmp_path, tmp_path / "sock")
    try:
        r = requests.post(nginx.base + "/run", json={"language": "python", "code": "1"}, timeout=10)
        assert r.status_code == 502 and r.json() == {"error": "bad gateway"}
    finally:
        nginx.stop()


def unit(path):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(path)
    return parser


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


def wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_systemd_units(tmp_path):
    """The installed units pass systemd-analyze verify; then their commands are started the way
    systemd starts them (no systemd runs here): the socket made as the .socket unit says, handed
    to ExecStart as stdin with the unit's environment, after ExecStartPre; behind nginx they
    serve the seed's examples, a killed worker is replaced, SIGTERM ends them all, and
    ExecStopPost removes the instance's containers."""
    prefix = tmp_path / "pfx"
    subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "install", f"PREFIX={prefix}",
                    f"SYSCONFDIR={prefix}/etc", f"LOCALSTATEDIR={prefix}/var"],
                   check=True, capture_output=True)
    units = prefix / "lib/systemd/system"
    names = sorted(p.name for p in units.iterdir())
    verify = subprocess.run(["systemd-analyze", "verify", *names], cwd=units,
                            capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr

    config = prefix / "etc/safe-code-executor/sce.conf"
    instance = "units" + secrets.token_hex(3)
    with open(config, "a") as f:
        f.write(f"\ninstance = {instance}\nworkers = 3\nper_client_waiting = 0\n"
                f"seccomp_profile = {ROOT}/conf/seccomp.json\n")
    table = prefix / "etc/safe-code-executor/languages.conf"
    table.write_text(re.sub(r"(?m)^warm = \d+$", "warm = 1", table.read_text()))
    sock_dir = tmp_path / "sock"
    sock_dir.mkdir()
    procs = {}
    try:
        for name in ("run", "history"):
            socket_unit = unit(units / f"safe-code-executor-{name}.socket")["Socket"]
            service = unit(units / f"safe-code-executor-{name}.service")["Service"]
            assert socket_unit["Accept"] == "no" and socket_unit["SocketMode"] == "0660"
            assert socket_unit["ListenStream"] == f"/run/safe-code-executor/{name}.sock"
            assert service["StandardInput"] == "socket" and service["User"] == "sce"
            assert service["StandardOutput"] == "journal"  # not the socket
            key, _, value = service["Environment"].partition("=")
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", key: value}
            assert env["SCE_CONFIG"] == str(config)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(sock_dir / f"{name}.sock"))
            listener.listen(128)
            if "ExecStartPre" in service:
                subprocess.run(service["ExecStartPre"].split(), stdin=listener, env=env,
                               check=True, timeout=120)
            procs[name] = subprocess.Popen(service["ExecStart"].split(), stdin=listener, env=env,
                                           stderr=open(tmp_path / f"{name}.log", "w"))
            listener.close()
        run = procs["run"]
        # 3 workers and the keeper
        assert wait_for(lambda: len(children(run.pid)) == 4), children(run.pid)
        assert wait_for(lambda: len(children(procs["history"].pid)) == 2)

        nginx = Nginx(tmp_path, sock_dir)
        try:
            check_service(nginx.base)
            victim = children(run.pid)[0]
            os.kill(victim, signal.SIGKILL)
            assert wait_for(lambda: victim not in children(run.pid) and
                            len(children(run.pid)) == 4), children(run.pid)
            assert "ended (signal 9); starting another" in (tmp_path / "run.log").read_text()
            r = requests.post(nginx.base + "/run", json={"language": "python", "code": "print(7)"},
                              timeout=60)
            assert r.json()["output"] == "7\n"
        finally:
            nginx.stop()

        workers = children(run.pid) + children(procs["history"].pid)
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for p in procs.values():
            assert p.wait(timeout=30) == 0
        assert wait_for(lambda: not any(running(w) for w in workers))
        # ExecStopPost removes the idle warm containers.
        assert containers_of(instance)
        service = unit(units / "safe-code-executor-run.service")["Service"]
        subprocess.run(service["ExecStopPost"].split(), env=env, check=True, timeout=60)
        assert containers_of(instance) == []
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        remove_containers(instance)


def test_workers_end_whenever_the_stop_comes(tmp_path):
    """SIGTERM to the supervisor while a worker is being replaced (its restart is due a second
    later, or it was just forked): every time, all workers end and the supervisor exits 0."""
    env = {"PATH": "/usr/bin:/bin", "SCE_CONFIG": str(ROOT / "conf/sce.conf")}
    for i in range(12):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(tmp_path / f"h{i}.sock"))
        listener.listen(8)
        sup = subprocess.Popen([str(ROOT / "cgi-bin/history.fcgi"), "--workers", "2"],
                               stdin=listener, env=env, stderr=subprocess.DEVNULL)
        listener.close()
        try:
            assert wait_for(lambda: len(children(sup.pid)) == 2)
            workers = children(sup.pid)
            os.kill(workers[0], signal.SIGKILL)
            time.sleep((i % 4) * 0.35)  # before the reap, during the delay, around the restart
            workers = set(workers) | set(children(sup.pid))
            sup.send_signal(signal.SIGTERM)
            assert sup.wait(timeout=5) == 0
            assert not any(running(w) for w in workers)
        finally:
            if sup.poll() is None:
                sup.kill()


@pytest.mark.parametrize("args,message", [
    (["--workers", "3x"], "--workers takes a number of processes"),
    (["--workers", "0"], "--workers: give 1 to 256"),
    (["--workers", "2", "3"], "--workers takes a number of processes"),
    (["--workers"], "--workers needs a listening socket on stdin"),
])
def test_workers_refuses_bad_use(args, message):
    p = subprocess.run([str(ROOT / "cgi-bin/history.fcgi"), *args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=10,
                       env={"PATH": "/usr/bin:/bin", "SCE_CONFIG": str(ROOT / "conf/sce.conf")})
    assert p.returncode == 2 and message in p.stderr, p.stderr
