#!/usr/bin/env node
// tls-probe.cjs: what TLS does the load generator really negotiate? A plain TCP relay that reads the
// cleartext ClientHello and ServerHello of every connection passing through it (nothing is decrypted).
//
//   node tls-probe.cjs LISTEN_PORT TARGET_HOST:PORT SECONDS [BIND]
//
// Point wrk at https://localhost:LISTEN_PORT/ for a second or two; after SECONDS the relay closes and prints
// one JSON line: {"conns":N,"hellos":N,"tls13":N,"tls12":N,"other":N,"psk_offered":N,"resumed":N,
// "hrr":N,"ciphers":{"TLS_AES_256_GCM_SHA384":N},"summary":"..."}
//   psk_offered  ClientHellos with a pre_shared_key extension (the client offers a TLS 1.3 session ticket)
//   resumed      TLS 1.3: the ServerHello selected a PSK (pre_shared_key extension);
//                TLS 1.2: the server echoed the client's non-empty session id (session id or ticket resumption)
// The first connection of each wrk connection slot cannot resume (it has no session yet), so resumed/conns
// is at most 1 - slots/conns; "resumed of offered" is what the server accepted.
'use strict';
const net = require('node:net');

const [listenPort, target, seconds = '2', bind = '127.0.0.1'] = process.argv.slice(2);
if (!listenPort || !target) {
  console.error('usage: tls-probe.cjs LISTEN_PORT TARGET_HOST:PORT SECONDS [BIND]');
  process.exit(2);
}
const ti = target.lastIndexOf(':');
const tHost = target.slice(0, ti), tPort = Number(target.slice(ti + 1));

const CIPHERS = { 0x1301: 'TLS_AES_128_GCM_SHA256', 0x1302: 'TLS_AES_256_GCM_SHA384', 0x1303: 'TLS_CHACHA20_POLY1305_SHA256' };
const HRR = 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c';
const st = { conns: 0, hellos: 0, tls13: 0, tls12: 0, other: 0, psk_offered: 0, resumed: 0, hrr: 0, ciphers: {} };

// Collects the payload of the first handshake message from a TLS record stream; cb(msg) once complete.
function handshakeReader(cb) {
  let buf = Buffer.alloc(0), hs = Buffer.alloc(0), done = false;
  return (chunk) => {
    if (done) return;
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 5) {
      const type = buf[0], len = buf.readUInt16BE(3);
      if (buf.length < 5 + len) return;
      if (type !== 22) { done = true; return cb(null); }   // not a handshake record: give up on this connection
      hs = Buffer.concat([hs, buf.subarray(5, 5 + len)]);
      buf = buf.subarray(5 + len);
      if (hs.length >= 4) {
        const mlen = hs.readUIntBE(1, 3);
        if (hs.length >= 4 + mlen) { done = true; return cb(hs.subarray(0, 4 + mlen)); }
      }
      if (hs.length > 1 << 16) { done = true; return cb(null); }
    }
  };
}
// Parses a ClientHello (type 1) or ServerHello (type 2) -> { type, sessionId, cipher, exts: Map<type, Buffer> }
function parseHello(m) {
  if (!m || (m[0] !== 1 && m[0] !== 2)) return null;
  try {
    let o = 4 + 2;
    const random = m.subarray(o, o + 32); o += 32;
    const sidLen = m[o]; const sessionId = m.subarray(o + 1, o + 1 + sidLen); o += 1 + sidLen;
    let cipher = null;
    if (m[0] === 1) { o += 2 + m.readUInt16BE(o); o += 1 + m[o]; }
    else { cipher = m.readUInt16BE(o); o += 2 + 1; }
    const exts = new Map();
    if (o + 2 <= m.length) {
      const end = o + 2 + m.readUInt16BE(o); o += 2;
      while (o + 4 <= end) {
        const t = m.readUInt16BE(o), l = m.readUInt16BE(o + 2);
        exts.set(t, m.subarray(o + 4, o + 4 + l)); o += 4 + l;
      }
    }
    return { type: m[0], random: random.toString('hex'), sessionId, cipher, exts };
  } catch { return null; }
}

const server = net.createServer((c) => {
  st.conns++;
  const u = net.connect(tPort, tHost);
  let ch = null;
  c.on('data', handshakeReader((m) => {
    ch = parseHello(m);
    if (ch && ch.exts.has(41)) st.psk_offered++;
  }));
  u.on('data', handshakeReader((m) => {
    const sh = parseHello(m);
    if (!sh || sh.type !== 2) { st.other++; return; }
    st.hellos++;
    if (sh.random === HRR) { st.hrr++; return; }
    const sv = sh.exts.get(43);
    const ver = sv && sv.length === 2 ? sv.readUInt16BE(0) : 0x0303;
    const cname = CIPHERS[sh.cipher] || `0x${sh.cipher.toString(16)}`;
    st.ciphers[cname] = (st.ciphers[cname] || 0) + 1;
    if (ver === 0x0304) {
      st.tls13++;
      if (sh.exts.has(41)) st.resumed++;
    } else if (ver === 0x0303) {
      st.tls12++;
      if (ch && ch.sessionId.length > 0 && ch.sessionId.equals(sh.sessionId)) st.resumed++;
    } else st.other++;
  }));
  c.pipe(u); u.pipe(c);
  const kill = () => { c.destroy(); u.destroy(); };
  c.on('error', kill); u.on('error', kill); c.on('close', kill); u.on('close', kill);
});
server.listen(Number(listenPort), bind, () => process.stderr.write(`tls-probe listening on ${bind}:${listenPort}\n`));
setTimeout(() => {
  server.close();
  const pct = (a, b) => (b > 0 ? `${(100 * a / b).toFixed(1)}%` : 'n/a');
  const ver = st.tls13 && !st.tls12 ? 'TLSv1.3' : st.tls12 && !st.tls13 ? 'TLSv1.2' : st.hellos ? `TLSv1.3 ${st.tls13}/TLSv1.2 ${st.tls12}` : 'no handshake seen';
  st.summary = `${ver}, ${Object.keys(st.ciphers).join('+') || 'no cipher'}; ${st.conns} conns, PSK offered ${pct(st.psk_offered, st.conns)}, resumed ${pct(st.resumed, st.conns)} of conns (${pct(st.resumed, st.psk_offered)} of offers)${st.hrr ? `; ${st.hrr} HelloRetryRequests` : ''}`;
  process.stdout.write(JSON.stringify(st) + '\n');
  process.exit(0);
}, Number(seconds) * 1000);
