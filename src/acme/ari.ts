/**
 * ACME Renewal Information (RFC 9773) helpers that need no network: the certificate identifier
 * (`base64url(AKI keyIdentifier) "." base64url(serial)`, §4.1), read from the DER with a tiny walker
 * because node:crypto does not expose extensions, and picking a renewal time inside a suggested window.
 * The requests themselves are in issuer.ts (acme-client 5.4 has no ARI helper).
 */
import { X509Certificate } from 'node:crypto';

/** RenewalWindow is the CA's suggestedWindow. */
export interface RenewalWindow {
  start: Date;
  end: Date;
}

/** Tlv is one DER element: its tag, and where its content starts and ends in the buffer. */
interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function readTlv(buf: Buffer, off: number): Tlv {
  const tag = buf[off]!;
  let len = buf[off + 1]!;
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  if (start + len > buf.length) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

/** children lists the elements inside a constructed element. */
function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let off = parent.start; off < parent.end; ) {
    const c = readTlv(buf, off);
    out.push(c);
    off = c.end;
  }
  return out;
}

const AKI_OID = Buffer.from([0x55, 0x1d, 0x23]); // 2.5.29.35

/** authorityKeyId returns the AKI keyIdentifier bytes among the TBS children, or null. */
function authorityKeyId(der: Buffer, tbs: Tlv[]): Buffer | null {
  const extsWrapper = tbs.find((e) => e.tag === 0xa3);
  if (extsWrapper === undefined) return null;
  for (const ext of children(der, children(der, extsWrapper)[0]!)) {
    const parts = children(der, ext);
    const oid = parts[0]!;
    if (oid.tag !== 0x06 || !der.subarray(oid.start, oid.end).equals(AKI_OID)) continue;
    const value = parts[parts.length - 1]!; // OCTET STRING wrapping the AKI SEQUENCE
    const aki = readTlv(der, value.start);
    const keyId = children(der, aki).find((e) => e.tag === 0x80);
    return keyId === undefined ? null : der.subarray(keyId.start, keyId.end);
  }
  return null;
}

/** ariCertId computes the RFC 9773 certificate identifier of a PEM certificate (the leaf of a chain); null without an AKI. */
export function ariCertId(certPem: string): string | null {
  const der = new X509Certificate(certPem).raw;
  const cert = readTlv(der, 0);
  const tbs = children(der, children(der, cert)[0]!);
  const serial = tbs[0]!.tag === 0xa0 ? tbs[1]! : tbs[0]!;
  if (serial.tag !== 0x02) throw new Error('no serial number in certificate');
  const keyId = authorityKeyId(der, tbs);
  if (keyId === null) return null;
  return `${keyId.toString('base64url')}.${der.subarray(serial.start, serial.end).toString('base64url')}`;
}

/** pickInWindow chooses a uniformly random time inside the window (RFC 9773 §4.2); `random` is in [0, 1). */
export function pickInWindow(w: RenewalWindow, random: number): Date {
  const span = Math.max(0, w.end.getTime() - w.start.getTime());
  return new Date(w.start.getTime() + Math.floor(span * random));
}
