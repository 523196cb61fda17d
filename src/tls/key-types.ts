/**
 * Certificate key types against the listener's default certificate, for a Node defect: before Node 26,
 * a context an SNICallback picks only adds its certificate next to the default context's (one slot
 * per key type), so a client gets the default ECDSA certificate for a host whose own certificate is
 * RSA (TLS 1.3: clients prefer ECDSA; TLS 1.2: portico's suites list ECDHE-ECDSA first) —
 * nodejs/node#54235, fixed by nodejs/node#64700. Seen here on Node 20.20.2, not on 26.12.1.
 * The other way round is harmless: behind an RSA default, an ECDSA host's certificate fills the empty
 * ECDSA slot and is the one chosen (measured on 20.20.2 over TLS 1.3 and 1.2 with portico's suites;
 * only a client without ECDSA would get the default RSA one, where Node 26 fails its handshake). So
 * on such a Node portico's own default certificate is RSA when any certificate it serves is RSA
 * (`defaultKeyTypeFor`), and what is left — an IP host's ECDSA certificate as the no-SNI one next to
 * RSA hosts — is said (`check`, and a warning at start and reload) naming the hosts.
 */
import { X509Certificate } from 'node:crypto';

/** SNI_KEY_TYPE_DEFECT: this Node serves the default certificate for an SNI certificate of another key type. */
export const SNI_KEY_TYPE_DEFECT = Number(process.versions.node.split('.')[0]) < 26;

/** keyTypeOf is a PEM certificate's key type as OpenSSL groups them (`rsa` for RSA and RSA-PSS, `ec`, `ed25519`…), or null. */
export function keyTypeOf(certPem: string): string | null {
  try {
    const t = new X509Certificate(certPem).publicKey.asymmetricKeyType ?? null;
    return t === 'rsa-pss' ? 'rsa' : t;
  } catch {
    return null;
  }
}

/** defaultKeyTypeFor is the key type of portico's own default certificate for the certificates it serves. */
export function defaultKeyTypeFor(certs: readonly { cert: string }[]): 'ec' | 'rsa' {
  return SNI_KEY_TYPE_DEFECT && certs.some((c) => keyTypeOf(c.cert) === 'rsa') ? 'rsa' : 'ec';
}

/** shadowed: on a Node with the defect, a certificate of `type` is not served behind a default of `defaultType`. */
function shadowed(type: string, defaultType: string): boolean {
  return type !== defaultType && !(defaultType === 'rsa' && type === 'ec');
}

/** keyTypeMismatches lists the names of certificates the default certificate (of `defaultType`) shadows. */
export function keyTypeMismatches(certs: readonly { names: readonly string[]; cert: string }[], defaultType: string | null): string[] {
  const names = new Set<string>();
  for (const c of certs) {
    const t = keyTypeOf(c.cert);
    if (t !== null && defaultType !== null && shadowed(t, defaultType)) for (const n of c.names) names.add(n);
  }
  return [...names].sort();
}

/** keyTypeDefectText is what `check` and the start-up warning say about the hosts keyTypeMismatches found. */
export function keyTypeDefectText(names: readonly string[], defaultType: string | null): string {
  return `on Node ${process.version}, TLS clients asking for ${names.join(', ')} get the default ${defaultType} certificate, not theirs (their key type differs; nodejs/node#54235, fixed in Node 26): run on Node 26 (the container image does) or use ${defaultType} certificates`;
}
