#!/usr/bin/env node
// docs-block.cjs FILE NAME CONTENT_FILE: replaces what is between `<!-- NAME:begin -->` and `<!-- NAME:end -->`
// in FILE with CONTENT_FILE's text (the marker lines stay). Fails when the markers are missing.
'use strict';
const fs = require('node:fs');
const [file, name, contentFile] = process.argv.slice(2);
if (!file || !name || !contentFile) { console.error('usage: docs-block.cjs FILE NAME CONTENT_FILE'); process.exit(2); }
const doc = fs.readFileSync(file, 'utf8');
const begin = `<!-- ${name}:begin -->`, end = `<!-- ${name}:end -->`;
const i = doc.indexOf(begin), j = doc.indexOf(end);
if (i < 0 || j < i) { console.error(`docs-block.cjs: ${file} has no ${begin} ... ${end} block`); process.exit(1); }
const body = fs.readFileSync(contentFile, 'utf8').replace(/\s+$/, '');
fs.writeFileSync(file, `${doc.slice(0, i + begin.length)}\n${body}\n${doc.slice(j)}`);
console.error(`docs-block.cjs: updated the '${name}' block of ${file}`);
