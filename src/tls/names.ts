/**
 * Names the TLS side needs to read (acme/names.ts re-exports them for the control plane):
 * - ipFromReverseName: a CA validating an IP address with TLS-ALPN-01 sends the address's
 *   reverse-DNS name as SNI (RFC 8738 §6): `1.0.0.127.in-addr.arpa`, or 32 nibbles + `.ip6.arpa`.
 *   This turns it back into the address (IPv6 canonical), or null for any other name.
 * - orderableName: whether an SNI name may be asked about and ordered on demand.
 */
import { isIP } from 'node:net';

/** ipFromReverseName: see the file comment. */
export function ipFromReverseName(name: string): string | null {
  const n = name.toLowerCase().replace(/\.$/, '');
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(n);
  if (v4) {
    const ip = [v4[4], v4[3], v4[2], v4[1]].join('.');
    return isIP(ip) === 4 ? ip : null;
  }
  const v6 = /^((?:[0-9a-f]\.){32})ip6\.arpa$/.exec(n);
  if (v6) {
    const nibbles = v6[1]!.split('.').filter(Boolean).reverse().join('');
    const groups = nibbles.match(/.{4}/g)!.join(':');
    return new URL(`http://[${groups}]/`).hostname.slice(1, -1);
  }
  return null;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * orderableName tells whether an SNI name may be asked about and ordered on demand: a lower-case
 * DNS name of at least two labels, each a valid LDH label, at most 253 characters; no IP literals,
 * no wildcards, no underscores, no all-digit top label (a CA refuses them, so asking would be waste).
 */
export function orderableName(name: string): boolean {
  if (name.length < 3 || name.length > 253 || isIP(name) !== 0) return false;
  const labels = name.split('.');
  return labels.length >= 2 && labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]!);
}
