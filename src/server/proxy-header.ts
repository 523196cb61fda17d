/**
 * The PROXY protocol header (HAProxy's spec, versions 1 and 2) that an L4 load balancer puts in front
 * of a connection to say who the client is. Pure parsing, no I/O: `parseProxyHeader` is given the
 * bytes received so far and says whether they are a whole header (and how long), a prefix of one
 * (wait for more), or not a header at all. It never throws and never reads past what it was given
 * (fuzzed in test/adversarial/proxy-header.test.ts).
 *
 * - v1: `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` (at most 107 bytes), or `PROXY UNKNOWN…\r\n`.
 * - v2: a 12-byte signature, version/command, family/protocol, a 16-bit length, the addresses, TLVs.
 *   LOCAL (the balancer's own health check), UNSPEC and AF_UNIX carry no client address: the
 *   connection's own peer is the client then.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** ProxyClient is the client a header names. */
export interface ProxyClient {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** ProxyHeaderResult: `more` (a valid prefix, wait), `bad` (close), or `ok` with the header's length. */
export type ProxyHeaderResult =
  | { kind: 'more' }
  | { kind: 'bad'; reason: string }
  /** client null: LOCAL / UNKNOWN / UNSPEC / AF_UNIX (the connection's own peer is the client) */
  | { kind: 'ok'; length: number; version: 1 | 2; client: ProxyClient | null };

/** V1_MAX is the longest v1 header, CRLF included. */
export const V1_MAX = 107;
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** V2_SIGNATURE starts every v2 header. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

const MORE: ProxyHeaderResult = { kind: 'more' };
const bad = (reason: string): ProxyHeaderResult => ({ kind: 'bad', reason });

/** prefixOf: the first min(len) bytes of `buf` equal those of `sig`. */
function prefixOf(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  return buf.subarray(0, n).equals(sig.subarray(0, n));
}

/** looksLikeProxyHeader tells whether bytes start like a PROXY header (v1 or v2), to refuse one from a peer not listed. */
export function looksLikeProxyHeader(buf: Buffer): boolean {
  if (buf.length === 0) return false;
  if (buf[0] === 0x50) return buf.length >= 5 && prefixOf(buf, V1_PREFIX);
  return buf[0] === 0x0d && buf.length >= 5 && prefixOf(buf, V2_SIGNATURE);
}

/** couldBeProxyHeader: the bytes so far may begin a PROXY header (v1 or v2); false once they cannot. */
export function couldBeProxyHeader(buf: Buffer): boolean {
  return prefixOf(buf, V1_PREFIX) || prefixOf(buf, V2_SIGNATURE);
}

/** parseProxyHeader reads a header at the start of `buf` (see the file comment). */
export function parseProxyHeader(buf: Buffer): ProxyHeaderResult {
  if (buf.length === 0) return MORE;
  if (buf[0] === 0x50) return prefixOf(buf, V1_PREFIX) ? parseV1(buf) : bad('not a PROXY protocol header');
  if (buf[0] === 0x0d) return prefixOf(buf, V2_SIGNATURE) ? parseV2(buf) : bad('not a PROXY protocol header');
  return bad('no PROXY protocol header');
}

const PORT = /^(0|[1-9]\d{0,4})$/;

function parseV1(buf: Buffer): ProxyHeaderResult {
  const lf = buf.indexOf(0x0a);
  if (lf === -1) return buf.length >= V1_MAX ? bad('v1 header longer than 107 bytes') : MORE;
  if (buf[lf - 1] !== 0x0d) return bad('v1 header must end with CRLF');
  const end = lf - 1;
  if (end + 2 > V1_MAX) return bad('v1 header longer than 107 bytes');
  const line = buf.toString('latin1', V1_PREFIX.length, end);
  const parts = line.split(' ');
  if (parts[0] === 'UNKNOWN') return { kind: 'ok', length: end + 2, version: 1, client: null };
  if (parts.length !== 5) return bad('v1 header needs protocol, two addresses and two ports');
  const [proto, src, dst, sport, dport] = parts as [string, string, string, string, string];
  const is = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : null;
  if (is === null) return bad(`v1 header protocol must be TCP4, TCP6 or UNKNOWN`);
  if (!is(src) || !is(dst)) return bad(`v1 header addresses are not ${proto} addresses`);
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535) return bad('v1 header ports must be 0..65535');
  return { kind: 'ok', length: end + 2, version: 1, client: { address: src, port: Number(sport), family: proto === 'TCP4' ? 'IPv4' : 'IPv6' } };
}

/** ADDRESS_BYTES: the size of the address block per v2 family (INET, INET6, UNIX). */
const ADDRESS_BYTES: Readonly<Record<number, number>> = { 0x1: 12, 0x2: 36, 0x3: 216 };

function parseV2(buf: Buffer): ProxyHeaderResult {
  if (buf.length < 16) return MORE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return bad('v2 header version must be 2');
  const command = verCmd & 0x0f;
  if (command > 1) return bad('v2 header command must be LOCAL or PROXY');
  const family = buf[13]! >> 4;
  const proto = buf[13]! & 0x0f;
  const length = buf.readUInt16BE(14);
  const total = 16 + length;
  if (family > 3) return bad('v2 header address family unknown');
  if (proto > 2) return bad('v2 header transport protocol unknown');
  if (family !== 0 && length < ADDRESS_BYTES[family]!) return bad('v2 header address block too short for its family');
  if (buf.length < total) return MORE;
  // LOCAL: the balancer speaks for itself (health checks); UNSPEC and AF_UNIX name no IP client
  if (command === 0 || family === 0 || family === 3) return { kind: 'ok', length: total, version: 2, client: null };
  if (proto !== 1) return bad('v2 header transport must be STREAM (TCP)');
  if (family === 1) {
    const address = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`;
    return { kind: 'ok', length: total, version: 2, client: { address, port: buf.readUInt16BE(24), family: 'IPv4' } };
  }
  return { kind: 'ok', length: total, version: 2, client: { address: ipv6Text(buf.subarray(16, 32)), port: buf.readUInt16BE(48), family: 'IPv6' } };
}

/** ipv6Text renders 16 bytes as an IPv6 address (compressed the way Node prints socket addresses). */
function ipv6Text(b: Buffer): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(b.readUInt16BE(i));
  // ::ffff:a.b.c.d, as a dual-stack socket reports an IPv4 peer
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best === -1) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
