// The Node.js sandbox image's startup snapshot (scripts/build-images.sh builds it with
// `node --build-snapshot`; Debian's node has no built-in one, so it starts about 20 ms faster
// from this). From it, node reads the program from stdin and runs it the way `node -` does: a
// script named [stdin], with module, exports, require, __dirname and __filename as globals.
// What differs: the stack frames below the program's own, and import() is not available
// (container.c runs a program that mentions "import" with plain `node -` instead).
'use strict';
const v8 = require('v8');

v8.startupSnapshot.setDeserializeMainFunction(() => {
  // vm and module are fine once running; only the snapshot cannot hold them, which node says
  // in a warning the program's stderr must not get.
  const emitWarning = process.emitWarning;
  process.emitWarning = () => {};
  const fs = require('fs');
  const path = require('path');
  const vm = require('vm');
  const Module = require('module');
  process.emitWarning = emitWarning;

  const code = fs.readFileSync(0, 'utf8');
  let cwd = '/';
  try {
    cwd = process.cwd();
  } catch {}
  const filename = path.join(cwd, '[stdin]');
  const mod = new Module('[stdin]', null);
  mod.filename = filename;
  mod.paths = Module._nodeModulePaths(cwd);
  globalThis.module = mod;
  globalThis.exports = mod.exports;
  globalThis.require = Module.createRequire(filename);
  globalThis.__dirname = '.';
  globalThis.__filename = '[stdin]';
  process.argv.splice(1, 0, '-'); // as `node -` has them
  process.execArgv = []; // a child_process.fork() must not start from this snapshot
  /^/.exec(''); // RegExp.$_ and friends start empty
  vm.runInThisContext(code, { filename: '[stdin]', displayErrors: true });
});
