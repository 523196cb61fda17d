/**
 * Response compression (`compress = ["br", "gzip"]`, issue 29); node:zlib lives behind this file.
 *
 * - `negotiate` picks a coding from Accept-Encoding (q-values, `*`, `x-gzip`; RFC 9110 §12.5.3): the
 *   highest q among the route's codings, ties to the route's order; q=0 refuses. The parse is one
 *   bounded pass: at most MAX_ELEMENTS elements are read, a malformed q-value drops its element.
 * - `planCompression` decides per response: only a response the upstream sent without
 *   Content-Encoding, with a compressible type, of ≥ 1 KiB when its length is known, not 204/206/304,
 *   not `Cache-Control: no-transform`; such a response always gets `Vary: Accept-Encoding` (a cache
 *   must not hand one client's encoding to another), and is compressed when the method is not HEAD
 *   and the client accepts a coding: then Content-Length and Accept-Ranges go (ranges of the
 *   compressed form are another resource) and a strong ETag becomes weak (RFC 9110 §8.8.1: the bytes
 *   differ; If-None-Match compares weakly, so revalidation keeps working).
 * - `Compression` streams one response through a compressor with backpressure both ways: the
 *   upstream is paused while the compressor's input is full, the compressor while the client's
 *   socket is full. Nothing waits for the whole body. An unsized body (chunked: SSE, streamed JSON)
 *   is flushed after every upstream chunk, so each event reaches the client when the upstream sent it.
 *
 * Levels (gzip 5, brotli 4, zstd 3) were chosen by measurement: CPU per MiB against ratio on JSON,
 * JS and text, `bench/compress-levels.mjs`; numbers in docs/performance.md. Window sizes follow the
 * body's length when it is known (as nginx does), so a small response holds a small compressor.
 */
import zlib from 'node:zlib';

/** Coding is a content coding portico can produce. */
export type Coding = 'br' | 'zstd' | 'gzip';

const C = zlib.constants;
/** ZSTD: zstd in this Node (22.15 / 23.8 and later), detected once. */
const ZSTD = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function';

/** LEVELS are the quality levels portico compresses at (measured: docs/performance.md, "Compression"). */
export const LEVELS: Readonly<Record<Coding, number>> = { gzip: 5, br: 4, zstd: 3 };

/** codingAvailable: this Node can produce `coding` (zstd needs Node ≥ 22.15). */
export function codingAvailable(coding: string): coding is Coding {
  return coding === 'gzip' || coding === 'br' || (coding === 'zstd' && ZSTD);
}

/** offeredCodings keeps the codings of a route this Node can produce (null when none: the route does not compress). */
export function offeredCodings(list: readonly string[]): readonly Coding[] | null {
  const out = list.filter(codingAvailable);
  return out.length > 0 ? out : null;
}

/** MIN_SIZE: responses known to be smaller than this are sent as they are (the framing would eat the gain). */
export const MIN_SIZE = 1024;

/** MAX_ELEMENTS: Accept-Encoding elements read (browsers send 4–6; the rest of a longer list is ignored). */
const MAX_ELEMENTS = 64;

/** QVALUE: RFC 9110 §12.4.2 weight: 0 to 1 with at most three decimals. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * negotiate picks the coding for a response from the request's Accept-Encoding and the route's
 * codings (in preference order), or null for identity (absent header, nothing acceptable).
 */
export function negotiate(header: string | string[] | undefined, offered: readonly Coding[]): Coding | null {
  if (header === undefined) return null;
  const v = typeof header === 'string' ? header : header.join(',');
  if (v.length === 0) return null;
  let gzip = -1;
  let br = -1;
  let zstd = -1;
  let star = -1;
  let start = 0;
  for (let n = 0; n < MAX_ELEMENTS && start <= v.length; n++) {
    let end = v.indexOf(',', start);
    if (end < 0) end = v.length;
    const el = v.slice(start, end);
    start = end + 1;
    const semi = el.indexOf(';');
    const name = (semi < 0 ? el : el.slice(0, semi)).trim().toLowerCase();
    if (name === '') continue;
    const q = semi < 0 ? 1 : weight(el.slice(semi + 1));
    if (q < 0) continue; // malformed: the element is ignored
    // the first mention of a coding counts
    if ((name === 'gzip' || name === 'x-gzip') && gzip < 0) gzip = q;
    else if (name === 'br' && br < 0) br = q;
    else if (name === 'zstd' && zstd < 0) zstd = q;
    else if (name === '*' && star < 0) star = q;
  }
  let best: Coding | null = null;
  let bestQ = 0;
  for (const c of offered) {
    const explicit = c === 'gzip' ? gzip : c === 'br' ? br : zstd;
    const q = explicit >= 0 ? explicit : star >= 0 ? star : 0;
    if (q > bestQ) {
      best = c;
      bestQ = q;
    }
  }
  return best;
}

/** weight reads the `q=` parameter of an element's parameters (-1 when malformed; 1 when absent). */
function weight(params: string): number {
  let q = 1;
  for (const p of params.split(';', 8)) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    if (p.slice(0, eq).trim().toLowerCase() !== 'q') continue;
    const val = p.slice(eq + 1).trim();
    if (!QVALUE.test(val)) return -1;
    q = Number(val);
  }
  return q;
}

/** Compressible media types outside text/* and the +json / +xml suffixes. */
const TYPES: ReadonlySet<string> = new Set([
  'application/json', 'application/javascript', 'application/x-javascript', 'application/ecmascript', 'application/xml',
  'application/x-ndjson', 'application/wasm', 'application/yaml', 'application/x-yaml', 'application/toml', 'application/sql',
  'application/rtf', 'application/x-sh', 'application/vnd.ms-fontobject', 'application/x-font-ttf', 'font/ttf', 'font/otf',
  'image/svg+xml', 'image/x-icon', 'image/vnd.microsoft.icon', 'image/bmp',
]);

/** compressibleType: a Content-Type worth compressing (text/*, JSON, JS, XML, SVG, fonts without their own compression…). */
export function compressibleType(contentType: string | string[] | undefined): boolean {
  if (typeof contentType !== 'string') return false;
  const semi = contentType.indexOf(';');
  const t = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return t.startsWith('text/') || TYPES.has(t) || t.endsWith('+json') || t.endsWith('+xml');
}

/** ResponseFields is an upstream response's header object (lower-case names, as undici gives them). */
export type ResponseFields = Record<string, string | string[] | undefined>;

/**
 * planCompression decides for one response: null (untouched), or 'vary' (compressible, but sent as
 * is: HEAD, or the client accepts none of the codings), or the coding to compress with. For every
 * non-null answer it has added `Vary: Accept-Encoding`; for a coding it has rewritten the fields
 * (Content-Encoding set; Content-Length, Accept-Ranges removed; ETag weak).
 */
export function planCompression(method: string | undefined, status: number, h: ResponseFields, acceptEncoding: string | string[] | undefined, offered: readonly Coding[], ifNoneMatch?: string | string[]): Coding | 'vary' | null {
  if (status === 304) {
    notModified(h, ifNoneMatch);
    return null;
  }
  if (status < 200 || status === 204 || status === 206) return null;
  const ce = h['content-encoding'];
  if (ce !== undefined && !(typeof ce === 'string' && ce.trim().toLowerCase() === 'identity')) return null;
  if (h['content-range'] !== undefined || !compressibleType(h['content-type'])) return null;
  const cl = h['content-length'];
  if (typeof cl === 'string' && Number(cl) < MIN_SIZE) return null;
  const cc = h['cache-control'];
  if (cc !== undefined && /no-transform/i.test(typeof cc === 'string' ? cc : cc.join(','))) return null;
  addVary(h);
  const coding = method === 'HEAD' ? null : negotiate(acceptEncoding, offered);
  if (coding === null) return 'vary';
  h['content-encoding'] = coding;
  // delete (not `= undefined`: writeHead refuses undefined values); the compressed path only
  delete h['content-length'];
  delete h['accept-ranges'];
  const etag = h.etag;
  if (typeof etag === 'string' && etag.startsWith('"')) h.etag = `W/${etag}`;
  return coding;
}

/**
 * notModified: a 304 answers a revalidation of what the client holds. When the client sent the weak
 * form of the strong ETag the upstream confirms (`If-None-Match: W/"x"`, `ETag: "x"`), it holds a
 * response portico compressed (and weakened): the 304 names it the same way, so the client's cache
 * keeps matching. A 304 has no body: nothing else changes.
 */
function notModified(h: ResponseFields, ifNoneMatch: string | string[] | undefined): void {
  const etag = h.etag;
  if (typeof etag !== 'string' || !etag.startsWith('"') || ifNoneMatch === undefined) return;
  const inm = typeof ifNoneMatch === 'string' ? ifNoneMatch : ifNoneMatch.join(',');
  if (inm.includes(`W/${etag}`)) h.etag = `W/${etag}`;
}

/** addVary appends Accept-Encoding to Vary unless it is there already or Vary is `*`. */
function addVary(h: ResponseFields): void {
  const v = h.vary;
  if (v === undefined) {
    h.vary = 'Accept-Encoding';
    return;
  }
  const text = typeof v === 'string' ? v : v.join(', ');
  if (/(?:^|,)\s*(?:\*|accept-encoding)\s*(?:,|$)/i.test(text)) return;
  h.vary = text === '' ? 'Accept-Encoding' : `${text}, Accept-Encoding`;
}

/** CompressionSink is what a Compression writes into and reports to (the exchange). */
export interface CompressionSink {
  /** write compressed bytes to the client: false when its buffer is full (the sink then calls `resume` after 'drain') */
  writeCompressed(chunk: Buffer): boolean;
  /** the compressor can take more: the upstream may resume */
  compressorDrained(): void;
  /** every compressed byte was written: end the response */
  compressedEnd(): void;
  /** the compressor failed (portico's fault) */
  compressionFailed(err: Error): void;
}

type Compressor = zlib.Gzip | zlib.BrotliCompress;

/** compressor makes the zlib stream for a coding, its window sized to the body when the length is known. */
function compressor(coding: Coding, size: number | null): Compressor {
  // bits: the window that holds the whole body (nginx shrinks gzip's the same way)
  const bits = size === null ? 99 : Math.ceil(Math.log2(Math.max(size, 2)));
  if (coding === 'gzip') {
    const windowBits = Math.min(15, Math.max(9, bits));
    return zlib.createGzip({ level: LEVELS.gzip, windowBits, memLevel: Math.max(1, windowBits - 7) });
  }
  if (coding === 'br') {
    const params: Record<number, number> = { [C.BROTLI_PARAM_QUALITY]: LEVELS.br, [C.BROTLI_PARAM_LGWIN]: Math.min(19, Math.max(10, bits)) };
    // the size hint shrinks the encoder for small bodies; from 1 MiB on it makes quality 4 switch to a
    // larger hasher: measured +40 % CPU per MiB for 5 % less output (docs/performance.md), so not there
    if (size !== null && size < BIG_BODY) params[C.BROTLI_PARAM_SIZE_HINT] = size;
    return zlib.createBrotliCompress({ params });
  }
  const z = zlib as unknown as { createZstdCompress(o: object): Compressor; constants: Record<string, number> };
  return z.createZstdCompress({ params: { [z.constants.ZSTD_c_compressionLevel!]: LEVELS.zstd, [z.constants.ZSTD_c_windowLog!]: Math.min(19, Math.max(10, bits)) } });
}

/** BIG_BODY: from this length on brotli gets no size hint (see `compressor`). */
const BIG_BODY = 1 << 20;

/** FLUSH is the flush that makes everything written so far decodable, per coding (keeps the dictionary). */
function flushKind(coding: Coding): number {
  if (coding === 'gzip') return C.Z_SYNC_FLUSH;
  if (coding === 'br') return C.BROTLI_OPERATION_FLUSH;
  return (zlib.constants as unknown as Record<string, number>).ZSTD_e_flush!;
}

/**
 * Compression is one response's compressor. `write` returns false when the compressor is full (pause
 * the upstream until `compressorDrained`); output goes to the sink, which returns false when the
 * client is full: the compressor then stops until `resume`. Made only for a compressed response.
 */
export class Compression {
  private readonly z: Compressor;
  private readonly flush: number;
  private waiting = false;

  constructor(
    private readonly sink: CompressionSink,
    coding: Coding,
    /** the body's length when the upstream sent one (null: unsized, flushed per chunk) */
    size: number | null,
  ) {
    this.z = compressor(coding, size);
    this.flush = size === null ? flushKind(coding) : -1;
    this.z.on('data', this.onData);
    this.z.on('end', this.onEnd);
    this.z.on('error', this.onError);
  }

  /** write compresses one upstream chunk; false: the compressor is full, pause the upstream. */
  write(chunk: Buffer): boolean {
    const ok = this.z.write(chunk);
    if (this.flush >= 0) this.z.flush(this.flush);
    if (!ok && !this.waiting) {
      this.waiting = true;
      this.z.once('drain', this.onDrain);
    }
    return ok;
  }

  /** end: the upstream's body is complete; `compressedEnd` follows once the rest is written. */
  end(): void {
    this.z.end();
  }

  /** resume: the client took what was buffered; the compressor may go on. */
  resume(): void {
    this.z.resume();
  }

  /** destroy frees the compressor (the response is over, finished or cut). */
  destroy(): void {
    this.z.off('data', this.onData);
    this.z.destroy();
  }

  private readonly onData = (out: Buffer): void => {
    if (!this.sink.writeCompressed(out)) this.z.pause();
  };

  private readonly onDrain = (): void => {
    this.waiting = false;
    // never inside another exchange's undici parser callback (issue 23): in a microtask, as DrainKit does
    queueMicrotask(this.notifyDrained);
  };

  private readonly notifyDrained = (): void => {
    this.sink.compressorDrained();
  };

  private readonly onEnd = (): void => {
    this.sink.compressedEnd();
  };

  private readonly onError = (err: Error): void => {
    this.sink.compressionFailed(err);
  };
}
