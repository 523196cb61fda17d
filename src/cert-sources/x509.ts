/**
 * A minimal X.509 v3 certificate writer (RFC 5280) on node:crypto: DER by hand for the one shape
 * portico makes (self-signed leaves, and test CAs with the leaves they sign), signed with
 * `crypto.sign` (ECDSA P-256 keys; RSA for the default certificate on a Node with the SNI key-type defect). Node can parse certificates (X509Certificate) but not make them; this replaces
 * node-forge, which cost ~10 MiB of RSS in every process that made one (issue 14: the default
 * certificate for unknown SNI is made at every start).
 */
import { createHash, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

// ─── DER ───

function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  let head: Buffer;
  if (n < 0x80) head = Buffer.from([tag, n]);
  else if (n < 0x100) head = Buffer.from([tag, 0x81, n]);
  else if (n < 0x10000) head = Buffer.from([tag, 0x82, n >> 8, n & 0xff]);
  else head = Buffer.from([tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([head, body]);
}

const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const bits = (b: Buffer, unused = 0): Buffer => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean): Buffer => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);
const explicit = (n: number, body: Buffer): Buffer => tlv(0xa0 + n, body);

/** integer encodes a non-negative big-endian magnitude as a DER INTEGER (minimal, positive). */
function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const m = b.subarray(i);
  return tlv(0x02, (m[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), m]) : m);
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a + b];
  for (const v of rest) {
    const chunk = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) chunk.unshift((x & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** time is UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString(); // 2026-12-04T20:00:00.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z'; // 20261204200000Z
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2))) : tlv(0x18, Buffer.from(digits));
}

/** readTlv returns the element at `off` of a DER buffer: its whole encoding and where its body starts. */
function readTlv(der: Buffer, off: number): { start: number; body: number; end: number } {
  const first = der[off + 1] ?? 0;
  let len = first;
  let body = off + 2;
  if (first & 0x80) {
    len = 0;
    for (let i = 0; i < (first & 0x7f); i++) len = len * 256 + (der[body + i] ?? 0);
    body += first & 0x7f;
  }
  return { start: off, body, end: body + len };
}

/** subjectOf returns the DER of a certificate's subject Name (the issuer Name of what it signs). */
function subjectOf(certDer: Buffer): Buffer {
  const tbs = readTlv(certDer, readTlv(certDer, 0).body);
  let el = readTlv(certDer, tbs.body);
  if (certDer[el.start] === 0xa0) el = readTlv(certDer, el.end); // version → serial
  for (let i = 0; i < 4; i++) el = readTlv(certDer, el.end); // signature, issuer, validity, subject
  return certDer.subarray(el.start, el.end);
}

// ─── certificates ───

const OID = {
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
};

const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));

/** keyId is RFC 5280's method 1: SHA-1 of the subjectPublicKey bits. */
function keyId(spkiDer: Buffer): Buffer {
  const outer = readTlv(spkiDer, 0);
  const alg = readTlv(spkiDer, outer.body);
  const key = readTlv(spkiDer, alg.end);
  return createHash('sha1').update(spkiDer.subarray(key.body + 1, key.end)).digest();
}

/** ipv6Group: one hex group as a number; a trailing dotted quad (::ffff:192.0.2.1) is the last two groups. */
function ipv6Group(g: string): number[] {
  if (!g.includes('.')) return [parseInt(g, 16)];
  const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
  return [(a << 8) | b, (c << 8) | d];
}

function altName(n: string): Buffer {
  if (isIP(n) === 4) return tlv(0x87, Buffer.from(n.split('.').map(Number)));
  if (isIP(n) === 6) {
    const [head = '', tail = ''] = n.split('::');
    const groups = (s: string): number[] => (s === '' ? [] : s.split(':').flatMap(ipv6Group));
    const h = groups(head);
    const t = n.includes('::') ? groups(tail) : [];
    const all = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
    return tlv(0x87, Buffer.from(all.flatMap((g) => [g >> 8, g & 0xff])));
  }
  return tlv(0x82, Buffer.from(n, 'ascii'));
}

/** CertificateSpec is what goes into one certificate. */
export interface CertificateSpec {
  /** "" = none */
  commonName: string;
  /** DNS names / IP literals for subjectAltName (none: no SAN extension) */
  names: readonly string[];
  notBefore: Date;
  notAfter: Date;
  /** 1-20 bytes, positive */
  serial: Buffer;
  isCA: boolean;
  publicKey: KeyObject;
  /** the key that signs: the subject's own (self-signed) or the issuer's */
  signingKey: KeyObject;
  /** the issuer's certificate (PEM); absent: self-signed */
  issuerCert?: string;
}

/** buildCertificate returns the PEM of a certificate for `spec`. */
export function buildCertificate(spec: CertificateSpec): string {
  const spki = spec.publicKey.export({ type: 'spki', format: 'der' });
  // no Common Name when it is "" (as Let's Encrypt's tlsserver and shortlived profiles issue them)
  const subject = seq(
    ...(spec.commonName === '' ? [] : [set(seq(oid(OID.commonName), utf8(spec.commonName)))]),
    set(seq(oid(OID.organizationName), utf8('portico'))),
  );
  const issuer = spec.issuerCert ? new X509Certificate(spec.issuerCert) : null;
  const issuerName = issuer ? subjectOf(issuer.raw) : subject;
  // the keys portico makes are ECDSA P-256, or RSA (self-signed.ts)
  for (const k of [spec.publicKey, spec.signingKey]) if (k.asymmetricKeyType !== 'ec' && k.asymmetricKeyType !== 'rsa') throw new Error(`not an EC or RSA key: ${k.asymmetricKeyType}`);
  // RFC 5754 §3.2: ecdsa-with-SHA256 has no parameters; RFC 4055 §5: sha256WithRSAEncryption has NULL
  const sigAlg = spec.signingKey.asymmetricKeyType === 'rsa' ? seq(oid(OID.sha256WithRSAEncryption), Buffer.from([0x05, 0x00])) : seq(oid(OID.ecdsaWithSha256));

  const exts = [
    extension(OID.basicConstraints, true, spec.isCA ? seq(bool(true)) : seq()),
    // keyUsage bits: digitalSignature (0); a CA also keyCertSign (5), cRLSign (6)
    extension(OID.keyUsage, true, spec.isCA ? bits(Buffer.from([0x86]), 1) : bits(Buffer.from([0x80]), 7)),
    extension(OID.subjectKeyIdentifier, false, octets(keyId(spki))),
  ];
  // the issuer's key id (RFC 5280 §4.2.1.1): chain building and ACME ARI certificate ids use it
  if (issuer) exts.push(extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, keyId(issuer.publicKey.export({ type: 'spki', format: 'der' }))))));
  if (!spec.isCA) exts.push(extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))));
  if (spec.names.length > 0) exts.push(extension(OID.subjectAltName, false, seq(...spec.names.map(altName))));

  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(spec.serial),
    sigAlg,
    issuerName,
    seq(time(spec.notBefore), time(spec.notAfter)),
    subject,
    spki,
    explicit(3, seq(...exts)),
  );
  const signature = sign('sha256', tbs, spec.signingKey);
  const der = seq(tbs, sigAlg, bits(signature));
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`;
}
