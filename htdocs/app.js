// Safe Code Executor page: an editor, a run through fetch, the result and the history, all shown
// as text (never as HTML). Without JavaScript the form posts to /run and gets an HTML page.
'use strict';

const $ = (id) => document.getElementById(id);

// The languages come from GET /languages (the server's table); the page as served already lists
// them (for the form without JavaScript). Examples of each: /examples/<name>.json, when there.
let languages = [];
const examples = {};

async function loadLanguages() {
  try {
    const response = await fetch('/languages', { headers: { Accept: 'application/json' } });
    if (!response.ok) return;
    languages = await response.json();
  } catch (e) {
    return;
  }
  const select = $('language');
  const current = select.value;
  select.textContent = '';
  for (const lang of languages) {
    const option = document.createElement('option');
    option.value = lang.name;
    option.textContent = lang.label;
    select.append(option);
  }
  if (languages.some((l) => l.name === current)) select.value = current;
  showLimits();
}

// The chosen language's version and limits, beside the selector.
function showLimits() {
  const lang = languages.find((l) => l.name === $('language').value);
  if (!lang) {
    $('limits').textContent = '';
    return;
  }
  const parts = [];
  if (lang.version) parts.push(lang.version);
  if (lang.compiled) parts.push('compiled (' + lang.limits.compile_timeout_s + ' s)');
  parts.push(lang.limits.timeout_s + ' s', lang.limits.memory_mb + ' MB');
  $('limits').textContent = parts.join(' · ');
}

async function examplesOf(name) {
  if (!(name in examples)) {
    examples[name] = [];
    try {
      const response = await fetch('/examples/' + encodeURIComponent(name) + '.json');
      if (response.ok) examples[name] = await response.json();
    } catch (e) {
      // no examples for this language
    }
  }
  return examples[name];
}

function updateGutter() {
  const lines = $('code').value.split('\n').length;
  let text = '';
  for (let i = 1; i <= lines; i++) text += i + '\n';
  $('gutter').textContent = text;
  $('gutter').scrollTop = $('code').scrollTop;
}

async function fillExamples() {
  const name = $('language').value;
  const list = await examplesOf(name);
  if ($('language').value !== name) return; // chosen again meanwhile
  const select = $('example');
  select.length = 1;
  list.forEach((example, i) => {
    const option = document.createElement('option');
    option.value = String(i);
    option.textContent = example.title;
    select.append(option);
  });
  showLimits();
}

function clearConsole() {
  $('summary').textContent = '';
  for (const id of ['compile', 'stdout', 'stderr']) {
    $(id).textContent = '';
    $(id + '-block').hidden = true;
  }
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
  const label = { ok: 'ok', error: 'error', timeout: 'timeout', memory_limit: 'memory limit',
    compile_error: 'compile error' };
  summary.append(badge(result.status, label[result.status] || result.status));
  let text = result.status === 'compile_error'
    ? 'the compiler exited with ' + result.exit_code + ', nothing ran'
    : 'exit code ' + result.exit_code + ', ' + result.duration_ms + ' ms';
  if (result.compile_ms !== null && result.compile_ms !== undefined) {
    text += ' (compiled in ' + result.compile_ms + ' ms)';
  }
  if (result.truncated) text += ', output truncated';
  summary.append(text);
  $('compile').textContent = result.compile_output || '';
  $('compile-block').hidden = !result.compile_output;
  $('stdout').textContent = result.output;
  $('stderr').textContent = result.error;
  $('stdout-block').hidden = result.output === '';
  $('stderr-block').hidden = result.error === '';
}

// A streamed run that failed after it began: what it printed stays, the summary says why.
function showCut(message, httpStatus) {
  const summary = $('summary');
  summary.textContent = '';
  summary.append(badge('http', 'cut short (HTTP ' + httpStatus + ')'));
  const msg = document.createElement('span');
  msg.className = 'api-error';
  msg.textContent = message || 'the server gave no reason';
  summary.append(msg);
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
      ' · exit code ' + entry.exit_code + (entry.stdin ? ' · with input' : '') + ' · ' +
      entry.time + ' UTC';
    button.append(code, meta);
    button.addEventListener('click', () => {
      $('language').value = entry.language;
      localStorage.setItem('sce-language', entry.language);
      fillExamples();
      $('code').value = entry.code;
      $('stdin').value = entry.stdin || '';
      updateGutter();
      $('code').focus();
    });
    item.append(button);
    list.append(item);
  }
}

// One run's Server-Sent Events, as they come (the format of the HTML standard: lines end with
// CRLF, LF or CR; "field: value" or "field:value"; data lines joined until a blank line ends the
// event): output into the console, then the result. Returns false when the stream could not be
// read to its end (the caller stops the run).
async function readStream(response, signal) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let name = '';
  let data = [];
  let ended = false;
  clearConsole();
  const dispatch = () => {
    const event = name || 'message';
    const payload = data.join('\n');
    name = '';
    data = [];
    if (!payload) return;
    const body = JSON.parse(payload);
    if (event === 'stdout' || event === 'stderr' || event === 'compile') {
      $(event).append(document.createTextNode(body.text));
      $(event + '-block').hidden = false;
    } else if (event === 'result') {
      show(body, 200);
      ended = true;
    } else if (event === 'error') {
      showCut(body.error, body.status || 500);
      ended = true;
    }
  };
  const line = (text) => {
    if (text === '') return dispatch();
    if (text.startsWith(':')) return undefined; // a comment: the keep-alive
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
    return undefined;
  };
  try {
    while (!ended) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      // a CR at the end waits: the LF of a CRLF may come in the next chunk
      const held = !done && buffer.endsWith('\r') ? '\r' : '';
      const lines = (held ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
      buffer = lines.pop() + held; // not a whole line yet
      for (const text of lines) {
        line(text);
        if (ended) break;
      }
      if (done) {
        if (buffer) line(buffer);
        if (!ended) dispatch();
        break;
      }
    }
  } catch (e) {
    if (signal.aborted) throw e; // Stop: the caller says so
    showCut('The stream could not be read: ' + e.message, 502);
    return false;
  }
  if (!ended && !signal.aborted) showCut('The stream ended before the result.', 502);
  return ended;
}

let stopRun = null;

async function run(event) {
  if (event) event.preventDefault();
  const button = $('run');
  if (button.disabled) return;
  button.disabled = true;
  const controller = new AbortController();
  stopRun = () => controller.abort();
  $('stop').hidden = false;
  const started = performance.now();
  const tick = () => { $('state').textContent = 'Running… ' + ((performance.now() - started) / 1000).toFixed(1) + ' s'; };
  tick();
  const timer = setInterval(tick, 100);
  try {
    const response = await fetch('/run', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify({ language: $('language').value, code: $('code').value,
        stdin: $('stdin').value }),
      signal: controller.signal,
    });
    if ((response.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
      if (!(await readStream(response, controller.signal))) controller.abort(); // ends the run
    } else {
      let result;
      try {
        result = await response.json();
      } catch (e) {
        result = { error: 'The server answered ' + response.status + ' without JSON.' };
      }
      show(result, response.status);
    }
  } catch (e) {
    if (controller.signal.aborted) {
      const summary = $('summary');
      summary.textContent = '';
      summary.append(badge('stopped', 'stopped'), 'the run was ended from this page');
    } else {
      show({ error: 'The request failed: ' + e.message }, 0);
    }
  } finally {
    clearInterval(timer);
    stopRun = null;
    $('stop').hidden = true;
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

// The language chosen last time, if the page offers it.
function restoreLanguage() {
  const saved = localStorage.getItem('sce-language');
  if (saved && [...$('language').options].some((o) => o.value === saved)) {
    $('language').value = saved;
  }
}

document.addEventListener('DOMContentLoaded', async () => {
  restoreLanguage(); // from the options the page came with, before the table arrives
  updateGutter();
  $('run-form').addEventListener('submit', run);
  $('clear').addEventListener('click', clearConsole);
  $('stop').addEventListener('click', () => { if (stopRun) stopRun(); });
  $('code').addEventListener('keydown', onKey);
  $('code').addEventListener('input', updateGutter);
  $('code').addEventListener('scroll', () => { $('gutter').scrollTop = $('code').scrollTop; });
  $('language').addEventListener('change', () => {
    localStorage.setItem('sce-language', $('language').value);
    fillExamples();
  });
  $('example').addEventListener('change', () => {
    const example = (examples[$('language').value] || [])[Number($('example').value)];
    if (!$('example').value || !example) return;
    $('code').value = example.code;
    $('stdin').value = example.stdin || '';
    $('example').value = '';
    updateGutter();
    $('code').focus();
  });
  loadHistory();
  await loadLanguages(); // keeps the choice
  restoreLanguage();
  fillExamples();
});
