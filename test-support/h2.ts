/**
 * HTTP/2 test clients: `h2Connect` (Node's http2 client, for ordinary requests) and `rawH2` (frames
 * written by hand over TLS with ALPN h2, for what a well-behaved client never does: streams beyond
 * the advertised limit, HEADERS + RST_STREAM floods, sessions that send nothing). HPACK is encoded as
 * literals without indexing (always valid); responses are read as frames, not decoded.
 */
import http2 from 'node:http2';
import tls from 'node:tls';

/** h2Connect opens an http2 session to 127.0.0.1:port with SNI `servername` (no verification); resolves once the server's SETTINGS arrived. */
export function h2Connect(port: number, servername = 'localhost', opts: http2.SecureClientSessionOptions = {}): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://${servername}:${port}`, {
      host: '127.0.0.1',
      servername,
      rejectUnauthorized: false,
      ...opts,
    });
    session.once('remoteSettings', () => {
      session.off('error', reject);
      session.on('error', () => undefined);
      resolve(session);
    });
    session.once('error', reject);
  });
}

/** H2Reply is a buffered h2 response. */
export interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** h2Request sends one request on a session and buffers the response; `body` is written then ended. */
export function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': body === undefined ? 'GET' : 'POST', ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => (head = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

/** Frame is one frame read from the server. */
export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** Frame types used by the raw client (RFC 9113 §6). */
export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;

/** Frame flags (RFC 9113 §6): END_STREAM and ACK share a bit, on different frame types. */
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** frame encodes one frame. */
export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

function hpackInt(n: number): Buffer {
  if (n < 127) return Buffer.from([n]);
  const out = [127];
  for (n -= 127; n >= 128; n >>= 7) out.push((n & 127) | 128);
  out.push(n);
  return Buffer.from(out);
}

/** hpack encodes header fields as literals without indexing, new names, no Huffman. */
export function hpack(fields: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of fields) {
    const kb = Buffer.from(k);
    const vb = Buffer.from(v);
    parts.push(Buffer.from([0]), hpackInt(kb.length), kb, hpackInt(vb.length), vb);
  }
  return Buffer.concat(parts);
}

/** headersFrame is a complete request head on `stream` (END_HEADERS; END_STREAM unless `body`). */
export function headersFrame(stream: number, fields: Array<[string, string]>, body = false): Buffer {
  return frame(FRAME.HEADERS, 0x4 | (body ? 0 : 0x1), stream, hpack(fields));
}

/** rstFrame resets `stream` (default code CANCEL). */
export function rstFrame(stream: number, code = http2.constants.NGHTTP2_CANCEL): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, stream, p);
}

/** pingFrame is a PING with 8 bytes of data. */
export function pingFrame(): Buffer {
  return frame(FRAME.PING, 0, 0, Buffer.alloc(8, 1));
}

/** getHead is the pseudo-header list of a GET for `path` on `authority`. */
export function getHead(path: string, authority = 'localhost', extra: Array<[string, string]> = []): Array<[string, string]> {
  return [[':method', 'GET'], [':scheme', 'https'], [':authority', authority], [':path', path], ...extra];
}

/** reqHead is the pseudo-header list of a `method` request for `path` on `authority`. */
export function reqHead(method: string, path: string, authority = 'localhost', extra: Array<[string, string]> = []): Array<[string, string]> {
  return [[':method', method], [':scheme', 'https'], [':authority', authority], [':path', path], ...extra];
}

/** RawH2 is a hand-driven h2 connection; `frames` fills as the server writes. */
export interface RawH2 {
  socket: tls.TLSSocket;
  frames: Frame[];
  /** the socket closed (either side) */
  closed: boolean;
  write(b: Buffer): void;
  /** RST_STREAM frames: stream and error code */
  resets(): Array<{ stream: number; code: number }>;
  /** GOAWAY frames: last stream id and error code */
  goaways(): Array<{ last: number; code: number }>;
  /** streams that got a response HEADERS frame */
  answered(): Set<number>;
  /** a SETTINGS frame without ACK from the server: its values by id */
  serverSettings(): Map<number, number>;
  /** every response header block the server sent, HPACK-decoded in order: stream → fields (HEADERS + CONTINUATION; trailers are a second block) */
  headerBlocks(): Array<{ stream: number; fields: Array<[string, string]> }>;
  /** the :status of each stream's response */
  statuses(): Map<number, number>;
  /** the DATA bytes the server sent on a stream, and whether it ended the stream (END_STREAM on DATA or HEADERS) */
  body(stream: number): { data: Buffer; ended: boolean };
  /** stop reading from the socket (the server's writes back up; SETTINGS and PINGs go unanswered) / read again */
  pause(): void;
  resume(): void;
  close(): void;
}

/**
 * rawH2 connects with ALPN h2, sends the preface and an empty SETTINGS frame (or `settings`), and
 * acknowledges the server's SETTINGS only when `ack` is true (the default): a client that has not
 * acknowledged is still under the protocol's initial values. `allowHalfOpen`: never close our side.
 */
export function rawH2(port: number, opts: { servername?: string; ack?: boolean; settings?: Array<[number, number]>; allowHalfOpen?: boolean } = {}): Promise<RawH2> {
  return new Promise((resolve, reject) => {
    // tls.connect passes allowHalfOpen on to the TLSSocket (@types/node does not list it)
    const connectOpts = { host: '127.0.0.1', port, servername: opts.servername ?? 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false, allowHalfOpen: opts.allowHalfOpen ?? false };
    const socket = tls.connect(connectOpts as tls.ConnectionOptions, () => {
      if (socket.alpnProtocol !== 'h2') return reject(new Error(`ALPN picked ${String(socket.alpnProtocol)}, not h2`));
      const settings = Buffer.alloc(6 * (opts.settings?.length ?? 0));
      (opts.settings ?? []).forEach(([id, v], i) => {
        settings.writeUInt16BE(id, i * 6);
        settings.writeUInt32BE(v, i * 6 + 2);
      });
      socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0, settings)]));
      resolve(conn);
    });
    let buf = Buffer.alloc(0);
    const conn: RawH2 = {
      socket,
      frames: [],
      closed: false,
      write: (b) => socket.write(b),
      resets: () => conn.frames.filter((f) => f.type === FRAME.RST_STREAM).map((f) => ({ stream: f.stream, code: f.payload.readUInt32BE(0) })),
      goaways: () => conn.frames.filter((f) => f.type === FRAME.GOAWAY).map((f) => ({ last: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) })),
      answered: () => new Set(conn.frames.filter((f) => f.type === FRAME.HEADERS).map((f) => f.stream)),
      serverSettings: () => {
        const m = new Map<number, number>();
        const f = conn.frames.find((x) => x.type === FRAME.SETTINGS && (x.flags & 1) === 0);
        for (let i = 0; f && i + 6 <= f.payload.length; i += 6) m.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2));
        return m;
      },
      headerBlocks: () => decodeBlocks(conn.frames),
      statuses: () => {
        const m = new Map<number, number>();
        for (const b of decodeBlocks(conn.frames)) {
          const st = b.fields.find(([k]) => k === ':status');
          if (st && !m.has(b.stream)) m.set(b.stream, Number(st[1]));
        }
        return m;
      },
      body: (stream) => {
        const fs = conn.frames.filter((f) => f.stream === stream);
        const data = Buffer.concat(fs.filter((f) => f.type === FRAME.DATA).map((f) => unpad(f)));
        const ended = fs.some((f) => (f.type === FRAME.DATA || f.type === FRAME.HEADERS) && (f.flags & FLAG.END_STREAM) !== 0);
        return { data, ended };
      },
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      close: () => socket.destroy(),
    };
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const f: Frame = { type: buf[3]!, flags: buf[4]!, stream: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) };
        buf = buf.subarray(9 + len);
        conn.frames.push(f);
        if (f.type === FRAME.SETTINGS && (f.flags & 1) === 0 && opts.ack !== false) socket.write(frame(FRAME.SETTINGS, 1, 0));
        if (f.type === FRAME.PING && (f.flags & 1) === 0) socket.write(frame(FRAME.PING, 1, 0, f.payload));
      }
    });
    socket.on('close', () => (conn.closed = true));
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

// ─── more frames (issue 23: the adversarial suite) ─────────────────────────────────────────────

/** dataFrame carries `data` on `stream` (END_STREAM when `end`). */
export function dataFrame(stream: number, data: Buffer | string, end = false): Buffer {
  return frame(FRAME.DATA, end ? FLAG.END_STREAM : 0, stream, Buffer.from(data));
}

/** headersBlock is a HEADERS frame with the flags given: `endHeaders` false leaves the block open for CONTINUATION frames. */
export function headersBlock(stream: number, block: Buffer, o: { endStream?: boolean; endHeaders?: boolean } = {}): Buffer {
  return frame(FRAME.HEADERS, (o.endStream ? FLAG.END_STREAM : 0) | (o.endHeaders === false ? 0 : FLAG.END_HEADERS), stream, block);
}

/** continuationFrame continues a header block (END_HEADERS when `last`). */
export function continuationFrame(stream: number, block: Buffer, last = false): Buffer {
  return frame(FRAME.CONTINUATION, last ? FLAG.END_HEADERS : 0, stream, block);
}

/** settingsFrame carries [id, value] pairs (an empty SETTINGS when none); `ack` makes it a SETTINGS ACK (no payload). */
export function settingsFrame(pairs: Array<[number, number]> = [], ack = false): Buffer {
  if (ack) return frame(FRAME.SETTINGS, FLAG.ACK, 0);
  const p = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, p);
}

/** goawayFrame: the client closes the connection, naming the last stream it processed and a code (default NO_ERROR). */
export function goawayFrame(lastStream = 0, code = 0): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastStream & 0x7fffffff, 0);
  p.writeUInt32BE(code, 4);
  return frame(FRAME.GOAWAY, 0, 0, p);
}

/** windowUpdateFrame grants `increment` bytes of flow-control credit on `stream` (0: the connection); an increment of 0 is a protocol error. */
export function windowUpdateFrame(stream: number, increment: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment & 0x7fffffff);
  return frame(FRAME.WINDOW_UPDATE, 0, stream, p);
}

/** priorityFrame (RFC 9113 deprecates the scheme; a server must still parse it): `dependsOn` may name the stream itself (a stream error). */
export function priorityFrame(stream: number, dependsOn = 0, weight = 15, exclusive = false): Buffer {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(((exclusive ? 0x80000000 : 0) | (dependsOn & 0x7fffffff)) >>> 0);
  p[4] = weight;
  return frame(FRAME.PRIORITY, 0, stream, p);
}

/** unpad returns a DATA/HEADERS payload without its padding (PADDED flag) and, for HEADERS, its priority fields. */
function unpad(f: Frame): Buffer {
  let p = f.payload;
  let pad = 0;
  if (f.flags & FLAG.PADDED) {
    pad = p[0]!;
    p = p.subarray(1);
  }
  if (f.type === FRAME.HEADERS && f.flags & FLAG.PRIORITY) p = p.subarray(5);
  return p.subarray(0, p.length - pad);
}

/** decodeBlocks HPACK-decodes every header block in `frames` in order (one decoder: the dynamic table is per connection). */
function decodeBlocks(frames: Frame[]): Array<{ stream: number; fields: Array<[string, string]> }> {
  const dec = new HpackDecoder();
  const out: Array<{ stream: number; fields: Array<[string, string]> }> = [];
  let open: { stream: number; parts: Buffer[] } | null = null;
  for (const f of frames) {
    if (f.type === FRAME.HEADERS || f.type === FRAME.PUSH_PROMISE) {
      open = { stream: f.stream, parts: [f.type === FRAME.PUSH_PROMISE ? unpad(f).subarray(4) : unpad(f)] };
    } else if (f.type === FRAME.CONTINUATION && open !== null) {
      open.parts.push(f.payload);
    } else {
      continue;
    }
    if (f.flags & FLAG.END_HEADERS) {
      out.push({ stream: open.stream, fields: dec.decode(Buffer.concat(open.parts)) });
      open = null;
    }
  }
  return out;
}

// HPACK static table (RFC 7541 Appendix A), index 1..61
const STATIC: Array<[string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'],
  [':status', '200'], [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'],
  ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''], ['content-disposition', ''],
  ['content-encoding', ''], ['content-language', ''], ['content-length', ''], ['content-location', ''], ['content-range', ''], ['content-type', ''],
  ['cookie', ''], ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''],
  ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''],
  ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/**
 * HUFFMAN_LENGTHS: the bit length of each symbol's code in HPACK's Huffman code (RFC 7541
 * Appendix B), symbols 0..255 and EOS (256), run-length encoded as [count, length] pairs. The code is
 * canonical (codes of one length are consecutive, in symbol order), so the lengths define it.
 */
const HUFFMAN_LENGTHS: number[] = [
  1, 13, 1, 23, 7, 28, 1, 24, 1, 30, 2, 28, 1, 30, 8, 28, 1, 30, 9, 28,
  1, 6, 2, 10, 1, 12, 1, 13, 1, 6, 1, 8, 1, 11, 2, 10, 1, 8, 1, 11, 1, 8, 3, 6, 3, 5, 7, 6, 1, 7, 1, 8, 1, 15, 1, 6, 1, 12, 1, 10,
  1, 13, 1, 6, 22, 7, 1, 8, 1, 7, 1, 8, 1, 13, 1, 19, 1, 13, 1, 14, 1, 6,
  1, 15, 1, 5, 1, 6, 1, 5, 1, 6, 1, 5, 3, 6, 1, 5, 2, 7, 3, 6, 1, 5, 1, 6, 1, 7, 1, 6, 2, 5, 1, 6, 5, 7, 1, 15, 1, 11, 1, 14, 1, 13, 1, 28,
  1, 20, 1, 22, 2, 20, 3, 22, 1, 23, 1, 22, 5, 23, 1, 24, 1, 23, 2, 24, 1, 22, 1, 23, 1, 24, 4, 23, 1, 21, 1, 22, 1, 23, 1, 22, 2, 23, 1, 24,
  1, 22, 1, 21, 1, 20, 2, 22, 2, 23, 1, 21, 1, 23, 2, 22, 1, 24, 1, 21, 1, 22, 2, 23, 2, 21, 1, 22, 1, 21, 1, 23, 1, 22, 2, 23, 1, 20, 3, 22,
  1, 23, 2, 22, 1, 23, 2, 26, 1, 20, 1, 19, 1, 22, 1, 23, 1, 22, 1, 25, 3, 26, 2, 27, 1, 26, 1, 24, 1, 25, 1, 19, 1, 21, 1, 26, 2, 27, 1, 26,
  1, 27, 1, 24, 2, 21, 2, 26, 1, 28, 3, 27, 1, 20, 1, 24, 1, 20, 1, 21, 1, 22, 2, 21, 1, 23, 2, 22, 2, 25, 2, 24, 1, 26, 1, 23, 1, 26, 1, 27,
  2, 26, 5, 27, 1, 28, 5, 27, 1, 26, 1, 30,
];

/** HUFFMAN_DECODE maps (length, code) → symbol, built once from the canonical lengths. */
const HUFFMAN_DECODE: Map<number, number> = (() => {
  const lens: number[] = [];
  for (let i = 0; i < HUFFMAN_LENGTHS.length; i += 2) for (let n = 0; n < HUFFMAN_LENGTHS[i]!; n++) lens.push(HUFFMAN_LENGTHS[i + 1]!);
  if (lens.length !== 257) throw new Error(`HPACK Huffman table: ${lens.length} symbols, not 257`);
  const order = lens.map((len, sym) => [len, sym] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const m = new Map<number, number>();
  let code = 0;
  let prev = order[0]![0];
  for (const [len, sym] of order) {
    code *= 2 ** (len - prev);
    prev = len;
    m.set(len * 2 ** 32 + code, sym);
    code++;
  }
  return m;
})();

/** huffmanDecode decodes an HPACK Huffman string (trailing padding of up to 7 one-bits is dropped). */
export function huffmanDecode(b: Buffer): string {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const byte of b) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const sym = HUFFMAN_DECODE.get(len * 2 ** 32 + code);
      if (sym !== undefined) {
        if (sym === 256) throw new Error('HPACK: EOS in a Huffman string');
        out.push(sym);
        code = 0;
        len = 0;
      } else if (len > 30) {
        throw new Error('HPACK: invalid Huffman code');
      }
    }
  }
  return Buffer.from(out).toString('latin1');
}

/**
 * HpackDecoder decodes header blocks (RFC 7541): static and dynamic table, literals with and without
 * indexing, Huffman strings, table size updates. One instance per connection direction.
 */
export class HpackDecoder {
  private table: Array<[string, string]> = [];
  private size = 0;
  private max = 4096;

  decode(block: Buffer): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    let i = 0;
    const int = (prefix: number): number => {
      const mask = (1 << prefix) - 1;
      let v = block[i++]! & mask;
      if (v < mask) return v;
      let m = 0;
      let b: number;
      do {
        b = block[i++]!;
        v += (b & 127) * 2 ** m;
        m += 7;
      } while (b & 128);
      return v;
    };
    const str = (): string => {
      const huff = (block[i]! & 0x80) !== 0;
      const n = int(7);
      const raw = block.subarray(i, i + n);
      i += n;
      return huff ? huffmanDecode(raw) : raw.toString('latin1');
    };
    const entry = (idx: number): [string, string] => {
      if (idx >= 1 && idx <= STATIC.length) return STATIC[idx - 1]!;
      const e = this.table[idx - STATIC.length - 1];
      if (e === undefined) throw new Error(`HPACK: index ${idx} out of range`);
      return e;
    };
    while (i < block.length) {
      const b = block[i]!;
      if (b & 0x80) {
        out.push(entry(int(7)));
      } else if (b & 0x40) {
        const idx = int(6);
        const name = idx === 0 ? str() : entry(idx)[0];
        const field: [string, string] = [name, str()];
        out.push(field);
        this.add(field);
      } else if (b & 0x20) {
        this.max = int(5);
        this.evict();
      } else {
        const idx = int(4); // without indexing (0000) or never indexed (0001)
        const name = idx === 0 ? str() : entry(idx)[0];
        out.push([name, str()]);
      }
    }
    return out;
  }

  private add(f: [string, string]): void {
    this.table.unshift(f);
    this.size += f[0].length + f[1].length + 32;
    this.evict();
  }

  private evict(): void {
    while (this.size > this.max && this.table.length > 0) {
      const e = this.table.pop()!;
      this.size -= e[0].length + e[1].length + 32;
    }
  }
}

/** hpackRaw encodes header fields as literals without indexing exactly as given (bytes, no validation): for names and values a real client would refuse to send. */
export function hpackRaw(fields: Array<[string | Buffer, string | Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of fields) {
    const kb = typeof k === 'string' ? Buffer.from(k, 'latin1') : k;
    const vb = typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
    parts.push(Buffer.from([0]), hpackInt(kb.length), kb, hpackInt(vb.length), vb);
  }
  return Buffer.concat(parts);
}
