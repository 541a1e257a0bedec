"""Deployment: `make install DESTDIR=...`, and the programs under spawn-fcgi behind a real nginx
(the snippet) and behind Debian's stock lighttpd.conf with the drop-in, on loopback ports."""
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import DOCKER, LABEL, ROOT, free_port


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
        "etc/safe-code-executor/sce.conf", "etc/safe-code-executor/seccomp.json",
        "etc/lighttpd/conf-available/50-safe-code-executor.conf",
        "etc/nginx/snippets/safe-code-executor.conf",
        "opt/sce/lib/systemd/system/safe-code-executor.service",
    ]
    for f in expected:
        assert (dest / f).is_file(), f
    assert (dest / "var/lib/safe-code-executor").is_dir()
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
                      "workers = 4\nwarm_python = 1\nwarm_javascript = 1\n" + overrides)
    (tmp / "history").mkdir()
    env = dict(os.environ, SCE_CONFIG=str(config), SCE_SOCKET_GROUP="nogroup")
    subprocess.run([str(ROOT / "cgi-bin/run.fcgi"), "--prepare"], env=env, check=True)
    subprocess.run([str(ROOT / "scripts/spawn.sh"), str(tmp / "sock")], env=env, check=True)
    return instance


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
    def running(pid):  # neither gone nor a zombie waiting for init
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 60
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    ids = subprocess.run([DOCKER, "ps", "-aq", "--filter", f"label={LABEL}={instance}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run([DOCKER, "rm", "-f", *ids], capture_output=True)


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


def test_behind_nginx(tmp_path):
    instance = spawn_programs(tmp_path)
    port = free_port()
    shutil.copy("/etc/nginx/mime.types", tmp_path)
    shutil.copy("/etc/nginx/fastcgi_params", tmp_path)
    snippet = (ROOT / "conf/deploy/nginx-safe-code-executor.conf").read_text()
    snippet = snippet.replace("/run/safe-code-executor", str(tmp_path / "sock"))
    snippet = snippet.replace("/usr/local/share/safe-code-executor/htdocs", str(ROOT / "htdocs"))
    (tmp_path / "safe-code-executor.conf").write_text(snippet)
    # Workers as root here only because pytest's temp directories are private to root.
    (tmp_path / "nginx.conf").write_text(f"""
user root root;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ }}
http {{
    include mime.types;
    access_log off;
    client_body_temp_path {tmp_path}/body;
    server {{
        listen 127.0.0.1:{port};
        include safe-code-executor.conf;
    }}
}}
""")
    nginx = subprocess.Popen(["nginx", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path),
                              "-g", "daemon off;"])
    try:
        wait_up(f"http://127.0.0.1:{port}/ui")
        check_service(f"http://127.0.0.1:{port}")
    finally:
        nginx.terminate()
        nginx.wait(30)
        stop_programs(tmp_path, instance)


def test_lighttpd_drop_in_on_a_stock_config(tmp_path):
    instance = spawn_programs(tmp_path)
    port = free_port()
    drop_in = (ROOT / "conf/deploy/lighttpd-safe-code-executor.conf").read_text()
    drop_in = drop_in.replace("/run/safe-code-executor", str(tmp_path / "sock"))
    drop_in = drop_in.replace("/usr/local/share/safe-code-executor/htdocs", str(ROOT / "htdocs"))
    (tmp_path / "conf-enabled").mkdir()
    (tmp_path / "conf-enabled" / "50-safe-code-executor.conf").write_text(drop_in)
    stock = Path("/etc/lighttpd/lighttpd.conf").read_text()
    stock = stock.replace('"/etc/lighttpd/conf-enabled/*.conf"', f'"{tmp_path}/conf-enabled/*.conf"')
    stock = stock.replace("server.port                 = 80", f"server.port = {port}\nserver.bind = \"127.0.0.1\"")
    stock = stock.replace('"/var/log/lighttpd/error.log"', f'"{tmp_path}/error.log"')
    stock = stock.replace('"/run/lighttpd.pid"', f'"{tmp_path}/lighttpd.pid"')
    stock = stock.replace('"/var/www/html"', f'"{tmp_path}"')
    stock = stock.replace('server.username             = "www-data"', "")
    stock = stock.replace('server.groupname            = "www-data"', "")
    stock = stock.replace('include_shell "/usr/share/lighttpd/use-ipv6.pl " + server.port', "")
    (tmp_path / "lighttpd.conf").write_text(stock)
    lighttpd = subprocess.Popen(["lighttpd", "-D", "-f", str(tmp_path / "lighttpd.conf")])
    try:
        wait_up(f"http://127.0.0.1:{port}/ui")
        check_service(f"http://127.0.0.1:{port}")
    finally:
        lighttpd.terminate()
        lighttpd.wait(30)
        stop_programs(tmp_path, instance)
