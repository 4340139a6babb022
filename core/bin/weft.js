#!/usr/bin/env node
'use strict';
require('reflect-metadata');
require('../dist/cli/stdout.js').endQuietlyWhenStdoutCloses();
require('../dist/cli/main.js').main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`weft: ${err && err.message ? err.message : String(err)}\n`); process.exitCode = 1; },
);
