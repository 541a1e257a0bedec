"""Languages as data, through HTTP against the real stack and images: GET /languages, the
program's input (stdin), Ruby and C (compiled in its own container), the page's examples of every
language doing what they say, and a table with extra entries (one entry more is one language
more, nothing else)."""
import json
import re
import subprocess

import pytest
import requests

from conftest import DOCKER, LANGUAGES, ROOT, assert_json_error, history_snapshot, \
    languages_conf, start_stack, stop_stack

TABLE = (ROOT / "conf" / "languages.conf").read_text()


def entry(name, key):
    return re.search(rf"(?ms)^\[{re.escape(name)}\].*?^{key} = (.+?)$", TABLE).group(1)


def test_languages_lists_the_table_with_the_images_versions(stack):
    r = requests.get(stack.url("/languages"), timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json; charset=utf-8"
    langs = r.json()
    assert [lang["name"] for lang in langs] == LANGUAGES == ["python", "javascript", "ruby", "c"]
    for lang in langs:
        # the version the image's own interpreter or compiler prints
        said = subprocess.run([DOCKER, "run", "--rm", "--network", "none", "--pull", "never",
                               entry(lang["name"], "image"), "sh", "-c",
                               entry(lang["name"], "version")],
                              capture_output=True, text=True).stdout
        assert lang["version"] and lang["version"] in said, (lang, said)
        assert lang["label"] == entry(lang["name"], "label")
        assert lang["compiled"] is (lang["name"] == "c")
        assert lang["file"] == entry(lang["name"], "file")
        assert lang["limits"] == {"timeout_s": 10, "compile_timeout_s": 10 if lang["compiled"] else None,
                                  "memory_mb": 128, "output_limit_bytes": 65536,
                                  "max_code_chars": 5000, "max_stdin_bytes": 65536}


# Each language reads all of its input and prints it as hex.
READ_ALL = {
    "python": "import sys\nprint(sys.stdin.buffer.read().hex())",
    "javascript": "console.log(require('fs').readFileSync(0).toString('hex'))",
    "ruby": "$stdin.binmode\nputs $stdin.read.unpack1('H*')",
    "c": '#include <stdio.h>\n\nint main(void)\n{\n    int c;\n\n    while ((c = getchar()) != EOF)\n'
         '        printf("%02x", c);\n    putchar(10);\n    return 0;\n}',
}
INPUT = "a\0b\nλ€😀\r\n\x7f\x01 end"


@pytest.mark.parametrize("language", LANGUAGES)
def test_input_reaches_the_program_byte_for_byte(stack, clean, language):
    status, body = stack.run(language, READ_ALL[language], stdin=INPUT)
    assert status == 200 and body["status"] == "ok", body
    assert body["output"] == INPUT.encode().hex() + "\n"


@pytest.mark.parametrize("language", LANGUAGES)
def test_without_input_the_program_reads_end_of_file(stack, clean, language):
    status, body = stack.run(language, READ_ALL[language])
    assert status == 200 and body["output"] == "\n", body
    status, body = stack.run(language, READ_ALL[language], stdin="")
    assert status == 200 and body["output"] == "\n", body


def test_input_from_a_form_post(stack, clean):
    r = requests.post(stack.url("/run"), timeout=60, data={
        "language": "python", "code": READ_ALL["python"], "stdin": "1\r\n2\r\n\0"})
    assert r.status_code == 200
    assert r.json()["output"] == b"1\n2\n\0".hex() + "\n"


def test_input_too_long_is_refused_and_nothing_runs(stack, clean):
    before = history_snapshot(stack)
    for data in ("x" * 65537, "é" * 32769, "\0" * 65537):  # bytes of UTF-8, however escaped
        r = requests.post(stack.url("/run"), timeout=60, json={
            "language": "python", "code": "print(1)", "stdin": data})
        assert_json_error(r, 400, "Input too long. Maximum allowed size is 65536 bytes.")
    assert history_snapshot(stack) == before
    assert stack.used_containers() == []


def test_the_longest_code_and_input_escaped_fit_the_body(stack, clean):
    """The body limit holds the longest code and input with JSON's longest escapes: 5000
    characters of code as surrogate pairs (12 bytes each), 65536 NULs as \\u0000 (6 each)."""
    code = "import sys\nprint(len(sys.stdin.buffer.read()))\n#"
    code += "😀" * (5000 - len(code))
    body = json.dumps({"language": "python", "code": code, "stdin": "\0" * 65536})
    assert len(body) > 450000
    r = requests.post(stack.url("/run"), data=body, timeout=60,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["output"] == "65536\n"


# The program is a file of its own (its input is not its source): a traceback names the file and
# the line, with the line's text.
TRACEBACKS = {
    "python": ("x = 1\ny = 2\nraise ValueError('three')",
               'File "/code/main.py", line 3, in <module>\n    raise ValueError(\'three\')'),
    "javascript": ("let x = 1;\nlet y = 2;\nthrow new Error('three');",
                   "/code/main.js:3\nthrow new Error('three');"),
    "ruby": ("x = 1\ny = 2\nraise 'three'", "main.rb:3:in `<main>': three (RuntimeError)"),
}


@pytest.mark.parametrize("language", list(TRACEBACKS))
def test_a_traceback_names_the_programs_file_and_line(stack, clean, language):
    code, expected = TRACEBACKS[language]
    status, body = stack.run(language, code, stdin="not the program")
    assert status == 200 and body["status"] == "error"
    assert expected in body["error"], body["error"]


def examples(language):
    return {e["title"]: e for e in
            json.loads((ROOT / "htdocs" / "examples" / f"{language}.json").read_text())}


PASSWD = None


def container_passwd():
    global PASSWD
    if PASSWD is None:
        PASSWD = subprocess.run([DOCKER, "run", "--rm", "--network", "none", "--pull", "never",
                                 entry("python", "image"), "cat", "/etc/passwd"],
                                check=True, capture_output=True, text=True).stdout
    return PASSWD


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_pages_examples_do_what_they_say(stack, clean, language):
    """The seed's examples (and the page's), in every language: the same outcomes."""
    ex = examples(language)
    outcome = {}
    for title, e in ex.items():
        status, body = stack.run(language, e["code"], stdin=e.get("stdin"))
        assert status == 200, (title, body)
        outcome[title] = body
    hello = outcome["Hello"]
    assert hello["status"] == "ok" and hello["output"].startswith("Hello from") and \
        hello["output"].rstrip().endswith("4"), hello
    assert outcome["Read input (sum of numbers)"]["output"] == "5 numbers, sum 15\n"
    loop = outcome["Timeout (infinite loop)"]
    assert (loop["status"], loop["exit_code"]) == ("timeout", -2)
    assert loop["error"].endswith("Execution timed out after 10 seconds.")
    memory = outcome["Memory limit"]
    assert (memory["status"], memory["exit_code"]) == ("memory_limit", 137), memory
    assert memory["error"].endswith("Memory limit exceeded (128 MB).")
    network = outcome["Network is blocked"]
    assert network["status"] == "error", network
    assert re.search(r"(?i)name resolution|getaddrinfo|network is unreachable|EAI_AGAIN",
                     network["error"]), network["error"]
    write = outcome["Read-only file system"]
    assert write["status"] == "error" and re.search(r"Read-only file system|EROFS", write["error"])
    assert outcome["Read a system file"]["output"].rstrip("\n") == container_passwd().rstrip("\n")
    if language == "c":
        fail = outcome["A compile error"]
        assert (fail["status"], fail["exit_code"], fail["output"]) == ("compile_error", 1, "")
        assert "'undefined_name' undeclared" in fail["compile_output"]
    else:
        fail = outcome["An error"]
        assert fail["status"] == "error" and fail["exit_code"] == 1
        assert fail["output"] == "before\n" and "something went wrong" in fail["error"]


# --- C: the compile, in the run's own container --------------------------------------------

def test_a_compile_error_runs_nothing(stack, clean):
    code = '#include <stdio.h>\n\nint main(void)\n{\n    puts("ran");\n    return nope;\n}'
    status, body = stack.run("c", code, stdin="x")
    assert status == 200
    assert (body["status"], body["exit_code"], body["output"], body["error"],
            body["duration_ms"]) == ("compile_error", 1, "", "", 0), body
    assert "main.c:6:12: error: 'nope' undeclared" in body["compile_output"]
    assert isinstance(body["compile_ms"], int) and body["compile_ms"] >= 0
    entry_ = stack.history()[0]
    assert (entry_["code"], entry_["status"], entry_["compile_output"]) == \
        (code, "compile_error", body["compile_output"])


def test_compiler_messages_are_apart_from_the_programs_output(stack, clean):
    code = ('#include <stdio.h>\n#warning "careful"\n\nint main(void)\n{\n'
            '    puts("ran");\n    fputs("err\\n", stderr);\n    return 0;\n}')
    status, body = stack.run("c", code)
    assert (body["status"], body["output"], body["error"]) == ("ok", "ran\n", "err\n"), body
    assert 'main.c:2:2: warning: #warning "careful"' in body["compile_output"]
    assert body["compile_ms"] > 0


def test_the_run_limit_counts_the_program_only(stack, clean):
    status, body = stack.run("c", "int main(void)\n{\n    for (;;)\n        ;\n}")
    assert (body["status"], body["exit_code"]) == ("timeout", -2)
    assert body["error"] == "Execution timed out after 10 seconds."
    assert 10000 <= body["duration_ms"] < 11500
    assert body["compile_ms"] > 0
    assert 9000 <= body["cpu_time_ms"] < 11000  # the program's, not the compiler's too


def test_including_dev_zero_ends_at_the_memory_limit(stack, clean):
    status, body = stack.run("c", '#include "/dev/zero"\n')
    assert (status, body["status"], body["output"]) == (200, "compile_error", ""), body
    assert body["compile_output"].endswith("Compilation ran out of memory (128 MB).")
    assert body["memory_peak_bytes"] == 128 << 20


# A compile that never ends: the compiler reads a terminal that no one writes to.
HANGING_COMPILE = '#include "/dev/ptmx"\nint main(void) { return 0; }\n'


def test_history_keeps_the_input(stack, clean):
    stack.run("python", "print(1)", stdin="hello\0")
    h = stack.history()[0]
    assert (h["stdin"], h["stdin_truncated"]) == ("hello\ufffd", False)
    stack.run("python", "print(2)", stdin="é" * 3000)  # 6000 bytes: cut at 4096, not mid-character
    h = stack.history()[0]
    assert (h["stdin"], h["stdin_truncated"]) == ("é" * 2048, True)


# --- a table with extra entries ----------------------------------------------------------------

EXTRA = """
[python-2s]
label = Python, 2 seconds
image = sce-python:3.11
file = main.py
run = python3 -I -u main.py
timeout_s = 2
memory_mb = 64

[javascript-plain]
label = JavaScript (node main.js)
image = sce-node:18
file = main.js
run = node main.js

[javascript-started]
label = JavaScript (from the snapshot, started for the program)
image = sce-node:18
file = main.js
run = node --snapshot-blob /usr/lib/sce/node-main.blob main.js

[c-1s]
label = C, 1 second to compile
image = sce-gcc:12
file = prog.c
compile = gcc -std=c17 -O2 -o /build/prog prog.c
run = /build/prog
compile_timeout_s = 1
build_mb = 8
"""


@pytest.fixture(scope="module")
def extras(tmp_path_factory):
    """A stack whose table has three more entries (and no warm pools)."""
    work = tmp_path_factory.mktemp("extras")
    s, proc = start_stack(work, languages_conf(work, warm=0, extra=EXTRA))
    yield s
    stop_stack(s, proc)


def test_an_extra_entry_is_one_more_language(extras):
    langs = requests.get(extras.url("/languages"), timeout=30).json()
    assert [lang["name"] for lang in langs] == LANGUAGES + ["python-2s", "javascript-plain",
                                                            "javascript-started", "c-1s"]
    fast = langs[len(LANGUAGES)]
    assert (fast["version"], fast["limits"]["timeout_s"], fast["limits"]["memory_mb"]) == \
        ("3.11.2", 2, 64)
    status, body = extras.run("python-2s", "print('looping', flush=True)\nwhile True: pass")
    assert (status, body["status"], body["output"]) == (200, "timeout", "looping\n")
    assert body["error"] == "Execution timed out after 2 seconds."
    assert 2000 <= body["duration_ms"] < 3500
    status, body = extras.run("python-2s", "b = bytearray(100 << 20)")
    assert (body["status"], body["error"]) == ("memory_limit", "Memory limit exceeded (64 MB).")
    r = requests.post(extras.url("/run"), json={"language": "perl", "code": "1"}, timeout=30)
    assert_json_error(r, 400, 'unsupported language: use "python", "javascript", "ruby", "c", '
                              '"python-2s", "javascript-plain", "javascript-started" or "c-1s"')
    # nothing of it was filed under another language
    assert extras.history()[0]["language"] == "python-2s"
    metrics = requests.get(extras.url("/metrics"), timeout=30).text
    assert 'sce_runs_total{language="python-2s",status="timeout"} 1' in metrics


NODE_MAIN = """
console.log(JSON.stringify([process.argv.length, process.argv[1], process.execArgv,
  __filename, __dirname, module.id, require.main === module, typeof exports, RegExp.$_,
  process.env.PWD === undefined, require('os').platform()]));
var declared = 1;
console.log(globalThis.declared);
import('os').then((os) => console.log(os.platform()));
"""


def test_javascript_from_the_snapshot_runs_as_node_main_js(extras):
    """The table's JavaScript starts from the image's snapshot; the same program as plain
    `node main.js` (an entry of its own) gives the same answer."""
    answers = [extras.run(lang, NODE_MAIN)[1] for lang in ("javascript", "javascript-plain")]
    for body in answers:
        assert body["error"] == "" and body["status"] == "ok", body
    assert answers[0]["output"] == answers[1]["output"] == (
        '[2,"/code/main.js",[],"/code/main.js","/code",".",true,"object","",true,"linux"]\n'
        'undefined\nlinux\n')
    errors = [extras.run(lang, "throw new Error('boom')")[1]["error"]
              for lang in ("javascript", "javascript-plain")]
    head = "/code/main.js:1\nthrow new Error('boom')\n^\n\nError: boom\n    at Object.<anonymous> (/code/main.js:1:7)\n"
    assert errors[0].startswith(head) and errors[1].startswith(head), errors
    assert "deserializeMain" in errors[0] and "deserializeMain" not in errors[1]


# What a program can see of how it was started, and how it ends.
LIKENESS = [
    ("env, streams, descriptors",
     "const fs = require('fs');\n"
     "console.log(JSON.stringify([process.env, process.stdin.isTTY, process.stdout.isTTY,\n"
     "  fs.fstatSync(0).isFIFO(), fs.fstatSync(1).isFIFO(), fs.fstatSync(2).isFIFO(),\n"
     "  fs.readdirSync('/proc/self/fd').length, process.getuid(), process.cwd(),\n"
     "  process.argv.length, process.title]));\n"
     "const stat = fs.readFileSync('/proc/self/stat', 'utf8');\n"
     "const [, , pgrp, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);\n"
     "console.log(pgrp === process.pid, session === process.pid, pgrp === 1);\n", ""),
    ("a background child that keeps the output open",
     "require('child_process').spawn('sleep', ['30'], {stdio: 'inherit'}).unref();\n"
     "console.log('main done');", ""),
    ("input, both streams, an exit code",
     "const input = require('fs').readFileSync(0, 'utf8');\n"
     "console.log(input.toUpperCase()); console.error('to stderr');\nprocess.exit(42);", "a\nλ€😀\n"),
    ("an exit code set, output written to the end",
     "process.stdout.write('x'.repeat(100000)); process.exitCode = 3;", ""),
    ("killed by itself", "console.log('before'); process.kill(process.pid, 'SIGKILL');", ""),
    ("a signal", "process.kill(process.pid, 'SIGTERM'); setTimeout(() => {}, 5000);", ""),
    ("its process group", "console.log('x'); process.kill(0, 'SIGKILL');", ""),
    ("a child process",
     "const r = require('child_process').spawnSync('node', ['-e', 'console.log(6*7)']);\n"
     "console.log(r.stdout.toString().trim(), r.status);", ""),
    ("input not read", "console.log('done');", "y\n" * 30000),
    ("a timer after the output", "console.log(1); setTimeout(() => console.log(2), 300);", ""),
]


@pytest.mark.parametrize("what,code,stdin", LIKENESS, ids=[w for w, _, _ in LIKENESS])
def test_a_prestarted_interpreter_runs_as_one_started_for_the_program(extras, what, code, stdin):
    """The table's JavaScript is pre-started (prestart = yes): node from the snapshot, started
    with the container and waiting. The same command started for the program (an entry of its
    own) gives the same answer: output, errors, exit code and status."""
    answers = [extras.run(lang, code, stdin=stdin)[1] for lang in ("javascript", "javascript-started")]
    keys = ("status", "exit_code", "output", "error", "truncated")
    assert [{k: a.get(k) for k in keys} for a in answers][0] == \
        [{k: a.get(k) for k in keys} for a in answers][1], answers
    assert "status" in answers[0], answers


def test_a_prestarted_runs_cpu_time_is_the_programs(extras):
    """The interpreter's start happened before the run: the run's CPU time does not count it
    (a program that does nothing takes less than when node starts for it), and a busy
    program's does count."""
    def least(lang):
        return min(extras.run(lang, "0")[1]["cpu_time_ms"] for _ in range(3))

    prestarted, started = least("javascript"), least("javascript-started")
    assert prestarted < started / 2, (prestarted, started)
    busy = extras.run("javascript", "const end = Date.now() + 400; while (Date.now() < end) {}")[1]
    assert 350 <= busy["cpu_time_ms"] <= 900, busy


def test_a_compile_over_its_time_limit(extras):
    status, body = extras.run("c-1s", HANGING_COMPILE)
    assert (status, body["status"], body["exit_code"]) == (200, "compile_error", 137), body
    assert body["compile_output"].endswith("Compilation timed out after 1 seconds.")
    assert 1000 <= body["compile_ms"] < 2500
    # the entry's own file name, and its /build of 8 MiB: files of 512 KiB (under the 1 MiB
    # file size limit) until it is full
    status, body = extras.run("c-1s", FILL_BUILD)
    assert body["status"] == "ok", body
    written = int(body["output"])
    assert 7 << 20 <= written <= 8 << 20, written


FILL_BUILD = r"""#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    static char block[512 << 10];
    long total = 0;
    char name[32];

    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "/build/fill%d", i);
        int fd = open(name, O_WRONLY | O_CREAT, 0600);
        ssize_t n = fd < 0 ? -1 : write(fd, block, sizeof(block));
        if (n > 0)
            total += n;
        if (n < (ssize_t)sizeof(block))
            break;
        close(fd);
    }
    printf("%ld\n", total);
    return 0;
}
"""


def test_the_default_compile_time_limit(stack, clean):
    status, body = stack.run("c", HANGING_COMPILE)
    assert (status, body["status"], body["exit_code"]) == (200, "compile_error", 137), body
    assert body["compile_output"].endswith("Compilation timed out after 10 seconds.")
    assert 10000 <= body["compile_ms"] < 11500 and body["duration_ms"] == 0


# --- the table's keys and the old config's ----------------------------------------------------

def test_an_old_config_key_names_its_replacement(tmp_path):
    conf = tmp_path / "sce.conf"
    for key, now in (("python_image = python:3.11-slim", '"image" in the [python] entry'),
                     ("warm_javascript = 1", '"warm" in the [javascript] entry')):
        conf.write_text(f"languages = {ROOT}/conf/languages.conf\n{key}\n")
        p = subprocess.run([str(ROOT / "cgi-bin" / "run.fcgi"), "--check-config"],
                           env={"SCE_CONFIG": str(conf)}, capture_output=True, text=True)
        assert p.returncode == 1
        assert f"{conf}:2: {key.split()[0]}: no longer a key here: use {now} of languages.conf" \
            in p.stderr


def test_build_images_rebuilds_only_what_changed(tmp_path):
    """An image is rebuilt when its entry's recipe changes (a package added), left alone when it
    matches, and used as it is when built elsewhere (no recipe label)."""
    table = tmp_path / "languages.conf"
    elsewhere = "sce-test-elsewhere:" + tmp_path.name[-8:].lower().replace("_", "-")
    subprocess.run(f"tar -c --files-from /dev/null | {DOCKER} import - {elsewhere}", shell=True,
                   check=True, capture_output=True)
    table.write_text(TABLE.replace("packages = python3\n", "packages = python3 python3-numpy\n") +
                     f"\n[elsewhere]\nlabel = E\nimage = {elsewhere}\npackages = x\n"
                     "file = x\nrun = x\n")
    conf = tmp_path / "sce.conf"
    conf.write_text(f"languages = {table}\n")
    env = dict(SCE_CONFIG=str(conf), PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    try:
        p = subprocess.run([str(ROOT / "scripts" / "build-images.sh"), "--dry-run"], env=env,
                           capture_output=True, text=True)
    finally:
        subprocess.run([DOCKER, "rmi", elsewhere], capture_output=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert "image sce-python:3.11: its recipe changed: would rebuild" in lines
    assert any(re.fullmatch(r"image sce-node:18: present \(recipe [0-9a-f]{16}\)", line)
               for line in lines), lines
    assert f"image {elsewhere}: present, built elsewhere: used as it is" in lines
