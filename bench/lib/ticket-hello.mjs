#!/usr/bin/env node
// ticket-hello.mjs: an https server that answers "Hello, world" itself (no upstream), for bench/ab.sh's
// `close` scenario: what Node's TLS session-ticket handling costs without portico around it (issue 26).
//
//   node bench/lib/ticket-hello.mjs keys|accept|renew [portico]        (PORT, CERT, KEY from bench/ab.sh)
//   keys    server.setTicketKeys (Node's own handling: no new ticket on a resumed TLS 1.3 connection)
//   accept  the ticket-key callback (SecureContext.enableTicketKeyCallback), accepting without renewal
//   renew   the callback answering "renew" for every ticket it knows, as src/tls/ticket-keys.ts does
//   portico shape the listener like portico's: an SNICallback returning another context (same
//           certificate), portico-like cipher options (TLS 1.2 minimum, server order), a fixed session id
//           context, an ALPN callback
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const [mode, shape] = process.argv.slice(2);
if (!['keys', 'accept', 'renew'].includes(mode)) {
  console.error('usage: ticket-hello.mjs keys|accept|renew [portico]');
  process.exit(2);
}
const key = randomBytes(48);
const cur = { name: key.subarray(0, 16), hmac: key.subarray(16, 32), aes: key.subarray(32, 48) };
const dummy = randomBytes(16);
const pems = { cert: readFileSync(process.env.CERT), key: readFileSync(process.env.KEY) };
let options = pems;
if (shape === 'portico') {
  const opts = { minVersion: 'TLSv1.2', ciphers: 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256', honorCipherOrder: true };
  const sniCtx = tls.createSecureContext({ ...pems, ...opts });
  options = {
    ...pems, ...opts, sessionIdContext: 'portico',
    SNICallback: (_name, cb) => cb(null, sniCtx),
    ALPNCallback: ({ protocols }) => (protocols.includes('http/1.1') ? 'http/1.1' : undefined),
  };
}
const server = https.createServer(options, (_req, res) => res.end('Hello, world\n'));
if (mode === 'keys') server.setTicketKeys(key);
else {
  const ctx = server._sharedCreds.context;
  const answer = mode === 'renew' ? 2 : 1;
  ctx.enableTicketKeyCallback();
  ctx.onticketkeycallback = (name, _iv, encrypt) => {
    if (encrypt) return [1, cur.hmac, cur.aes, cur.name, randomBytes(16)];
    if (name.equals(cur.name)) return [answer, cur.hmac, cur.aes];
    return [0, dummy, dummy];
  };
}
server.listen(Number(process.env.PORT), '127.0.0.1');
