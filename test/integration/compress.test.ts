// Compression end to end (issue 29): a real upstream, portico, and clients over h1 and h2 that
// decompress what they get and compare it with what the upstream sent. Negotiation, Vary, weak
// ETags, what stays untouched (206, already encoded, images, small, no-transform, HEAD), an SSE
// stream whose events arrive (decodable) one by one, a large streamed body, zstd where this Node has it.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import t, { type Test } from 'tap';
import { codingAvailable } from '../../src/proxy/compress.js';
import { accessLines, h2Connect, h2Request, proxyConfig, request, startBackend, startProxy, waitUntil } from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

/** JSON of ~20 KiB (compressible, like an API answer). */
const JSON_BODY = JSON.stringify(Array.from({ length: 300 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b', 'c'], price: i * 1.5 })));
/** 2 MiB of text sent in 64 KiB chunks without a length (streamed). */
const BIG = Buffer.from('portico compresses streamed bodies with backpressure. '.repeat(40_000)).subarray(0, 2 * 1024 * 1024);
const PNG = Buffer.alloc(20_000, 7);

/** sse: what the SSE handler waits on before its second event (set by the test once the first one decoded). */
let releaseSecond: (() => void) | null = null;
let secondSentAt = 0;

function upstream(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '/';
  if (path === '/json') {
    // If-None-Match compares weakly (RFC 9110 §13.1.2), as frameworks do: W/"v1" matches "v1"
    const inm = req.headers['if-none-match'];
    if (inm !== undefined && inm.replace(/W\//g, '').includes('"v1"')) return void res.writeHead(304, { etag: '"v1"' }).end();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(JSON_BODY), etag: '"v1"', 'accept-ranges': 'bytes', vary: 'Origin' });
    return void res.end(req.method === 'HEAD' ? undefined : JSON_BODY);
  }
  if (path === '/range') {
    if (req.headers.range === 'bytes=0-99') {
      res.writeHead(206, { 'content-type': 'text/plain', 'content-range': `bytes 0-99/${JSON_BODY.length}`, 'content-length': 100 });
      return void res.end(JSON_BODY.slice(0, 100));
    }
  }
  if (path === '/pre') {
    const gz = zlib.gzipSync(JSON_BODY);
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': gz.length });
    return void res.end(gz);
  }
  if (path === '/png') {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length });
    return void res.end(PNG);
  }
  if (path === '/small') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 11 });
    return void res.end('hello world');
  }
  if (path === '/no-transform') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-transform', 'content-length': Buffer.byteLength(JSON_BODY) });
    return void res.end(JSON_BODY);
  }
  if (path === '/big') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    let off = 0;
    const more = (): void => {
      while (off < BIG.length) {
        const chunk = BIG.subarray(off, off + 65536);
        off += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end();
    };
    return more();
  }
  if (path === '/sse') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(`data: ${'first event '.repeat(20)}\n\n`);
    const second = (): void => {
      secondSentAt = performance.now();
      res.end(`data: ${'second event '.repeat(20)}\n\n`);
    };
    // the test releases the second event once it decoded the first; a proxy that buffers never lets it
    releaseSecond = second;
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(JSON_BODY) });
  res.end(JSON_BODY);
}

async function setup(t: Test, compress = '["br", "gzip"]') {
  const b = await startBackend('c', (req, res) => upstream(req, res));
  t.teardown(() => b.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [b.origin], extra: `compress = ${compress}` }]));
  t.teardown(() => p.close());
  return { b, p };
}

/** decode undoes a Content-Encoding. */
function decode(encoding: string | string[] | undefined, raw: Buffer): Buffer {
  if (encoding === 'gzip') return zlib.gunzipSync(raw);
  if (encoding === 'br') return zlib.brotliDecompressSync(raw);
  if (encoding === 'zstd') return (zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync(raw);
  return raw;
}

t.test('negotiation over real sockets: the coding the client prefers among the route\'s; bodies decode to the original', async (t) => {
  const { p } = await setup(t);
  const cases: Array<[string | undefined, string | undefined]> = [
    ['gzip, deflate, br', 'br'],
    ['gzip', 'gzip'],
    ['br;q=0.5, gzip', 'gzip'],
    ['br;q=0, gzip;q=0', undefined],
    ['*', 'br'],
    [undefined, undefined],
    ['identity', undefined],
  ];
  for (const [ae, want] of cases) {
    const r = await request({ port: p.port, path: '/json', headers: ae === undefined ? {} : { 'accept-encoding': ae } });
    t.equal(r.status, 200);
    t.equal(r.headers['content-encoding'], want, `Accept-Encoding ${ae} → ${want ?? 'identity'}`);
    t.equal(decode(r.headers['content-encoding'], r.raw!).toString(), JSON_BODY, 'decodes to the upstream\'s body');
    t.equal(r.headers.vary, 'Origin, Accept-Encoding', 'Vary: Accept-Encoding added to the upstream\'s Vary, compressed or not');
    if (want === undefined) {
      t.equal(r.headers.etag, '"v1"', 'uncompressed: ETag unchanged');
      t.equal(r.headers['content-length'], String(Buffer.byteLength(JSON_BODY)));
    } else {
      t.equal(r.headers.etag, 'W/"v1"', 'compressed: the ETag is weak');
      t.equal(r.headers['content-length'], undefined, 'no length (chunked)');
      t.equal(r.headers['accept-ranges'], undefined, 'no byte ranges of the compressed form');
      t.ok(r.raw!.length < Buffer.byteLength(JSON_BODY) / 3, `smaller: ${r.raw!.length} of ${Buffer.byteLength(JSON_BODY)} bytes`);
    }
  }
  await waitUntil(() => accessLines(p.logs, '/json').length === cases.length);
  const lines = accessLines(p.logs, '/json');
  t.same(lines.map((l) => l.encoding), ['br', 'gzip', 'gzip', undefined, 'br', undefined, undefined], 'the access line names the coding');
  t.ok((lines[0]!.bytes as number) < Buffer.byteLength(JSON_BODY) / 3, 'and counts the bytes sent (compressed)');
});

t.test('revalidation: the weak ETag of a compressed answer gets a 304 that names it weak too', async (t) => {
  const { p } = await setup(t);
  const first = await request({ port: p.port, path: '/json', headers: { 'accept-encoding': 'gzip' } });
  t.equal(first.headers.etag, 'W/"v1"');
  const again = await request({ port: p.port, path: '/json', headers: { 'accept-encoding': 'gzip', 'if-none-match': first.headers.etag as string } });
  t.equal(again.status, 304);
  t.equal(again.headers.etag, 'W/"v1"', 'the cache keeps matching its stored (compressed) copy');
  const plain = await request({ port: p.port, path: '/json', headers: { 'if-none-match': '"v1"' } });
  t.equal(plain.status, 304);
  t.equal(plain.headers.etag, '"v1"', 'a client holding the uncompressed copy: the strong ETag');
});

t.test('left as they are: 206, already encoded, an image, a small body, no-transform, HEAD', async (t) => {
  const { p } = await setup(t);
  const ae = { 'accept-encoding': 'gzip, br' };
  const range = await request({ port: p.port, path: '/range', headers: { ...ae, range: 'bytes=0-99' } });
  t.equal(range.status, 206);
  t.equal(range.headers['content-encoding'], undefined, '206 untouched');
  t.equal(range.body, JSON_BODY.slice(0, 100));
  t.equal(range.headers['content-range'], `bytes 0-99/${JSON_BODY.length}`);
  const pre = await request({ port: p.port, path: '/pre', headers: ae });
  t.equal(pre.headers['content-encoding'], 'gzip');
  t.equal(zlib.gunzipSync(pre.raw!).toString(), JSON_BODY, 'already encoded: passed through, not encoded twice');
  const png = await request({ port: p.port, path: '/png', headers: ae });
  t.equal(png.headers['content-encoding'], undefined, 'image/png untouched');
  t.same(png.raw, PNG);
  const small = await request({ port: p.port, path: '/small', headers: ae });
  t.equal(small.headers['content-encoding'], undefined, 'under 1 KiB untouched');
  t.equal(small.body, 'hello world');
  const nt = await request({ port: p.port, path: '/no-transform', headers: ae });
  t.equal(nt.headers['content-encoding'], undefined, 'Cache-Control: no-transform honoured');
  t.equal(nt.body, JSON_BODY);
  const head = await request({ port: p.port, path: '/json', method: 'HEAD', headers: ae });
  t.equal(head.status, 200);
  t.equal(head.headers['content-encoding'], undefined, 'HEAD: no encoding announced');
  t.equal(head.headers['content-length'], String(Buffer.byteLength(JSON_BODY)), 'HEAD: the upstream\'s length');
  t.equal(head.headers.vary, 'Origin, Accept-Encoding');
  t.equal(head.raw!.length, 0, 'HEAD: no body');
});

t.test('a 2 MiB streamed body is compressed on the fly (backpressure both ways) and decodes whole, h1 and h2', async (t) => {
  const { p } = await setup(t);
  for (const ae of ['gzip', 'br']) {
    const r = await request({ port: p.port, path: '/big', headers: { 'accept-encoding': ae } });
    t.equal(r.headers['content-encoding'], ae);
    t.ok(decode(ae, r.raw!).equals(BIG), `${ae}: 2 MiB decoded equal (${r.raw!.length} bytes on the wire)`);
  }
  const session = await h2Connect(p.port);
  t.teardown(() => session.close());
  const r = await h2Request(session, { ':path': '/big', 'accept-encoding': 'br' });
  t.equal(r.headers['content-encoding'], 'br');
  t.ok(zlib.brotliDecompressSync(r.body).equals(BIG), 'h2: decoded equal');
  const j = await h2Request(session, { ':path': '/json', 'accept-encoding': 'gzip' });
  t.equal(j.headers['content-encoding'], 'gzip');
  t.equal(j.headers.etag, 'W/"v1"');
  t.equal(j.headers.vary, 'Origin, Accept-Encoding');
  t.equal(zlib.gunzipSync(j.body).toString(), JSON_BODY);
  const head = await h2Request(session, { ':path': '/json', ':method': 'HEAD', 'accept-encoding': 'gzip' });
  t.equal(head.headers['content-encoding'], undefined, 'h2 HEAD untouched');
  t.equal(head.body.length, 0);
});

t.test('SSE: each event is flushed compressed as it comes, never held for the rest of the stream', async (t) => {
  const { p } = await setup(t);
  for (const [ae, decoder] of [['gzip', () => zlib.createGunzip()], ['br', () => zlib.createBrotliDecompress()]] as const) {
    secondSentAt = 0;
    const done = new Promise<{ firstAt: number; text: string; encoding: string | undefined }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: p.port, path: '/sse', servername: 'localhost', rejectUnauthorized: false, headers: { host: `localhost:${p.port}`, 'accept-encoding': ae } }, (res) => {
        const d = decoder();
        let text = '';
        let firstAt = 0;
        res.pipe(d);
        d.on('data', (c: Buffer) => {
          text += c.toString();
          if (firstAt === 0 && text.includes('first event')) {
            firstAt = performance.now();
            releaseSecond?.(); // only now may the upstream send the second event
          }
        });
        d.on('end', () => resolve({ firstAt, text, encoding: res.headers['content-encoding'] }));
        d.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(8000, () => req.destroy(new Error('the first event never arrived decodable: the stream was buffered')));
      req.end();
    });
    const r = await done;
    t.equal(r.encoding, ae, `${ae}: the event stream is compressed`);
    t.ok(r.firstAt > 0 && secondSentAt > r.firstAt, `${ae}: the first event decoded before the upstream sent the second`);
    t.match(r.text, /first event[\s\S]*second event/, 'both events, in order');
  }
});

t.test('zstd: offered where this Node has it, else the next coding', async (t) => {
  const { p } = await setup(t, '["zstd", "gzip"]');
  const r = await request({ port: p.port, path: '/json', headers: { 'accept-encoding': 'zstd, gzip' } });
  const want = codingAvailable('zstd') ? 'zstd' : 'gzip';
  t.equal(r.headers['content-encoding'], want, `Node ${process.version}: ${want}`);
  t.equal(decode(want, r.raw!).toString(), JSON_BODY);
});
