// Safe Code Executor page: an editor, a run through fetch, the result and the history, all shown
// as text (never as HTML). Without JavaScript the form posts to /run and gets an HTML page.
'use strict';

const $ = (id) => document.getElementById(id);

const EXAMPLES = {
  python: {
    'Hello': 'print("Hello from Python", 2 + 2)',
    'Timeout (infinite loop)': 'while True:\n    pass',
    'Memory limit': 'x = "a" * 1000000000',
    'Network is blocked': 'import urllib.request\nurllib.request.urlopen("https://google.com")',
    'Read-only file system': 'open("/tmp/hack.txt", "w").write("hello")',
    'An error': 'print("before")\nraise ValueError("something went wrong")',
  },
  javascript: {
    'Hello': 'console.log("Hello from Node.js", 2 + 2);',
    'Timeout (infinite loop)': 'for (;;) {}',
    'Memory limit': 'const a = [];\nfor (;;) a.push("x".repeat(1e6));',
    'Network is blocked': 'require("https").get("https://google.com").on("error", e => { console.error(e.message); process.exit(1); });',
    'Read-only file system': 'require("fs").writeFileSync("/tmp/hack.txt", "hello");',
    'An error': 'console.log("before");\nthrow new Error("something went wrong");',
  },
};

function updateGutter() {
  const lines = $('code').value.split('\n').length;
  let text = '';
  for (let i = 1; i <= lines; i++) text += i + '\n';
  $('gutter').textContent = text;
  $('gutter').scrollTop = $('code').scrollTop;
}

function fillExamples() {
  const select = $('example');
  select.length = 1;
  for (const name of Object.keys(EXAMPLES[$('language').value])) {
    const option = document.createElement('option');
    option.value = name;
    option.textContent = name;
    select.append(option);
  }
}

function clearConsole() {
  $('summary').textContent = '';
  $('stdout').textContent = '';
  $('stderr').textContent = '';
  $('stdout-block').hidden = true;
  $('stderr-block').hidden = true;
}

function badge(kind, text) {
  const span = document.createElement('span');
  span.className = 'badge ' + kind;
  span.textContent = text;
  return span;
}

function show(result, httpStatus) {
  clearConsole();
  const summary = $('summary');
  if (httpStatus !== 200) {
    summary.append(badge('http', 'not run (HTTP ' + httpStatus + ')'));
    const msg = document.createElement('span');
    msg.className = 'api-error';
    msg.textContent = result.error || 'the server gave no reason';
    summary.append(msg);
    return;
  }
  const label = { ok: 'ok', error: 'error', timeout: 'timeout', memory_limit: 'memory limit' };
  summary.append(badge(result.status, label[result.status] || result.status));
  let text = 'exit code ' + result.exit_code + ', ' + result.duration_ms + ' ms';
  if (result.truncated) text += ', output truncated';
  summary.append(text);
  $('stdout').textContent = result.output;
  $('stderr').textContent = result.error;
  $('stdout-block').hidden = result.output === '';
  $('stderr-block').hidden = result.error === '';
}

async function loadHistory() {
  let entries;
  try {
    const response = await fetch('/history', { headers: { Accept: 'application/json' } });
    if (!response.ok) return;
    entries = await response.json();
  } catch (e) {
    return;
  }
  const list = $('history');
  list.textContent = '';
  for (const entry of entries) {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    const code = document.createElement('code');
    code.textContent = entry.code;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = entry.language + ' · ' + (entry.status || 'exit ' + entry.exit_code) +
      ' · exit code ' + entry.exit_code + ' · ' + entry.time + ' UTC';
    button.append(code, meta);
    button.addEventListener('click', () => {
      $('language').value = entry.language;
      localStorage.setItem('sce-language', entry.language);
      fillExamples();
      $('code').value = entry.code;
      updateGutter();
      $('code').focus();
    });
    item.append(button);
    list.append(item);
  }
}

async function run(event) {
  if (event) event.preventDefault();
  const button = $('run');
  if (button.disabled) return;
  button.disabled = true;
  const started = performance.now();
  const tick = () => { $('state').textContent = 'Running… ' + ((performance.now() - started) / 1000).toFixed(1) + ' s'; };
  tick();
  const timer = setInterval(tick, 100);
  try {
    const response = await fetch('/run', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ language: $('language').value, code: $('code').value }),
    });
    let result;
    try {
      result = await response.json();
    } catch (e) {
      result = { error: 'The server answered ' + response.status + ' without JSON.' };
    }
    show(result, response.status);
  } catch (e) {
    show({ error: 'The request failed: ' + e.message }, 0);
  } finally {
    clearInterval(timer);
    button.disabled = false;
    $('state').textContent = '';
    loadHistory();
  }
}

// Tab indents; Escape first lets the next Tab leave the editor, so keyboard users are not trapped.
let tabLeaves = false;

function onKey(event) {
  const code = $('code');
  const leave = tabLeaves;
  tabLeaves = event.key === 'Escape';
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    run();
  } else if (event.key === 'Tab' && !leave && !event.shiftKey && !event.ctrlKey && !event.altKey) {
    event.preventDefault();
    const { selectionStart: start, selectionEnd: end, value } = code;
    code.value = value.slice(0, start) + '    ' + value.slice(end);
    code.selectionStart = code.selectionEnd = start + 4;
    updateGutter();
  }
}

document.addEventListener('DOMContentLoaded', () => {
  const saved = localStorage.getItem('sce-language');
  if (saved && EXAMPLES[saved]) $('language').value = saved;
  fillExamples();
  updateGutter();
  $('run-form').addEventListener('submit', run);
  $('clear').addEventListener('click', clearConsole);
  $('code').addEventListener('keydown', onKey);
  $('code').addEventListener('input', updateGutter);
  $('code').addEventListener('scroll', () => { $('gutter').scrollTop = $('code').scrollTop; });
  $('language').addEventListener('change', () => {
    localStorage.setItem('sce-language', $('language').value);
    fillExamples();
  });
  $('example').addEventListener('change', () => {
    const name = $('example').value;
    if (!name) return;
    $('code').value = EXAMPLES[$('language').value][name];
    $('example').value = '';
    updateGutter();
    $('code').focus();
  });
  loadHistory();
});
