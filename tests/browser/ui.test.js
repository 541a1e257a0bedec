// The page in a real browser: node --test, playwright-core driving Debian's Chromium, against the
// real stack (scripts/serve.sh on a free loopback port, dockerd, the real images).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');
const SHOTS = path.join(ROOT, 'tests', 'output', 'screenshots');
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let server, browser, base, workdir;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitUp(url, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await fetch(url)).ok) return;
    } catch (e) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the stack did not start: ' + fs.readFileSync(path.join(workdir, 'serve.log'), 'utf8'));
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'sce-browser-'));
  const port = await freePort();
  const config = path.join(workdir, 'sce.conf');
  fs.writeFileSync(config, fs.readFileSync(path.join(ROOT, 'conf', 'sce.conf'), 'utf8') +
    `\nport = ${port}\ninstance = browser${process.pid}\nhistory_path = ${workdir}/history.json\n` +
    `state_dir = ${workdir}/state\nseccomp_profile = ${ROOT}/conf/seccomp.json\n` +
    `languages = ${ROOT}/conf/languages.conf\n` +
    'per_client_runs = 0\nqueue_wait_ms = 30000\n' +
    // Behind the multi-host front, the host on its own loopback address, believing the front.
    (process.env.SCE_SERVER === 'front' ? 'bind = 127.0.0.3\nfront_addresses = 127.0.0.2\n' : ''));
  const log = fs.openSync(path.join(workdir, 'serve.log'), 'w');
  server = spawn(path.join(ROOT, 'scripts', 'serve.sh'), [], {
    env: { ...process.env, SCE_CONFIG: config, SCE_FRONT_BIND: '127.0.0.1', SCE_FRONT_PORT: String(port) },
    stdio: ['ignore', log, log], detached: true,
  });
  base = `http://127.0.0.1:${port}`;
  await waitUp(base + '/healthz', 60000);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS, headless: true });
});

after(async () => {
  if (browser) await browser.close();
  if (server) {
    process.kill(-server.pid, 'SIGTERM');
    await new Promise((r) => server.on('exit', r));
  }
});

async function openPage(options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.dialogs = 0;
  page.on('dialog', async (d) => { page.dialogs++; await d.dismiss(); });
  await page.goto(base + '/ui');
  return page;
}

async function setCode(page, language, code) {
  await page.selectOption('#language', language);
  await page.fill('#code', code);
}

async function result(page) {
  await page.waitForFunction(() => !document.getElementById('run').disabled &&
    document.getElementById('summary').textContent !== '', null, { timeout: 30000 });
  return page.evaluate(() => ({
    summary: document.getElementById('summary').textContent,
    badge: document.querySelector('#summary .badge')?.className,
    stdout: document.getElementById('stdout').textContent,
    stderr: document.getElementById('stderr').textContent,
    compile: document.getElementById('compile').textContent,
    compileHidden: document.getElementById('compile-block').hidden,
  }));
}

async function chooseExample(page, title) {
  await page.waitForSelector(`#example option:text-is("${title}")`, { state: 'attached' });
  await page.selectOption('#example', { label: title });
}

test('python by a click on Run', async () => {
  const page = await openPage();
  await setCode(page, 'python', 'print(2+2)');
  await page.click('#run');
  const r = await result(page);
  assert.equal(r.stdout, '4\n');
  assert.equal(r.badge, 'badge ok');
  assert.match(r.summary, /^okexit code 0, \d+ ms$/);
  await page.screenshot({ path: path.join(SHOTS, 'python-ok.png'), fullPage: true });
  await page.context().close();
});

test('javascript by Ctrl+Enter, and the language is remembered', async () => {
  const page = await openPage();
  await setCode(page, 'javascript', 'console.log(2+2)');
  await page.focus('#code');
  await page.keyboard.press('Control+Enter');
  const r = await result(page);
  assert.equal(r.stdout, '4\n');
  assert.equal(r.badge, 'badge ok');
  await page.reload();
  assert.equal(await page.inputValue('#language'), 'javascript');
  await page.context().close();
});

test('Tab indents; Escape then Tab leaves the editor', async () => {
  const page = await openPage();
  await page.fill('#code', 'if True:');
  await page.focus('#code');
  await page.keyboard.press('End');
  await page.keyboard.press('Enter');
  await page.keyboard.press('Tab');
  await page.keyboard.type('print(1)');
  assert.equal(await page.inputValue('#code'), 'if True:\n    print(1)');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'code');
  assert.equal(await page.textContent('#gutter'), '1\n2\n');
  await page.keyboard.press('Escape');
  await page.keyboard.press('Tab');  // Escape, then Tab: on to the Input box, nothing typed
  assert.equal(await page.evaluate(() => document.activeElement.id), 'stdin');
  assert.equal(await page.inputValue('#code'), 'if True:\n    print(1)');
  await page.context().close();
});

test('output shows as the program prints: the first line before the run ends', async () => {
  const page = await openPage();
  await setCode(page, 'python', "import time\nprint('first line', flush=True)\ntime.sleep(3)\nprint('last line')");
  await page.click('#run');
  await page.waitForFunction(() => document.getElementById('stdout').textContent.includes('first line'),
    null, { timeout: 15000 });
  assert.equal(await page.isDisabled('#run'), true); // still running
  assert.equal(await page.isHidden('#stop'), false);
  assert.ok(!(await page.textContent('#stdout')).includes('last line'));
  await page.screenshot({ path: path.join(SHOTS, 'streaming.png'), fullPage: true });
  const r = await result(page);
  assert.equal(r.stdout, 'first line\nlast line\n');
  assert.equal(r.badge, 'badge ok');
  assert.equal(await page.isHidden('#stop'), true);
  await page.context().close();
});

test('Stop ends a run from the page', async () => {
  const page = await openPage();
  await setCode(page, 'python', 'import time\nfor i in range(100):\n    print(i, flush=True)\n    time.sleep(0.1)');
  await page.click('#run');
  await page.waitForFunction(() => document.getElementById('stdout').textContent.includes('3\n'),
    null, { timeout: 15000 });
  const stoppedAt = Date.now();
  await page.click('#stop');
  const r = await result(page);
  assert.ok(Date.now() - stoppedAt < 3000);
  assert.equal(r.badge, 'badge stopped');
  assert.match(r.summary, /stopped/);
  assert.ok(!r.stdout.includes('99'));
  // and the server ended the run: none in flight soon after (it would print for 10 s)
  const end = Date.now() + 5000;
  let metrics = '';
  while (Date.now() < end) {
    metrics = await (await fetch(base + '/metrics')).text();
    if (/^sce_runs_in_flight 0$/m.test(metrics)) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.match(metrics, /^sce_runs_in_flight 0$/m);
  await page.screenshot({ path: path.join(SHOTS, 'stopped.png'), fullPage: true });
  await page.context().close();
});

// Runs a program on a page whose POST /run gets body as its event stream (the page's side of a
// stream the real server does not give on demand); the result as shown, the page closed.
async function runAnswered(body) {
  const page = await openPage();
  await page.route('**/run', (route) => route.fulfill({
    status: 200, headers: { 'Content-Type': 'text/event-stream; charset=utf-8' }, body,
  }));
  await setCode(page, 'python', 'print(1)');
  await page.click('#run');
  const r = await result(page);
  await page.context().close();
  return r;
}

test('a stream cut short after output keeps the output and says why', async () => {
  // The server's side of this (an error event once the run began) is tested in test_stream.py;
  // here the page's, with that answer given by the test.
  const r = await runAnswered('event: stdout\ndata: {"text":"printed before\\n"}\n\n' +
    'event: error\ndata: {"error":"sandbox failed while running: the container was stopped",' +
    '"status":502}\n\n');
  assert.equal(r.stdout, 'printed before\n');
  assert.equal(r.badge, 'badge http');
  assert.match(r.summary, /cut short \(HTTP 502\)sandbox failed while running: the container was stopped/);
});

test('the page reads any well-formed event stream: CRLF, no space, data on two lines', async () => {
  const r = await runAnswered(': keep-alive\r\n\r\nevent:stdout\r\ndata:{"text":\r\ndata: "one\\n"}\r\n\r\n' +
    'event: stderr\rdata: {"text":"two\\n"}\r\r' +
    'event: result\ndata: {"output":"one\\n","error":"two\\n","exit_code":0,"status":"ok",' +
    '"duration_ms":5,"truncated":false,"compile_output":"","compile_ms":null}\n\n');
  assert.equal(r.badge, 'badge ok');
  assert.equal(r.stdout, 'one\n');
  assert.equal(r.stderr, 'two\n');
});

test('the timeout example: Run disabled with the elapsed time, then the timeout badge', async () => {
  const page = await openPage();
  await page.selectOption('#language', 'python');
  await chooseExample(page, 'Timeout (infinite loop)');
  assert.equal(await page.inputValue('#code'), 'while True:\n    pass');
  await page.click('#run');
  await page.waitForFunction(() => /Running… \d+\.\d s/.test(document.getElementById('state').textContent));
  assert.equal(await page.isDisabled('#run'), true);
  await page.waitForTimeout(1500);
  const state = await page.textContent('#state');
  assert.ok(parseFloat(state.replace('Running… ', '')) >= 1, state);
  await page.screenshot({ path: path.join(SHOTS, 'running.png'), fullPage: true });
  const r = await result(page);
  assert.equal(r.badge, 'badge timeout');
  assert.match(r.summary, /timeoutexit code -2/);
  assert.equal(r.stderr, 'Execution timed out after 10 seconds.');
  await page.screenshot({ path: path.join(SHOTS, 'timeout.png'), fullPage: true });
  await page.context().close();
});

test('an error shows stderr and the exit code; Clear empties the console', async () => {
  const page = await openPage();
  await setCode(page, 'python', 'print("before")\nraise ValueError("something went wrong")');
  await page.click('#run');
  const r = await result(page);
  assert.equal(r.badge, 'badge error');
  assert.match(r.summary, /exit code 1/);
  assert.equal(r.stdout, 'before\n');
  assert.match(r.stderr, /ValueError: something went wrong/);
  await page.screenshot({ path: path.join(SHOTS, 'error.png'), fullPage: true });
  await page.click('#clear');
  assert.equal(await page.textContent('#summary'), '');
  assert.equal(await page.textContent('#stdout'), '');
  assert.equal(await page.isHidden('#stderr-block'), true);
  await page.context().close();
});

test('the history panel updates, and an entry restores code and language', async () => {
  const page = await openPage();
  const code = `console.log("history ${Date.now()}")`;
  await setCode(page, 'javascript', code);
  await page.click('#run');
  await result(page);
  await page.waitForFunction((c) => document.querySelector('#history li code')?.textContent === c, code);
  await page.selectOption('#language', 'python');
  await page.fill('#code', 'something else');
  await page.click('#history li:first-child button');
  assert.equal(await page.inputValue('#code'), code);
  assert.equal(await page.inputValue('#language'), 'javascript');
  await page.screenshot({ path: path.join(SHOTS, 'history.png'), fullPage: true });
  await page.context().close();
});

test('program output and history are text, never HTML', async () => {
  const page = await openPage();
  const payload = '<img src=x onerror=alert(1)>';
  await setCode(page, 'python', `print("${payload}")`);
  await page.click('#run');
  const r = await result(page);
  assert.equal(r.stdout, payload + '\n');
  await page.waitForFunction((p) => document.querySelector('#history li code')?.textContent.includes(p), payload);
  await page.reload();  // the history panel rendered from /history on a fresh load
  await page.waitForSelector('#history li');
  await page.waitForTimeout(500);
  assert.equal(await page.locator('img').count(), 0);
  assert.equal(page.dialogs, 0);
  await page.screenshot({ path: path.join(SHOTS, 'xss-as-text.png'), fullPage: true });
  await page.context().close();
});

test('a 5001-character program shows the API error', async () => {
  const page = await openPage();
  await page.selectOption('#language', 'python');
  // The textarea's maxlength stops typing at 5000; a script (or an old browser) may not.
  await page.$eval('#code', (el) => { el.value = '#' + 'a'.repeat(5000); });
  await page.click('#run');
  const r = await result(page);
  assert.equal(r.badge, 'badge http');
  assert.match(r.summary, /HTTP 400/);
  assert.match(r.summary, /Code too long\. Maximum allowed length is 5000 characters\./);
  await page.screenshot({ path: path.join(SHOTS, 'api-error.png'), fullPage: true });
  await page.context().close();
});

test('without JavaScript the form posts and the answer is a result page', async () => {
  const page = await openPage({ javaScriptEnabled: false });
  await page.selectOption('#language', 'python');
  await page.fill('#code', 'print("<b>no script</b>")\nprint(6*7)');
  await Promise.all([page.waitForNavigation(), page.click('#run')]);
  assert.equal(await page.textContent('h1'), 'Run result');
  assert.equal(await page.textContent('pre.stdout'), '<b>no script</b>\n42\n');
  assert.equal(await page.locator('pre.stdout b').count(), 0);
  assert.match(await page.textContent('.summary'), /ok exit code 0/);
  await page.screenshot({ path: path.join(SHOTS, 'no-javascript-result.png'), fullPage: true });
  await page.click('text=Back to the editor');
  assert.equal(new URL(page.url()).pathname, '/ui');
  await page.context().close();
});

test('a page of another site that auto-submits a form to /run gets a refusal, and nothing runs', async () => {
  const history = async () => JSON.stringify(await (await fetch(base + '/history')).json());
  const before = await history();
  // The foreign page: another origin (another loopback address and port), as an attacker's
  // site would be, whose form posts itself to the service as soon as it loads.
  const evil = require('node:http').createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<form id="f" method="post" action="${base}/run">
      <input name="language" value="python"><textarea name="code">print("pwned")</textarea></form>
      <script>document.getElementById('f').submit()</script>`);
  });
  await new Promise((r) => evil.listen(0, '127.0.0.2', r));
  const page = await (await browser.newContext()).newPage();
  try {
    await Promise.all([
      page.waitForURL(base + '/run'),
      page.goto(`http://127.0.0.2:${evil.address().port}/`),
    ]);
    assert.equal(await page.textContent('h1'), 'Not run');
    assert.match(await page.textContent('body'), /cross-site request refused/);
    await page.screenshot({ path: path.join(SHOTS, 'cross-site-form-refused.png'), fullPage: true });
  } finally {
    await page.context().close();
    evil.close();
  }
  assert.equal(await history(), before);
});

test('the languages come from the table, each with its version and limits', async () => {
  const page = await openPage();
  const langs = await (await fetch(base + '/languages')).json();
  await page.waitForFunction(() => document.getElementById('limits').textContent !== '');
  const options = await page.$$eval('#language option', (os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(options, langs.map((l) => [l.name, l.label]));
  await page.selectOption('#language', 'c');
  await page.waitForFunction(() => /compiled/.test(document.getElementById('limits').textContent));
  assert.match(await page.textContent('#limits'), /^12\.\d+\.\d+ · compiled \(10 s\) · 10 s · 128 MB$/);
  await page.context().close();
});

test('a Ruby run from its example', async () => {
  const page = await openPage();
  await page.selectOption('#language', 'ruby');
  await chooseExample(page, 'Hello');
  assert.equal(await page.inputValue('#code'), 'puts "Hello from Ruby #{2 + 2}"');
  await page.click('#run');
  const r = await result(page);
  assert.equal(r.stdout, 'Hello from Ruby 4\n');
  assert.equal(r.badge, 'badge ok');
  await page.screenshot({ path: path.join(SHOTS, 'ruby-ok.png'), fullPage: true });
  await page.context().close();
});

test('a C compile error: the compiler\'s messages apart, the compile error badge', async () => {
  const page = await openPage();
  await page.selectOption('#language', 'c');
  await chooseExample(page, 'A compile error');
  await page.click('#run');
  const r = await result(page);
  assert.equal(r.badge, 'badge compile_error');
  assert.match(r.summary, /^compile errorthe compiler exited with 1, nothing ran \(compiled in \d+ ms\)$/);
  assert.equal(r.compileHidden, false);
  assert.match(r.compile, /error: 'undefined_name' undeclared/);
  assert.equal(r.stdout, '');
  await page.screenshot({ path: path.join(SHOTS, 'c-compile-error.png'), fullPage: true });
  await page.context().close();
});

test('a program that reads input; the history puts the input back', async () => {
  const page = await openPage();
  await page.selectOption('#language', 'c');
  await chooseExample(page, 'Read input (sum of numbers)');
  assert.equal(await page.inputValue('#stdin'), '1 2 3\n4 5\n');
  await page.fill('#stdin', `10 20 30 ${Date.now() % 1000}`);
  const input = await page.inputValue('#stdin');
  await page.click('#run');
  const r = await result(page);
  const sum = input.split(' ').map(Number).reduce((a, b) => a + b, 0);
  assert.equal(r.stdout, `4 numbers, sum ${sum}\n`);
  assert.equal(r.compileHidden, true); // no messages from the compiler
  await page.screenshot({ path: path.join(SHOTS, 'input.png'), fullPage: true });
  await page.waitForFunction(() => /with input/.test(document.querySelector('#history li .meta')?.textContent));
  await page.fill('#stdin', '');
  await page.selectOption('#language', 'python');
  await page.click('#history li:first-child button');
  assert.equal(await page.inputValue('#stdin'), input);
  assert.equal(await page.inputValue('#language'), 'c');
  await page.context().close();
});

test('without JavaScript the form offers every language and posts the input', async () => {
  const page = await openPage({ javaScriptEnabled: false });
  const options = await page.$$eval('#language option', (os) => os.map((o) => o.value));
  assert.deepEqual(options, ['python', 'javascript', 'ruby', 'c']);
  await page.selectOption('#language', 'ruby');
  await page.fill('#code', 'puts $stdin.read.upcase');
  await page.fill('#stdin', 'shout\n');
  await Promise.all([page.waitForNavigation(), page.click('#run')]);
  assert.equal(await page.textContent('pre.stdout'), 'SHOUT\n');
  assert.equal(await page.textContent('pre.input'), 'shout\n');
  assert.match(await page.textContent('body'), /Code \(Ruby 3\.1\)/);
  await page.screenshot({ path: path.join(SHOTS, 'no-javascript-input.png'), fullPage: true });
  await page.context().close();
});

test('the page has a Content-Security-Policy without inline script, and nosniff', async () => {
  const response = await fetch(base + '/ui');
  const csp = response.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
  const run = await fetch(base + '/run', { method: 'POST', headers: { Accept: 'text/html',
    'Content-Type': 'application/x-www-form-urlencoded' }, body: 'language=python&code=' });
  assert.equal(run.status, 400);
  assert.match(run.headers.get('content-type'), /text\/html/);
  assert.match(run.headers.get('content-security-policy'), /script-src 'self'/);
});

test('narrow window and dark theme', async () => {
  const page = await openPage({ viewport: { width: 360, height: 740 }, colorScheme: 'dark' });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, 'rgb(21, 23, 26)');
  await page.screenshot({ path: path.join(SHOTS, 'narrow-dark.png'), fullPage: true });
  await page.context().close();
});
