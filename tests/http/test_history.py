"""history.json: newest first, the last 10, no lost update under concurrency, recovery from a bad file."""
import concurrent.futures
import json
import os
import re
import secrets
import socket
import subprocess
import time

import requests

from conftest import assert_json_error, start_stack, stop_stack


def reset(stack):
    if stack.history_path.exists():
        stack.history_path.unlink()


def test_empty_history_is_an_empty_array(stack, clean):
    reset(stack)
    assert stack.history() == []


def test_keeps_the_last_ten_newest_first(stack, clean):
    reset(stack)
    for i in range(12):
        status, body = stack.run("python", f"print({i})")
        assert status == 200 and body["output"] == f"{i}\n"
    entries = stack.history()
    assert [e["code"] for e in entries] == [f"print({i})" for i in range(11, 1, -1)]
    for e in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", e["time"])
        assert e["language"] == "python" and e["exit_code"] == 0 and e["error"] == ""
    assert [e["time"] for e in entries] == sorted((e["time"] for e in entries), reverse=True)


def test_rejected_requests_add_nothing(stack, clean):
    reset(stack)
    stack.run("python", "print(1)")
    before = stack.history()
    assert_json_error(stack.post(b'{"language":"cobol","code":"x"}'), 400)
    assert_json_error(stack.post(b"x", content_type="text/plain"), 415)
    assert stack.history() == before


def concurrent_runs(stack, n):
    tag = secrets.token_hex(3)
    codes = [f"print('{tag}-{i}')" for i in range(n)]
    # From n loopback addresses: the per-client cap must not turn them away.
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(lambda i: stack.run_from(f"127.0.1.{i + 1}", "python", codes[i]),
                                range(n)))
    for (status, _, body), code in zip(results, codes):
        assert status == 200, body
        assert body["output"] == code[7:-2] + "\n"
    return codes


def test_ten_concurrent_runs_lose_no_update(stack, clean):
    reset(stack)
    codes = concurrent_runs(stack, 10)
    assert sorted(e["code"] for e in stack.history()) == sorted(codes)


def test_twenty_concurrent_runs_keep_exactly_ten(stack, clean):
    reset(stack)
    codes = concurrent_runs(stack, 20)
    entries = stack.history()
    assert len(entries) == 10
    got = [e["code"] for e in entries]
    assert len(set(got)) == 10 and set(got) <= set(codes)
    assert [e["time"] for e in entries] == sorted((e["time"] for e in entries), reverse=True)


def test_corrupt_history_is_set_aside(stack, clean):
    reset(stack)
    stack.history_path.parent.mkdir(parents=True, exist_ok=True)
    stack.history_path.write_text('{"not": "an array"')
    assert stack.history() == []            # /history still answers
    status, body = stack.run("python", "print('after')")
    assert status == 200 and body["output"] == "after\n"
    assert [e["code"] for e in stack.history()] == ["print('after')"]
    aside = [p for p in os.listdir(stack.history_path.parent) if ".corrupt-" in p]
    assert aside, "the corrupt file was not kept aside"
    assert "set aside" in stack.log()
    for name in aside:
        os.unlink(stack.history_path.parent / name)


def test_missing_history_directory_does_not_break_run(stack, clean):
    """history in a directory that is gone: the run is still answered, and the failure logged."""
    reset(stack)
    state = stack.history_path.parent
    moved = state.with_name("history-moved")
    os.rename(state, moved)
    try:
        status, body = stack.run("python", "print('still')")
        assert status == 200 and body["output"] == "still\n"
        assert "history not updated" in stack.log()
    finally:
        os.rename(moved, state)


def test_each_entry_has_a_unique_id_and_its_host(stack, clean):
    reset(stack)
    for i in range(3):
        r = requests.post(stack.url("/run"), json={"language": "python", "code": f"print({i})"},
                          timeout=60)
        assert r.status_code == 200
        host = r.headers["X-SCE-Host"]
    entries = stack.history()
    assert len({e["id"] for e in entries}) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", e["id"]) for e in entries)
    assert {e["host"] for e in entries} == {host} == {f"{os.uname().nodename}/{stack.instance}"}


def test_a_redis_that_never_answers_costs_a_run_its_timeout_only(tmp_path):
    """history_backend = redis with a Redis that accepts connections and never replies (a hung
    server): each run answers within its usual time plus the 100 ms reply timeout, /readyz stays
    200 and says the history is degraded, the entries wait (counted in /metrics), and /history
    answers the host's own copy."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # connections are accepted by the kernel; nothing is ever read or sent
    s, proc = start_stack(tmp_path, f"history_backend = redis\nredis_port = {silent.getsockname()[1]}\n")
    try:
        s.run("python", "print(0)")  # the warm pool and the page cache
        for i in range(3):
            start = time.monotonic()
            status, body = s.run("python", f"print({i + 1})")
            took = time.monotonic() - start
            assert status == 200 and body["output"] == f"{i + 1}\n"
            assert took < 1.5, f"a run took {took:.2f} s with Redis hung"
        # ready once the warm pool has refilled after the last run: Redis does not hold it up
        deadline = time.monotonic() + 15
        while (ready := requests.get(s.url("/readyz"), timeout=10)).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.2)
        assert ready.json()["history"] == "redis" and ready.json()["history_degraded"] is True
        assert ready.json()["history_waiting"] == 4
        metrics = requests.get(s.url("/metrics"), timeout=10).text
        assert re.search(r"(?m)^sce_history_waiting_entries 4$", metrics), metrics
        local = s.history()
        assert [e["output"] for e in local][:4] == ["3\n", "2\n", "1\n", "0\n"]
        assert "entries wait in" in s.log()
    finally:
        stop_stack(s, proc)
        silent.close()


def test_a_restarted_redis_is_reached_at_once(tmp_path):
    """Each worker keeps its Redis connection. Redis restarted while they are idle: the next
    /history of every worker reconnects and answers from Redis, not this host's own copy."""
    from conftest import free_port
    port = free_port()

    def start_redis():
        proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                                 "--save", "", "--appendonly", "no", "--loglevel", "warning"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True,
                             text=True).stdout.strip() != "PONG":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
        return proc

    redis = start_redis()
    proc = None
    try:
        s, proc = start_stack(tmp_path, f"history_backend = redis\nredis_port = {port}\n"
                                 "workers = 4\nper_client_runs = 1\nper_client_waiting = 1\n")
        assert s.run("python", "print('before')")[0] == 200
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:  # every worker connects
            assert all(e == "before\n" for e in pool.map(
                lambda _: s.history()[0]["output"], range(40)))
        redis.kill()
        redis.wait()
        redis = start_redis()  # empty: nothing saved
        entry = json.dumps({"id": "f" * 32, "output": "from the new redis\n"})
        subprocess.run(["redis-cli", "-p", str(port), "ZADD", "sce:history", "1", entry], check=True,
                       capture_output=True)
        seen = [s.history() for _ in range(20)]
        assert all(h == [json.loads(entry)] for h in seen), seen
        assert "answering this host's own copy" not in s.log()
    finally:
        if proc:
            stop_stack(s, proc)
        redis.kill()
        redis.wait()
