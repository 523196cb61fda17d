#!/usr/bin/env node
// soak-client.cjs: HTTPS load with clients that give up at random points (wrk cannot do this), for bench/soak.sh.
// Raw tls.connect over a net.Socket (no HTTP client library: the client decides byte by byte when to give up).
//
// Env: PORT (TLS port), HOST=127.0.0.1, SNI=localhost, CA (PEM to verify with; unset = no verification),
//      CONCURRENCY=16 (parallel clients), SECONDS=60, STATS (file rewritten every second with the running counts),
//      SEED (PRNG seed; default: time), BIG_PATH=/1m (a 1 MiB response), SMALL_PATH=/ ("Hello, world\n").
// Each client loops over actions picked at random (weights below):
//   ok_get       1-5 keep-alive GET / on one connection, each checked (200, body "Hello, world\n"); then, half of the
//                time, a GET of the 1 MiB body on the same connection, read in full and checked (length)
//   ok_post      POST a 1 B-1 MiB body (Content-Length), checked (200)
//   abort_resp   GET the 1 MiB body, abort after a random share of the response (0..100 % of its bytes)
//   abort_body   POST announcing 64 KiB-4 MiB, abort after sending a random share of it (mid request body). An
//                early 200 (the upstream may answer before it read the body) is counted, not an error.
//   POSTs go half to UPLOAD_PATH=/upload (the bench upstream reads the whole body before answering) and half
//   to SMALL_PATH (it answers at once and discards the body).
//   abort_head   send a random prefix of the request head, then abort (mid request headers)
//   abort_wait   send a full GET of the 1 MiB body and abort before reading anything
//   abort_tls    abort during the TLS handshake (right after TCP connect) or right after it (no request)
// An abort is hard (socket destroyed at once: RST when response bytes are unread, else FIN) or soft (close_notify +
// FIN), half each.
// Errors = anything that fails BEFORE the client chose to abort: unexpected status or body, connection closed or
// reset by the server, TLS failure, or no progress for 15 s. They must stay at 0. Final JSON on stdout.
'use strict';
const net = require('node:net');
const tls = require('node:tls');
const fs = require('node:fs');

const PORT = Number(process.env.PORT);
const HOST = process.env.HOST || '127.0.0.1';
const SNI = process.env.SNI || 'localhost';
const CA = process.env.CA ? fs.readFileSync(process.env.CA) : null;
const CONC = Number(process.env.CONCURRENCY || 16);
const SECONDS = Number(process.env.SECONDS || 60);
const STATS = process.env.STATS || '';
const BIG = process.env.BIG_PATH || '/1m';
const SMALL = process.env.SMALL_PATH || '/';
const UPLOAD = process.env.UPLOAD_PATH || '/upload';
const HELLO = 'Hello, world\n';
const BIG_LEN = 1 << 20;
const STALL_MS = 15000;
let seed = Number(process.env.SEED || Date.now()) >>> 0;
const rnd = () => { // mulberry32
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const between = (a, b) => a + Math.floor(rnd() * (b - a + 1));

const WEIGHTS = [['ok_get', 25], ['ok_post', 10], ['abort_resp', 25], ['abort_body', 15], ['abort_head', 10], ['abort_wait', 8], ['abort_tls', 7]];
const TOTAL_W = WEIGHTS.reduce((s, [, w]) => s + w, 0);
const pick = () => { let x = rnd() * TOTAL_W; for (const [k, w] of WEIGHTS) { if ((x -= w) < 0) return k; } return 'ok_get'; };

const stats = { started_at: new Date().toISOString(), seconds: SECONDS, concurrency: CONC, actions: 0, requests_ok: 0, aborts: 0, aborts_hard: 0,
  errors: 0, answered_early: 0, by_action: {}, error_samples: [], bytes_in: 0, bytes_out: 0 };
for (const [k] of WEIGHTS) stats.by_action[k] = { n: 0, ok: 0, aborted: 0, errors: 0 };
const error = (action, msg) => {
  stats.errors++; stats.by_action[action].errors++;
  if (stats.error_samples.length < 20) stats.error_samples.push(`${new Date().toISOString()} ${action}: ${msg}`);
};

const big = Buffer.alloc(4 << 20, 'x');

/** One connection: a net.Socket we own, TLS on top. Resolves with helpers; rejects on handshake failure. */
function connect(onEvent) {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: HOST, port: PORT });
    raw.setNoDelay(true);
    const opts = { socket: raw, servername: SNI, ALPNProtocols: ['http/1.1'] };
    if (CA) opts.ca = CA; else opts.rejectUnauthorized = false;
    if (onEvent === 'raw') {
      raw.once('connect', () => resolve({ raw, sock: null }));
      raw.once('error', reject);
      return;
    }
    const sock = tls.connect(opts);
    sock.once('secureConnect', () => resolve({ raw, sock }));
    sock.once('error', reject);
  });
}
/**
 * Abort, at random: hard = close the socket at once (close(2); the kernel sends a TCP RST when response bytes are
 * still unread, else a FIN), or soft = TLS close_notify + FIN (end), the socket destroyed 50 ms later.
 * (net.Socket#resetAndDestroy() on the TCP socket under a TLSSocket crashes Node 20 with SIGSEGV, so it is not used.)
 */
function abort(c) {
  stats.aborts++;
  if (rnd() < 0.5) {
    stats.aborts_hard++;
    c.sock?.destroy(); c.raw.destroy();
  } else {
    if (c.sock) c.sock.end(); else c.raw.end();
    setTimeout(() => { c.sock?.destroy(); c.raw.destroy(); }, 50).unref();
  }
}

/**
 * Reads HTTP/1.1 responses from a TLS socket. next(limit) resolves with { status, headers, body(Buffer|len) } for one
 * response; with `stopAfter` bytes of body it resolves early with { partial: true } (the caller then aborts).
 */
function reader(sock) {
  let buf = Buffer.alloc(0), waiter = null, ended = null;
  const kick = () => { if (waiter) waiter(); };
  sock.on('data', (d) => { stats.bytes_in += d.length; buf = buf.length ? Buffer.concat([buf, d]) : d; kick(); });
  sock.on('end', () => { ended = ended || 'server closed the connection'; kick(); });
  sock.on('close', () => { ended = ended || 'connection closed'; kick(); });
  sock.on('error', (e) => { ended = `socket error: ${e.code || e.message}`; kick(); });
  return {
    next(stopAfter = Infinity) {
      return new Promise((resolve, reject) => {
        let head = null, need = -1, chunked = false, got = 0, keep = [];
        let timer = setTimeout(() => { waiter = null; reject(new Error('no progress for 15 s')); }, STALL_MS);
        const bump = () => { clearTimeout(timer); timer = setTimeout(() => { waiter = null; reject(new Error('no progress for 15 s')); }, STALL_MS); };
        const finish = (v) => { clearTimeout(timer); waiter = null; resolve(v); };
        const fail = (m) => { clearTimeout(timer); waiter = null; reject(new Error(m)); };
        const step = () => {
          bump();
          if (head === null) {
            const i = buf.indexOf('\r\n\r\n');
            if (i < 0) { if (ended) fail(`${ended} before the response head`); return; }
            const lines = buf.subarray(0, i).toString('latin1').split('\r\n');
            buf = buf.subarray(i + 4);
            const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
            if (!m) return fail(`bad status line ${JSON.stringify(lines[0].slice(0, 40))}`);
            head = { status: Number(m[1]), headers: {} };
            for (const l of lines.slice(1)) { const k = l.indexOf(':'); if (k > 0) head.headers[l.slice(0, k).trim().toLowerCase()] = l.slice(k + 1).trim(); }
            chunked = /chunked/i.test(head.headers['transfer-encoding'] || '');
            need = chunked ? -1 : Number(head.headers['content-length'] ?? 0);
          }
          // body
          if (!chunked) {
            const take = Math.min(buf.length, need - got);
            if (take > 0) { if (got < 64) keep.push(buf.subarray(0, Math.min(take, 64))); got += take; buf = buf.subarray(take); }
            if (got >= stopAfter && got < need) return finish({ ...head, partial: true, got });
            if (got >= need) return finish({ ...head, got, body: Buffer.concat(keep).toString('latin1') });
            if (ended) fail(`${ended} after ${got} of ${need} body bytes`);
            return;
          }
          for (;;) {   // chunked: <hex>\r\n<data>\r\n ... 0\r\n\r\n
            const j = buf.indexOf('\r\n');
            if (j < 0) break;
            const size = parseInt(buf.subarray(0, j).toString('latin1'), 16);
            if (Number.isNaN(size)) return fail('bad chunk size');
            if (size === 0) {
              if (buf.length < j + 4) break;
              buf = buf.subarray(j + 4);
              return finish({ ...head, got, body: Buffer.concat(keep).toString('latin1') });
            }
            if (buf.length < j + 2 + size + 2) {
              if (got + (buf.length - j - 2) >= stopAfter) return finish({ ...head, partial: true, got });
              break;
            }
            if (got < 64) keep.push(buf.subarray(j + 2, j + 2 + Math.min(size, 64)));
            got += size; buf = buf.subarray(j + 2 + size + 2);
            if (got >= stopAfter) return finish({ ...head, partial: true, got });
          }
          if (ended) fail(`${ended} in a chunked body after ${got} bytes`);
        };
        waiter = step; step();
      });
    },
  };
}
const write = (sock, data) => { stats.bytes_out += data.length; return sock.write(data); };
const reqHead = (method, path, extra = '') => `${method} ${path} HTTP/1.1\r\nHost: ${SNI}\r\nUser-Agent: portico-soak\r\n${extra}\r\n`;
const drain = (sock) => new Promise((r) => sock.once('drain', r));

async function action(kind) {
  stats.actions++; stats.by_action[kind].n++;
  const a = stats.by_action[kind];
  let c = null, aborted = false;
  const doAbort = () => { aborted = true; a.aborted++; abort(c); };
  try {
    if (kind === 'abort_tls') {
      if (rnd() < 0.5) {            // during the handshake: TCP connected, ClientHello maybe on the wire
        c = await connect('raw');
        const sock = tls.connect({ socket: c.raw, servername: SNI, rejectUnauthorized: false });
        sock.on('error', () => {});
        c.sock = sock;
        await new Promise((r) => setTimeout(r, between(0, 3)));
      } else {
        c = await connect();
      }
      doAbort();
      return;
    }
    c = await connect();
    const r = reader(c.sock);
    switch (kind) {
      case 'ok_get': {
        const k = between(1, 5);
        for (let i = 0; i < k; i++) {
          write(c.sock, reqHead('GET', SMALL));
          const res = await r.next();
          if (res.status !== 200 || res.body !== HELLO) throw new Error(`GET ${SMALL}: status ${res.status}, body ${JSON.stringify(res.body?.slice(0, 30))}`);
          stats.requests_ok++;
        }
        if (rnd() < 0.5) {
          write(c.sock, reqHead('GET', BIG));
          const res = await r.next();
          if (res.status !== 200 || res.got !== BIG_LEN) throw new Error(`GET ${BIG}: status ${res.status}, ${res.got} bytes`);
          stats.requests_ok++;
        }
        a.ok++;
        c.sock.end();
        return;
      }
      case 'ok_post': {
        const n = between(1, 1 << 20), to = rnd() < 0.5 ? UPLOAD : SMALL;
        write(c.sock, reqHead('POST', to, `Content-Type: application/octet-stream\r\nContent-Length: ${n}\r\n`));
        if (!write(c.sock, big.subarray(0, n))) await drain(c.sock);
        const res = await r.next();
        if (res.status !== 200 || res.body !== HELLO) throw new Error(`POST ${to} (${n} B): status ${res.status}`);
        stats.requests_ok++; a.ok++;
        c.sock.end();
        return;
      }
      case 'abort_resp': {
        write(c.sock, reqHead('GET', BIG));
        const stopAt = Math.floor(rnd() * BIG_LEN);
        const res = await r.next(stopAt);
        if (res.status !== 200) throw new Error(`GET ${BIG}: status ${res.status} before the abort`);
        if (!res.partial) { stats.requests_ok++; a.ok++; c.sock.end(); return; }   // stopAt fell at the very end
        doAbort();
        return;
      }
      case 'abort_body': {
        const n = between(64 << 10, 4 << 20), send = Math.floor(rnd() * n), to = rnd() < 0.5 ? UPLOAD : SMALL;
        write(c.sock, reqHead('POST', to, `Content-Type: application/octet-stream\r\nContent-Length: ${n}\r\n`));
        let sent = 0;
        let early = null;
        r.next().then((res) => {
          if (res.status === 200) stats.answered_early++;
          else early = `POST ${to}: response ${res.status} while the body was being sent`;
        }, () => {});
        while (sent < send && !early) {
          const piece = Math.min(send - sent, between(1, 64 << 10));
          if (!write(c.sock, big.subarray(0, piece))) await Promise.race([drain(c.sock), new Promise((res) => setTimeout(res, STALL_MS))]);
          sent += piece;
          if (c.sock.destroyed) throw new Error(`connection closed after ${sent} of ${n} body bytes`);
        }
        if (early) throw new Error(early);
        doAbort();
        return;
      }
      case 'abort_head': {
        const h = reqHead('GET', SMALL, 'Accept: */*\r\nX-Soak: 1\r\n');
        write(c.sock, h.slice(0, between(0, h.length - 2)));
        await new Promise((res) => setTimeout(res, between(0, 20)));
        doAbort();
        return;
      }
      case 'abort_wait': {
        write(c.sock, reqHead('GET', BIG));
        await new Promise((res) => setTimeout(res, between(0, 5)));
        doAbort();
        return;
      }
      default: throw new Error(kind);
    }
  } catch (e) {
    if (!aborted) error(kind, e.message || String(e));
    if (c) { c.sock?.destroy(); c.raw.destroy(); }
  }
}

const deadline = Date.now() + SECONDS * 1000;
const writeStats = () => {
  if (!STATS) return;
  stats.elapsed_s = Math.round((Date.now() - (deadline - SECONDS * 1000)) / 100) / 10;
  fs.writeFileSync(`${STATS}.tmp`, JSON.stringify(stats));
  fs.renameSync(`${STATS}.tmp`, STATS);
};
const statsTimer = setInterval(writeStats, 1000);
async function worker() { while (Date.now() < deadline) await action(pick()); }
Promise.all(Array.from({ length: CONC }, worker)).then(() => {
  clearInterval(statsTimer);
  writeStats();
  process.stdout.write(JSON.stringify(stats) + '\n');
  setTimeout(() => process.exit(0), 100);
});
