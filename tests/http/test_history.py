"""history.json: newest first, the last 10, no lost update under concurrency, recovery from a bad file."""
import concurrent.futures
import os
import re
import secrets

from conftest import assert_json_error


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
