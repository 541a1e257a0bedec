"""Runs last (it restarts the engine under the whole stack): dockerd stopped while the service
runs gives a clear 503 at once, not a hang; once it is back, runs work and the pool refills."""
import os
import subprocess
import time

import requests

from conftest import DOCKER, WARM_TOTAL


def test_dockerd_restart(stack, clean):
    """The engine gone: a clear 503 at once, not a hang. Back: runs work and the pool refills."""
    pid = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout.split()
    assert len(pid) == 1
    cmdline = open(f"/proc/{pid[0]}/cmdline").read().split("\0")[:-1]
    os.kill(int(pid[0]), 15)
    deadline = time.monotonic() + 60
    while os.path.exists(f"/proc/{pid[0]}"):  # gone entirely, pid file and all
        assert time.monotonic() < deadline
        time.sleep(0.2)
    try:
        start = time.monotonic()
        r = requests.post(stack.url("/run"), json={"language": "python", "code": "print(1)"},
                          timeout=60)
        assert r.status_code == 503
        assert r.json()["error"] in ("sandbox unavailable: the Docker engine is not running",
                                     "sandbox unavailable: the container did not start")
        assert time.monotonic() - start < 10
    finally:
        with open("/var/log/sce-dockerd.log", "a") as log:
            subprocess.Popen(cmdline, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        deadline = time.monotonic() + 60
        while subprocess.run([DOCKER, "info"], capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "dockerd did not come back"
            time.sleep(0.5)
    for _ in range(3):  # the first ones find dead warm containers and make new ones
        status, body = stack.run("python", "print('back')")
        assert (status, body["output"]) == (200, "back\n")
    # the keeper sweeps the dead warm containers away and refills, after the answers
    deadline = time.monotonic() + 30
    while stack.idle_states() != ["running"] * WARM_TOTAL:
        assert time.monotonic() < deadline, stack.idle_states()
        time.sleep(0.3)
    stack.settle()
