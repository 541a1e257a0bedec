"""Operating the service: /healthz, /readyz, and /metrics counts that match the runs made, with
many FastCGI processes sharing them."""
import concurrent.futures
import os
import re
import signal
import time

import pytest
import requests

from conftest import DOCKER, start_stack, stop_stack

# What can differ by web server (headers, limits, errors, origin checks, the seed's examples):
# run behind every server, not only the first (scripts/test.sh).
pytestmark = pytest.mark.by_server


def metrics(stack):
    r = requests.get(stack.url("/metrics"), timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    values = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    return values


def test_healthz(stack):
    r = requests.get(stack.url("/healthz"), timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "alive"}


def test_readyz(stack, clean):
    stack.settle()
    r = requests.get(stack.url("/readyz"), timeout=30)
    assert r.status_code == 200
    assert r.json() == {"ready": True, "takes_runs": True, "draining": False, "docker": True,
                        "images": True, "warm": {"python": 2, "javascript": 2, "ruby": 1, "c": 1},
                        "warm_pool_filled": True, "history": "file", "history_degraded": False,
                        "history_waiting": 0}


def test_metrics_match_the_runs_made(stack, clean):
    before = metrics(stack)
    runs = [("python", "print(1)")] * 6 + [("javascript", "process.exit(3)")] * 4
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda i: stack.run_from(f"127.0.8.{i + 1}", *runs[i]),
                                range(len(runs))))
    assert [r[0] for r in results] == [200] * 10
    assert stack.post(b"{").status_code == 400
    assert stack.post(b"x", content_type="text/plain").status_code == 415
    stack.settle()
    after = metrics(stack)

    def delta(key):
        return after.get(key, 0) - before.get(key, 0)

    assert delta('sce_runs_total{language="python",status="ok"}') == 6
    assert delta('sce_runs_total{language="javascript",status="error"}') == 4
    assert delta("sce_run_duration_seconds_count") == 10
    assert delta('sce_run_duration_seconds_bucket{le="+Inf"}') == 10
    assert delta('sce_rejections_total{status="400"}') == 1
    assert delta('sce_rejections_total{status="415"}') == 1
    assert after["sce_runs_in_flight"] == 0
    assert after['sce_warm_pool_size{language="python"}'] == 2
    assert after['sce_warm_pool_target{language="javascript"}'] == 2


def test_one_log_line_per_run(stack, clean):
    stack.run("python", "print('logged')")
    lines = [l for l in stack.log().splitlines() if "run from 127.0.0.1 (python): ok" in l]
    assert lines and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d: run\.fcgi\[\d+\]: run from "
                                  r"127\.0\.0\.1 \(python\): ok, exit 0, \d+ ms, (warm|cold), "
                                  r"7\+0 bytes of output, 0 of input", lines[-1]), lines[-1]
    assert "print('logged')" not in stack.log()  # user code is not logged


def test_a_flood_of_readyz_is_not_a_flood_of_docker_processes(tmp_path):
    """/readyz asks Docker at most once per 2 s per history.fcgi process (there are 2)."""
    calls = tmp_path / "docker-calls"
    wrapper = tmp_path / "docker"
    wrapper.write_text(f"#!/bin/sh\necho \"$1\" >>{calls}\nexec {DOCKER} \"$@\"\n")
    wrapper.chmod(0o755)
    s, proc = start_stack(tmp_path, f"docker = {wrapper}\n")
    try:
        before = calls.read_text().count("version\n") if calls.exists() else 0
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda _: requests.get(s.url("/readyz"), timeout=30),
                                    range(200)))
        elapsed = time.monotonic() - start
        assert {r.json()["docker"] for r in answers} == {True}
        asked = calls.read_text().count("version\n") - before
        assert asked <= 2 * (int(elapsed / 2) + 1), (asked, elapsed)
    finally:
        stop_stack(s, proc)


def test_ctrl_c_leaves_nothing_running(tmp_path):
    """Ctrl+C in the terminal of `make run`: SIGINT to its whole foreground group. Afterwards no
    web server, no program of this instance, no container."""
    s, proc = start_stack(tmp_path)
    config = str(s.workdir / "sce.conf")
    assert s.run("python", "print(1)")[0] == 200
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130

    def ours():
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
                state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if f"SCE_CONFIG={config}".encode() in environ and state != "Z":
                found.append(pid + " " + open(f"/proc/{pid}/cmdline").read().replace("\0", " "))
        return found

    deadline = time.monotonic() + 10
    while ours() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ours() == []
    assert s.containers() == []
