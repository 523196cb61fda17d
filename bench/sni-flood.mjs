#!/usr/bin/env node
/**
 * sni-flood.mjs (issue 27): what attacker-chosen SNI names cost with on-demand TLS on. portico
 * (dist/, built) runs a `hosts = ["*"]` route; clients open TLS connections with random SNI names as
 * fast as they can for DURATION seconds, in three interleaved modes, each on a fresh portico:
 *
 *   off     [acme.on_demand] ask = ""   (unknown names get the default certificate at once)
 *   refuse  ask endpoint answers 403     (every new name: one ask, then cached refusal)
 *   slow    ask endpoint answers after 2 s (names pile up against the caps: 8 asks, 256 in progress)
 *
 * Per run it reports handshakes/s, portico's RSS at start / peak / end and the ask endpoint's hit count;
 * CYCLES rounds of the three (interleaved, so drifts of a shared machine cancel out), then the medians.
 * No order is ever placed (the ACME directory is unreachable on purpose: a refused or unanswered name
 * must not reach it; `ordering certificate` lines are counted and must be 0).
 *
 *   npm run build && node bench/sni-flood.mjs            # CYCLES=3 DURATION=10 CONNS=64
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CYCLES = Number(process.env.CYCLES ?? 3);
const DURATION = Number(process.env.DURATION ?? 10) * 1000;
const CONNS = Number(process.env.CONNS ?? 64);
const MODES = ['off', 'refuse', 'slow'];

function askServer(delayMs) {
  const state = { hits: 0 };
  const server = http.createServer((req, res) => {
    state.hits++;
    setTimeout(() => res.writeHead(403).end(), delayMs);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, state, url: `http://127.0.0.1:${server.address().port}/ask` })));
}

function rssKb(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return 0;
  }
}

async function run(mode) {
  const ask = mode === 'off' ? null : await askServer(mode === 'slow' ? 2000 : 0);
  const dir = mkdtempSync(join(tmpdir(), 'portico-flood-'));
  writeFileSync(join(dir, 'config.toml'), `
[server]
https = "127.0.0.1:0"
http = ""
[storage]
dir = "state"
[acme]
enabled = true
directory = "https://127.0.0.1:9/dir"
challenges = ["tls-alpn-01"]
[acme.on_demand]
ask = "${ask ? ask.url : ''}"
[admin]
listen = ""
[log]
format = "json"
level = "info"
access = false
[[routes]]
hosts = ["*"]
upstreams = ["http://127.0.0.1:9"]
tls = "${mode === 'off' ? 'self-signed' : 'acme'}"
health = { enabled = false }
`);
  const child = spawn(process.execPath, ['--max-semi-space-size=4', join(ROOT, 'dist', 'cli.js'), 'run', '--config', join(dir, 'config.toml')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let port = 0;
  let orders = 0;
  child.stdout.on('data', (d) => {
    out += d.toString();
    const lines = out.split('\n');
    out = lines.pop();
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      const j = JSON.parse(l);
      if (j.msg === 'listening' && j.listener === 'https') port = Number(String(j.address).split(':').pop());
      if (j.msg === 'ordering certificate') orders++;
    }
  });
  while (port === 0) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  const startRss = rssKb(child.pid);
  let peak = startRss;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(child.pid))), 200);
  let done = 0;
  let failed = 0;
  const end = Date.now() + DURATION;
  await Promise.all(Array.from({ length: CONNS }, async () => {
    while (Date.now() < end) {
      await new Promise((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port, servername: `${randomBytes(6).toString('hex')}.flood.example`, rejectUnauthorized: false }, () => {
          done++;
          s.destroy();
          resolve();
        });
        s.setTimeout(15_000, () => s.destroy(new Error('timeout')));
        s.on('error', () => {
          failed++;
          resolve();
        });
      });
    }
  }));
  clearInterval(sampler);
  await new Promise((r) => setTimeout(r, 2500)); // the slow asks finish; caches settle
  const endRss = rssKb(child.pid);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  ask?.server.close();
  rmSync(dir, { recursive: true, force: true });
  return { mode, rate: done / (DURATION / 1000), failed, startRss, peak, endRss, asks: ask?.state.hits ?? 0, orders };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = [];
for (let c = 0; c < CYCLES; c++) {
  for (const mode of c % 2 === 0 ? MODES : [...MODES].reverse()) {
    const r = await run(mode);
    results.push(r);
    process.stderr.write(`cycle ${c + 1} ${mode}: ${r.rate.toFixed(0)} handshakes/s, ${r.failed} failed, RSS ${(r.startRss / 1024).toFixed(1)} → peak ${(r.peak / 1024).toFixed(1)} → ${(r.endRss / 1024).toFixed(1)} MiB, ${r.asks} asks, ${r.orders} orders\n`);
  }
}
const lines = ['| mode | handshakes/s | failed | RSS start MiB | RSS peak MiB | RSS end MiB | asks | orders |', '|---|---|---|---|---|---|---|---|'];
for (const mode of MODES) {
  const rs = results.filter((r) => r.mode === mode);
  const m = (k) => median(rs.map((r) => r[k]));
  lines.push(`| ${mode} | ${m('rate').toFixed(0)} | ${m('failed')} | ${(m('startRss') / 1024).toFixed(1)} | ${(m('peak') / 1024).toFixed(1)} | ${(m('endRss') / 1024).toFixed(1)} | ${m('asks')} | ${Math.max(...rs.map((r) => r.orders))} |`);
}
const off = median(results.filter((r) => r.mode === 'off').map((r) => r.rate));
lines.push('', `handshake rate relative to off: ${MODES.slice(1).map((m) => `${m} ${(median(results.filter((r) => r.mode === m).map((r) => r.rate)) / off).toFixed(2)}`).join(', ')} (medians of ${CYCLES} interleaved cycles of ${DURATION / 1000} s, ${CONNS} connections)`);
process.stdout.write(lines.join('\n') + '\n');
