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

/** Frame types and flags used by the raw client. */
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7 } as const;

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
