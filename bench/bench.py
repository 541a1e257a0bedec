#!/usr/bin/python3
"""make bench: latency of POST /run beside a bare `docker run --rm` of the same image and flags,
measured in one run on this machine, interleaved so that both see the same load.

Starts its own stack (scripts/serve.sh) on a free loopback port with a private history file.
Usage: bench/bench.py [--runs N]
"""
import argparse
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
DOCKER = "/usr/bin/docker"

# The flags run.fcgi gives every container (see sandbox_argv() in cgi-bin/sandbox.c).
FLAGS = ["--network", "none", "--read-only", "--ipc", "none", "--memory", "128m",
         "--memory-swap", "128m", "--pids-limit", "64", "--cpus", "1.0", "--cap-drop", "ALL",
         "--security-opt", "no-new-privileges", "--user", "65534:65534", "--init",
         "--ulimit", "nofile=256:256", "--ulimit", "fsize=1048576:1048576", "--ulimit", "core=0",
         "--log-driver", "none", "--pull", "never", "-i"]
CASES = {
    "python": ("sce-python:3.11", ["python3", "-I", "-u", "-"], "print(2+2)"),
    "javascript": ("sce-node:18", ["node", "-"], "console.log(2+2)"),
}


def pct(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def bare(image, cmd, code):
    start = time.monotonic()
    out = subprocess.run([DOCKER, "run", "--rm", *FLAGS, image, *cmd], input=code.encode(),
                         capture_output=True, check=True).stdout
    assert out == b"4\n", out
    return time.monotonic() - start


def via_http(base, language, code):
    start = time.monotonic()
    r = requests.post(base + "/run", json={"language": language, "code": code}, timeout=60)
    assert r.status_code == 200 and r.json()["output"] == "4\n", r.text
    return time.monotonic() - start


def start_stack(workdir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = Path(workdir) / "sce.conf"
    config.write_text((ROOT / "conf/sce.conf").read_text() +
                      f"\nport = {port}\ninstance = bench{secrets.token_hex(3)}\n"
                      f"history_path = {workdir}/history.json\n"
                      f"seccomp_profile = {ROOT}/conf/seccomp.json\n")
    proc = subprocess.Popen([str(ROOT / "scripts/serve.sh")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env=dict(os.environ, SCE_CONFIG=str(config)))
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(base + "/", timeout=1).status_code == 200:
                return proc, base
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("the stack did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        proc, base = start_stack(workdir)
        try:
            rows = []
            for language, (image, cmd, code) in CASES.items():
                for _ in range(3):  # warm-up: page cache, image layers
                    bare(image, cmd, code)
                    via_http(base, language, code)
                b, h = [], []
                for _ in range(args.runs):
                    b.append(bare(image, cmd, code))
                    h.append(via_http(base, language, code))
                rows.append((language, b, h))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"runs: {args.runs} per column, interleaved, after 3 warm-up runs\n")
    print(f"{'language':<11} {'bare docker run p50':>20} {'POST /run p50':>14} {'ratio':>6}"
          f" {'bare p95':>9} {'/run p95':>9} {'ratio':>6}")
    for language, b, h in rows:
        b50, h50, b95, h95 = pct(b, 50), pct(h, 50), pct(b, 95), pct(h, 95)
        print(f"{language:<11} {b50 * 1000:>17.0f} ms {h50 * 1000:>11.0f} ms {h50 / b50:>6.2f}"
              f" {b95 * 1000:>6.0f} ms {h95 * 1000:>6.0f} ms {h95 / b95:>6.2f}")


if __name__ == "__main__":
    main()
