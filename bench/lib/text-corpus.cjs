#!/usr/bin/env node
// text-corpus.cjs: 1 MiB (exactly) of JSON like an API's list answer, deterministic (a fixed LCG), for
// the compression benchmarks (bench/features.sh, the `text` scenario of bench/ab.sh): records with
// ids, hex tokens, names and words drawn from small lists, timestamps, numbers, nested objects.
//   node bench/lib/text-corpus.cjs > text.json
'use strict';
let seed = 29;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const pick = (a) => a[Math.floor(rnd() * a.length)];
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike',
  'november', 'oscar', 'papa', 'quebec', 'romeo', 'sierra', 'tango', 'uniform', 'victor', 'whiskey', 'xray', 'yankee', 'zulu',
  'order', 'invoice', 'shipment', 'customer', 'pending', 'paid', 'refunded', 'warehouse', 'priority', 'standard', 'express'];
const FIRST = ['Ada', 'Alan', 'Grace', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Dennis', 'Frances', 'Edsger', 'Radia', 'Tim'];
const LAST = ['Lovelace', 'Turing', 'Hopper', 'Torvalds', 'Hamilton', 'Thompson', 'Liskov', 'Ritchie', 'Allen', 'Dijkstra', 'Perlman', 'Berners-Lee'];
const hex = (n) => Array.from({ length: n }, () => Math.floor(rnd() * 16).toString(16)).join('');
const records = [];
let size = 2;
for (let i = 1; size < 1048576; i++) {
  const first = pick(FIRST);
  const last = pick(LAST);
  const r = {
    id: i,
    token: hex(24),
    customer: { name: `${first} ${last}`, email: `${first}.${last}@example.com`.toLowerCase(), tier: pick(['free', 'pro', 'enterprise']) },
    status: pick(WORDS.slice(26)),
    created_at: new Date(Date.UTC(2026, 0, 1) + Math.floor(rnd() * 3e10)).toISOString(),
    amount: Math.round(rnd() * 1e6) / 100,
    items: Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => ({ sku: `${pick(WORDS).toUpperCase()}-${Math.floor(rnd() * 9999)}`, qty: 1 + Math.floor(rnd() * 9) })),
    note: Array.from({ length: 3 + Math.floor(rnd() * 8) }, () => pick(WORDS)).join(' '),
  };
  const s = JSON.stringify(r);
  size += s.length + 1;
  records.push(s);
}
const out = Buffer.from(`[${records.join(',')}]`).subarray(0, 1048576);
process.stdout.write(out);
