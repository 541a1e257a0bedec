// Safe Code Executor page: sends the form to /run with fetch and shows the result as text.
'use strict';

const $ = (id) => document.getElementById(id);

function show(result, httpStatus) {
  $('stdout').textContent = result.output || '';
  $('stderr').textContent = result.error || '';
  const summary = $('summary');
  summary.textContent = '';
  const badge = document.createElement('span');
  if (httpStatus !== 200) {
    badge.className = 'bad';
    badge.textContent = 'HTTP ' + httpStatus;
  } else {
    const kind = { ok: 'ok', error: 'bad', timeout: 'warn', memory_limit: 'warn' }[result.status];
    badge.className = kind || 'bad';
    badge.textContent = result.status + ' (exit code ' + result.exit_code + ')';
  }
  summary.append(badge);
  if (httpStatus === 200) {
    summary.append(' in ' + result.duration_ms + ' ms' +
      (result.truncated ? ', output truncated' : ''));
  }
}

async function run(event) {
  event.preventDefault();
  const button = $('run');
  button.disabled = true;
  $('state').textContent = 'Running…';
  try {
    const response = await fetch('/run', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
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
    button.disabled = false;
    $('state').textContent = '';
  }
}

function clear() {
  for (const id of ['stdout', 'stderr', 'summary']) $(id).textContent = '';
}

document.addEventListener('DOMContentLoaded', () => {
  $('run-form').addEventListener('submit', run);
  $('clear').addEventListener('click', clear);
});
