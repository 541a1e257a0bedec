// The Node.js sandbox image's startup snapshot (images/node-snapshot.sh builds it with
// `node --build-snapshot`; Debian's node has no built-in one, and starts about twice as slowly
// without one). Started from it, node loads the file its command line names as the main module,
// with node's own loader, as `node main.js` does: the same require, module, __filename,
// import() and error messages. What differs: the two stack frames below the loader's.
'use strict';
const v8 = require('v8');

v8.startupSnapshot.setDeserializeMainFunction(() => {
  // module and path are fine once running; only the snapshot cannot hold them, which node says
  // in a warning the program's stderr must not get.
  const emitWarning = process.emitWarning;
  process.emitWarning = () => {};
  const path = require('path');
  const Module = require('module');
  process.emitWarning = emitWarning;

  process.execArgv = []; // a child_process.fork() must not start from this snapshot
  // Pre-started (languages.conf: prestart = yes): /usr/lib/sce/attach started this node with the
  // container, and descriptor 3 is a pipe that brings one byte once the program is there.
  const fs = require('fs');
  let waiting = false;
  try {
    waiting = fs.fstatSync(3).isFIFO();
  } catch (e) {
    // no descriptor 3: started for the program
  }
  if (waiting) {
    fs.readSync(3, Buffer.alloc(1));
    fs.closeSync(3);
  }
  /^/.exec(''); // RegExp.$_ and friends start empty
  const file = path.resolve(process.argv[1]);
  process.argv[1] = file; // as `node main.js` has it
  Module._load(file, null, true);
});
