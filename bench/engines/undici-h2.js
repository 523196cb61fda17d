// undici-h2.js: the h2 counterpart of undici-dispatch.js: an http2 secure server (ALPN h2 and
// http/1.1) whose 'stream' handler (core API, no compat objects) dispatches to undici Pools.
// The cheapest h2-to-HTTP/1.1 proxy Node can run: a yardstick for portico's h2 path.
'use strict';
const http2 = require('node:http2');
const { Pool, pkgVersion } = require('./undici-pkg');
const { tlsOptions, upstreams, filterObj, listen } = require('./common');

const pools = upstreams.map((u) => new Pool(u.origin, { connections: 64, pipelining: 1, keepAliveTimeout: 60e3 }));
const { HTTP2_HEADER_STATUS } = http2.constants;

class Handler {
  constructor(stream) { this.stream = stream; this.ctrl = null; }
  onRequestStart(controller) {
    this.ctrl = controller;
    this.stream.on('close', () => { if (!this.stream.writableFinished) controller.abort(new Error('client gone')); });
  }
  onResponseStart(controller, statusCode, headers) {
    if (statusCode < 200) return;
    const h = filterObj(headers);
    h[HTTP2_HEADER_STATUS] = statusCode;
    this.stream.respond(h);
  }
  onResponseData(controller, chunk) {
    if (!this.stream.write(chunk)) { controller.pause(); this.stream.once('drain', () => controller.resume()); }
  }
  onResponseEnd() { this.stream.end(); }
  onResponseError(controller, err) {
    if (!this.stream.headersSent) { this.stream.respond({ ':status': 502 }); this.stream.end('bad gateway\n'); } else this.stream.destroy(err);
  }
}
let next = 0;
const server = http2.createSecureServer({ ...tlsOptions(), allowHTTP1: true });
server.on('stream', (stream, headers, flags, rawHeaders) => {
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = rawHeaders[i];
    if (k.charCodeAt(0) === 58) { if (k === ':authority') out.push('host', rawHeaders[i + 1]); continue; }
    out.push(k, rawHeaders[i + 1]);
  }
  out.push('x-forwarded-for', stream.session.socket.remoteAddress);
  pools[next++ % pools.length].dispatch({
    path: headers[':path'], method: headers[':method'], headers: out,
    body: stream.endAfterHeaders ? null : stream,
  }, new Handler(stream));
});
listen(server, `undici-h2 ${pkgVersion}`);
