/**
 * Certificate key types against the listener's default certificate, for a Node defect: before Node 26,
 * a context an SNICallback picks only adds its certificate next to the default context's, so a client
 * gets the default ECDSA certificate for a host whose own certificate is RSA (TLS 1.3: clients prefer
 * ECDSA; TLS 1.2: portico's suites list ECDHE-ECDSA first), and the other way round with an RSA
 * default — nodejs/node#54235, fixed by nodejs/node#64700.
 * Seen here on Node 20.20.2, not on 26.12.1. portico cannot choose for OpenSSL there, so it says so
 * (`check`, and a warning at start and reload) naming the hosts.
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

/** keyTypeMismatches lists the names of certificates whose key type differs from `defaultType` (the default certificate's). */
export function keyTypeMismatches(certs: readonly { names: readonly string[]; cert: string }[], defaultType: string | null): string[] {
  const names = new Set<string>();
  for (const c of certs) {
    const t = keyTypeOf(c.cert);
    if (t !== null && defaultType !== null && t !== defaultType) for (const n of c.names) names.add(n);
  }
  return [...names].sort();
}

/** keyTypeDefectText is what `check` and the start-up warning say about the hosts keyTypeMismatches found. */
export function keyTypeDefectText(names: readonly string[], defaultType: string | null): string {
  return `on Node ${process.version}, TLS clients asking for ${names.join(', ')} get the default ${defaultType} certificate, not theirs (their key type differs; nodejs/node#54235, fixed in Node 26): run on Node 26 (the container image does) or use ${defaultType} certificates`;
}
