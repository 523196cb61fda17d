/**
 * Names as ACME and storage see them: a host's identifier (RFC 8555 `dns`, RFC 8738 `ip`), its
 * storage key segment (wildcards and IPv6 literals have characters storage keys refuse), the dns-01
 * record name, the reverse-DNS name a CA sends as SNI when it validates an IP with TLS-ALPN-01
 * (RFC 8738 §6), and whether a name may be ordered on demand (those two in tls/names.ts, where the
 * handshake needs them).
 */
import { isIP } from 'node:net';

export { ipFromReverseName, orderableName } from '../tls/names.js';

/** Identifier is an ACME identifier. */
export interface Identifier {
  type: 'dns' | 'ip';
  value: string;
}

/** identifierOf is the ACME identifier of a routed host (a DNS name, `*.name`, or an IP literal). */
export function identifierOf(host: string): Identifier {
  return isIP(host) !== 0 ? { type: 'ip', value: host } : { type: 'dns', value: host };
}

/**
 * hostKey is a host as one storage key segment: DNS names as they are, `*.example.com` as
 * `_wildcard.example.com` (the file name tls.dir uses too), IPv6 literals with `_` for `:`. Route
 * hosts never contain `_` (the config refuses it), so no two hosts share a key.
 */
export function hostKey(host: string): string {
  if (host.startsWith('*.')) return `_wildcard.${host.slice(2)}`;
  return isIP(host) === 6 ? host.replace(/:/g, '_') : host;
}

/** dnsRecordName is where a host's dns-01 TXT record goes: `_acme-challenge.<name without "*.">`. */
export function dnsRecordName(host: string): string {
  return `_acme-challenge.${host.startsWith('*.') ? host.slice(2) : host}`;
}
