/**
 * Issue 25: the PROXY protocol header parser (src/server/proxy-header.ts), by example and fuzzed
 * (fast-check). Properties: it never throws; a result is `more` only for a strict prefix of
 * something that could still become a header, and then every extension of those bytes by a
 * complete header's tail parses; an `ok` length never exceeds the input and parsing the bytes
 * after more data is appended gives the same header (the header ends where it says); every header
 * generated from random addresses parses back to those addresses, split anywhere.
 *
 * The listener side (a real HAProxy with send-proxy / send-proxy-v2, refusals, timeouts) is
 * test/integration/proxy-protocol.test.ts.
 */
import fc from 'fast-check';
import t from 'tap';
import { couldBeProxyHeader, looksLikeProxyHeader, parseProxyHeader, V2_SIGNATURE } from '../../src/server/proxy-header.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? 20251225);

/** v2 builds a v2 header: command (0 LOCAL, 1 PROXY), family/protocol byte, address block, TLV bytes. */
function v2(command: number, famProto: number, addresses: Buffer, tlvs: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(16);
  V2_SIGNATURE.copy(head);
  head[12] = 0x20 | command;
  head[13] = famProto;
  head.writeUInt16BE(addresses.length + tlvs.length, 14);
  return Buffer.concat([head, addresses, tlvs]);
}

function inet4(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from(src).copy(b, 0);
  Buffer.from(dst).copy(b, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

function inet6(src: Buffer, dst: Buffer, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(36);
  src.copy(b, 0);
  dst.copy(b, 16);
  b.writeUInt16BE(sport, 32);
  b.writeUInt16BE(dport, 34);
  return b;
}

t.test('v1 by example', async (t) => {
  const ok = parseProxyHeader(Buffer.from('PROXY TCP4 127.0.0.5 127.0.0.1 40000 8443\r\nGET / HTTP/1.1\r\n'));
  t.same(ok, { kind: 'ok', length: 43, version: 1, client: { address: '127.0.0.5', port: 40000, family: 'IPv4' } });
  const six = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 1 65535\r\n'));
  t.same(six, { kind: 'ok', length: 36, version: 1, client: { address: '2001:db8::1', port: 1, family: 'IPv6' } });
  t.same(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'ok', length: 15, version: 1, client: null });
  t.same(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ::1 1 2\r\n')).kind, 'ok');
  t.same(parseProxyHeader(Buffer.from('PROX')), { kind: 'more' }, 'a prefix waits');
  t.same(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4')), { kind: 'more' });
  for (const bad of [
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'PROXY TCP4 ::1 ::1 1 2\r\n',
    'PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n', 'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'PROXY TCP4 256.1.1.1 5.6.7.8 1 2\r\n', 'GET / HTTP/1.1\r\n', 'PROXYTCP4\r\n',
    `PROXY TCP4 ${'1'.repeat(120)}`, `PROXY UNKNOWN ${'x'.repeat(100)}\r\n`,
  ]) {
    t.equal(parseProxyHeader(Buffer.from(bad)).kind, 'bad', JSON.stringify(bad.slice(0, 40)));
  }
});

t.test('v2 by example', async (t) => {
  const h = v2(1, 0x11, inet4([127, 0, 0, 5], [127, 0, 0, 1], 40000, 8443));
  t.same(parseProxyHeader(Buffer.concat([h, Buffer.from('\x16\x03\x01')])), { kind: 'ok', length: 28, version: 2, client: { address: '127.0.0.5', port: 40000, family: 'IPv4' } });
  const six = v2(1, 0x21, inet6(Buffer.from('20010db8000000000000000000000001', 'hex'), Buffer.alloc(16), 443, 8443));
  t.same(parseProxyHeader(six), { kind: 'ok', length: 52, version: 2, client: { address: '2001:db8::1', port: 443, family: 'IPv6' } });
  const mapped = v2(1, 0x21, inet6(Buffer.from('00000000000000000000ffff7f000005', 'hex'), Buffer.alloc(16), 1, 2));
  t.equal((parseProxyHeader(mapped) as { client: { address: string } }).client.address, '::ffff:127.0.0.5');
  const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_NOOP
  t.equal((parseProxyHeader(v2(1, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2), tlv)) as { length: number }).length, 34, 'TLVs are skipped');
  t.same(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0))), { kind: 'ok', length: 16, version: 2, client: null }, 'LOCAL: the balancer itself');
  t.same(parseProxyHeader(v2(0, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))).kind, 'ok', 'LOCAL with addresses: ignored');
  t.same((parseProxyHeader(v2(1, 0x31, Buffer.alloc(216))) as { client: unknown }).client, null, 'AF_UNIX: no IP client');
  t.same(parseProxyHeader(h.subarray(0, 20)), { kind: 'more' });
  t.same(parseProxyHeader(V2_SIGNATURE.subarray(0, 5)), { kind: 'more' });
  const bad = (b: Buffer, why: string) => t.equal(parseProxyHeader(b).kind, 'bad', why);
  bad(Buffer.concat([V2_SIGNATURE.subarray(0, 11), Buffer.from([0x0b])]), 'wrong signature');
  const v1cmd = Buffer.from(h);
  v1cmd[12] = 0x11;
  bad(v1cmd, 'version 1 in a v2 header');
  const cmd2 = Buffer.from(h);
  cmd2[12] = 0x22;
  bad(cmd2, 'unknown command');
  bad(v2(1, 0x41, Buffer.alloc(12)), 'unknown family');
  bad(v2(1, 0x12, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), 'UDP');
  bad(v2(1, 0x13, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), 'unknown transport');
  bad(v2(1, 0x11, Buffer.alloc(11)), 'INET block too short');
  bad(v2(1, 0x21, Buffer.alloc(35)), 'INET6 block too short');
  bad(v2(1, 0x31, Buffer.alloc(100)), 'UNIX block too short');
});

t.test('looksLikeProxyHeader', async (t) => {
  t.ok(looksLikeProxyHeader(Buffer.from('PROXY TCP4 …')));
  t.ok(looksLikeProxyHeader(V2_SIGNATURE));
  t.notOk(looksLikeProxyHeader(Buffer.from('POST / HTTP/1.1\r\n')));
  t.notOk(looksLikeProxyHeader(Buffer.from('PRI * HTTP/2.0\r\n')));
  t.notOk(looksLikeProxyHeader(Buffer.from('\r\n\r\nGET')));
  t.notOk(looksLikeProxyHeader(Buffer.alloc(0)));
});

t.test('couldBeProxyHeader (the admin listener: a header is optional there)', async (t) => {
  for (const h of [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), V2_SIGNATURE]) {
    for (let n = 0; n <= h.length; n++) t.ok(couldBeProxyHeader(h.subarray(0, n)), `a ${n}-byte prefix may still be one`);
  }
  for (const req of ['POST / HTTP/1.1\r\n', 'PUT', 'PATCH', 'GET /readyz HTTP/1.1\r\n', 'PRI * HTTP/2.0\r\n', '\r\n\r\nGET']) {
    t.notOk(couldBeProxyHeader(Buffer.from(req)), JSON.stringify(req));
  }
});

const octet = fc.integer({ min: 0, max: 255 });
const portArb = fc.integer({ min: 0, max: 65535 });
const ipv4 = fc.tuple(octet, octet, octet, octet);
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a));

/** a generated header with the client it names */
const header = fc.oneof(
  fc.tuple(ipv4, ipv4, portArb, portArb).map(([s, d, sp, dp]) => ({
    bytes: Buffer.from(`PROXY TCP4 ${s.join('.')} ${d.join('.')} ${sp} ${dp}\r\n`), address: s.join('.'), port: sp,
  })),
  fc.tuple(ipv4, ipv4, portArb, portArb, fc.uint8Array({ maxLength: 64 })).map(([s, d, sp, dp, tlv]) => ({
    bytes: v2(1, 0x11, inet4(s, d, sp, dp), Buffer.from(tlv)), address: s.join('.'), port: sp,
  })),
  fc.tuple(ipv6, ipv6, portArb, portArb).map(([s, d, sp, dp]) => ({
    bytes: v2(1, 0x21, inet6(s, d, sp, dp)), address: s, port: sp,
  })),
);

t.test('fuzz: generated headers parse back, whatever follows and wherever they are cut', async (t) => {
  fc.assert(
    fc.property(header, fc.uint8Array({ maxLength: 64 }), fc.nat(), ({ bytes, address, port }, rest, cut) => {
      const whole = Buffer.concat([bytes, Buffer.from(rest)]);
      const r = parseProxyHeader(whole);
      if (r.kind !== 'ok' || r.length !== bytes.length || r.client === null) return false;
      if (r.client.port !== port) return false;
      // IPv6: compare as bytes (the text form is compressed)
      if (Buffer.isBuffer(address)) {
        if (r.client.family !== 'IPv6' && !(r.client.address.startsWith('::ffff:'))) return false;
      } else if (r.client.address !== address) return false;
      const prefix = whole.subarray(0, cut % bytes.length);
      return parseProxyHeader(prefix).kind === 'more';
    }),
    { numRuns: RUNS, seed: SEED },
  );
  t.pass(`${RUNS} generated headers`);
});

t.test('fuzz: random and mutated bytes never throw; ok never claims more than it has; more only for prefixes', async (t) => {
  const mutated = fc.tuple(header, fc.array(fc.tuple(fc.nat(), octet), { maxLength: 4 }), fc.nat()).map(([h, edits, cut]) => {
    const b = Buffer.from(h.bytes);
    for (const [at, byte] of edits) b[at % b.length] = byte;
    return b.subarray(0, 1 + (cut % b.length));
  });
  const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), mutated,
    fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.concat([Buffer.from('PROXY '), Buffer.from(a)])),
    fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.concat([V2_SIGNATURE, Buffer.from(a)])));
  fc.assert(
    fc.property(anyBytes, fc.uint8Array({ maxLength: 32 }), (buf, more) => {
      const r = parseProxyHeader(buf);
      if (r.kind === 'ok') {
        if (r.length > buf.length || r.length < 15) return false;
        // the header ends where it says: more bytes after it change nothing
        const again = parseProxyHeader(Buffer.concat([buf, Buffer.from(more)]));
        return again.kind === 'ok' && again.length === r.length && JSON.stringify(again.client) === JSON.stringify(r.client);
      }
      if (r.kind === 'more') {
        // only a short v1 line or a v2 header still missing bytes may wait
        return buf.length < 107 + 16 + 65535 && (buf[0] === 0x50 || buf[0] === 0x0d || buf.length === 0);
      }
      return typeof r.reason === 'string' && r.reason.length > 0;
    }),
    { numRuns: RUNS * 2, seed: SEED + 1 },
  );
  t.pass(`${RUNS * 2} random inputs`);
});
