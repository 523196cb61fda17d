#!/usr/bin/env node
// compress-levels.mjs: what each quality level of gzip, brotli and zstd costs and gains on the kind of
// responses portico compresses (issue 29: "quality levels chosen by measurement"). For every coding and
// level: CPU µs per MiB of input (user+sys of this process, the codec run in the streaming form
// portico uses: 16 KiB writes, like upstream chunks) and the ratio compressed ÷ original, per corpus
// and their mean (each corpus weighs the same). Then the memory one compressor holds (RSS + external growth per open stream, 200 open).
//
//   node bench/compress-levels.mjs [--quick] [--out FILE.tsv]
//
// Corpora (deterministic: generated, or files the repository and its pinned node_modules contain): an
// API answer (bench/lib/text-corpus.cjs, the first 256 KiB: JSON records with ids, tokens, dates), a
// package manifest (package-lock.json), minified JS (axios.min.js), JS source (the first 512 KiB of
// typescript.js), text (docs/*.md, markdown: prose and tables, like HTML text).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const outIdx = process.argv.indexOf('--out');
const OUT = outIdx > 0 ? process.argv[outIdx + 1] : null;
const read = (p) => readFileSync(join(ROOT, p));
const corpora = {
  api: execFileSync(process.execPath, [join(ROOT, 'bench/lib/text-corpus.cjs')], { maxBuffer: 4 << 20 }).subarray(0, 256 * 1024),
  json: read('package-lock.json'),
  'js-min': read('node_modules/axios/dist/axios.min.js'),
  js: read('node_modules/typescript/lib/typescript.js').subarray(0, 512 * 1024),
  text: Buffer.concat(readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => read(`docs/${f}`))),
};
const C = zlib.constants;
const hasZstd = typeof zlib.createZstdCompress === 'function';

/** make returns a compressor stream for coding at level (the same parameters portico uses but the level). */
function make(coding, level) {
  if (coding === 'gzip') return zlib.createGzip({ level });
  if (coding === 'br') return zlib.createBrotliCompress({ params: { [C.BROTLI_PARAM_QUALITY]: level, [C.BROTLI_PARAM_LGWIN]: 19 } });
  return zlib.createZstdCompress({ params: { [C.ZSTD_c_compressionLevel]: level, [C.ZSTD_c_windowLog]: 19 } });
}

/** compress streams buf through a new compressor in 16 KiB writes; resolves with the output size. */
function compress(coding, level, buf) {
  return new Promise((resolve, reject) => {
    const z = make(coding, level);
    let out = 0;
    z.on('data', (c) => (out += c.length));
    z.on('end', () => resolve(out));
    z.on('error', reject);
    for (let i = 0; i < buf.length; i += 16384) z.write(buf.subarray(i, i + 16384));
    z.end();
  });
}

const LEVELS = {
  gzip: quick ? [1, 6] : [1, 2, 3, 4, 5, 6, 7, 8, 9],
  br: quick ? [1, 4] : [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11],
  ...(hasZstd ? { zstd: quick ? [1, 3] : [1, 2, 3, 4, 5, 6, 7, 9, 12, 15, 19] } : {}),
};
const MIB_PER_POINT = quick ? 4 : 24; // input MiB compressed per (coding, level, corpus)…
const CPU_PER_POINT = quick ? 0.3e6 : 2e6; // …or this much CPU (µs), whichever comes first

const rows = [];
if (process.argv.includes('--memory')) {
  // (the child of the memory measurement: skips the CPU runs)
} else {
console.log(`node ${process.version}, zstd ${hasZstd ? 'yes' : 'no'}; corpora: ${Object.entries(corpora).map(([k, b]) => `${k} ${(b.length / 1024).toFixed(0)} KiB`).join(', ')}`);
console.log('coding\tlevel\tcorpus\tcpu_us_per_mib\tratio');
for (const [coding, levels] of Object.entries(LEVELS)) {
  for (const level of levels) {
    let sumCpu = 0;
    let sumRatio = 0;
    for (const [name, buf] of Object.entries(corpora)) {
      const maxReps = Math.max(1, Math.round((MIB_PER_POINT * 1048576) / buf.length));
      await compress(coding, level, buf); // warm-up
      const c0 = process.cpuUsage();
      let out = 0;
      let reps = 0;
      // MIB_PER_POINT of input, or CPU_PER_POINT of CPU for the slow levels (at least 3 runs)
      do {
        out += await compress(coding, level, buf);
        reps++;
        const c = process.cpuUsage(c0);
        if (reps >= 3 && c.user + c.system > CPU_PER_POINT) break;
      } while (reps < maxReps);
      const c1 = process.cpuUsage(c0);
      const cpu = c1.user + c1.system;
      const mib = (buf.length * reps) / 1048576;
      rows.push({ coding, level, corpus: name, cpu: cpu / mib, ratio: out / (buf.length * reps) });
      sumCpu += cpu / mib;
      sumRatio += out / (buf.length * reps);
      console.log(`${coding}\t${level}\t${name}\t${(cpu / mib).toFixed(0)}\t${(out / (buf.length * reps)).toFixed(4)}`);
    }
    // the corpora weigh the same (each a kind of answer), however many runs the CPU cap allowed
    const n = Object.keys(corpora).length;
    rows.push({ coding, level, corpus: 'all', cpu: sumCpu / n, ratio: sumRatio / n });
    console.log(`${coding}\t${level}\tall\t${(sumCpu / n).toFixed(0)}\t${(sumRatio / n).toFixed(4)}`);
  }
}
}

// memory per open compressor: 200 streams, each fed 64 KiB and left open (the state a slow client
// holds), measured in a fresh process per coding (RSS growth; this one's heap would blur it)
async function memoryPer(coding, level, size) {
  const m0 = process.memoryUsage().rss;
  const open = [];
  for (let i = 0; i < 200; i++) {
    const z = make(coding, level);
    z.on('data', () => {});
    z.write(corpora.api.subarray(i * 512, i * 512 + size));
    open.push(z);
  }
  await new Promise((r) => setTimeout(r, 300));
  return (process.memoryUsage().rss - m0) / 200 / 1024;
}
const memIdx = process.argv.indexOf('--memory');
if (memIdx > 0) {
  const [coding, level] = [process.argv[memIdx + 1], Number(process.argv[memIdx + 2])];
  console.log((await memoryPer(coding, level, 65536)).toFixed(0));
  process.exit(0);
}
console.log('coding\tlevel\trss_kib_per_open_stream (64 KiB written)');
const CHOSEN = { gzip: 5, br: 4, zstd: 3 };
for (const coding of Object.keys(LEVELS)) {
  const kib = Number(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--memory', coding, String(CHOSEN[coding])]).toString());
  rows.push({ coding, level: CHOSEN[coding], corpus: 'memory', cpu: kib, ratio: 0 });
  console.log(`${coding}\t${CHOSEN[coding]}\t${kib}`);
}
if (OUT) writeFileSync(OUT, ['coding\tlevel\tcorpus\tcpu_us_per_mib\tratio', ...rows.map((r) => `${r.coding}\t${r.level}\t${r.corpus}\t${r.cpu.toFixed(1)}\t${r.ratio.toFixed(4)}`)].join('\n') + '\n');
