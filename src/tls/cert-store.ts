/**
 * CertStore: the data plane's certificates, name → SecureContext. Lookup order is exact name, then
 * wildcard (`*.example.com` matches one label), then the default certificate. A SecureContext is
 * built once per distinct certificate (createSecureContext costs 0.2–0.8 ms: never per handshake)
 * and reused across snapshots while the PEM is unchanged; `replace()` swaps the whole map at once,
 * so the next handshake sees a renewed certificate.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';

/** CertPems is one certificate as the control plane hands it over: PEM chain + key, and its names. */
export interface CertPems {
  /** DNS names / IP literals this certificate is served for (lower-case; `*.x` wildcards allowed). */
  names: readonly string[];
  /** Leaf first, then intermediates. */
  cert: string;
  key: string;
}

/**
 * CIPHERS: AEAD suites only (Mozilla's "intermediate" list without DHE). TLS 1.3 has nothing else; for
 * TLS 1.2 OpenSSL's default list would also offer CBC suites (issue 23: a TLS scanner found
 * ECDHE-RSA-AES128-SHA). Every client since 2014 (Android 4.4.2, Java 8, IE 11 on Windows 10)
 * speaks one of these.
 */
export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** tlsOptions are the protocol settings of every context and listener portico builds. */
export function tlsOptions(minVersion: tls.SecureVersion): { minVersion: tls.SecureVersion; ciphers: string; honorCipherOrder: true } {
  return { minVersion, ciphers: CIPHERS, honorCipherOrder: true };
}

/** CertStoreOptions are applied to every context built. */
export interface CertStoreOptions {
  minVersion: tls.SecureVersion;
}

const fingerprint = (c: { cert: string; key: string }): string =>
  createHash('sha256').update(c.cert).update('\0').update(c.key).digest('base64');

/** CertStore maps server names to SecureContexts. Not safe to share across processes (contexts are native). */
export class CertStore {
  private exact = new Map<string, tls.SecureContext>();
  private wildcard = new Map<string, tls.SecureContext>();
  private fallback: tls.SecureContext;
  private byFingerprint = new Map<string, tls.SecureContext>();
  /** each context's certificate chain (PEM), parsed on demand by `covers` */
  private readonly chains = new WeakMap<tls.SecureContext, string>();
  private readonly parsed = new WeakMap<tls.SecureContext, X509Certificate | null>();
  private readonly opts: CertStoreOptions;

  constructor(defaultCert: { cert: string; key: string }, opts: CertStoreOptions) {
    this.opts = opts;
    this.fallback = this.context(defaultCert, new Map());
  }

  /** replace installs a new certificate set (and default) atomically, reusing unchanged contexts. */
  replace(certs: readonly CertPems[], defaultCert: { cert: string; key: string }): void {
    const next = new Map<string, tls.SecureContext>();
    const exact = new Map<string, tls.SecureContext>();
    const wildcard = new Map<string, tls.SecureContext>();
    const fallback = this.context(defaultCert, next);
    for (const c of certs) {
      const ctx = this.context(c, next);
      for (const name of c.names) {
        if (name.startsWith('*.')) wildcard.set(name.slice(2), ctx);
        else exact.set(name, ctx);
      }
    }
    this.exact = exact;
    this.wildcard = wildcard;
    this.fallback = fallback;
    this.byFingerprint = next;
  }

  /** lookup returns the context for an SNI name (exact, then wildcard, then default). */
  lookup(servername: string | undefined): tls.SecureContext {
    if (!servername) return this.fallback;
    const name = servername.toLowerCase();
    const hit = this.exact.get(name);
    if (hit !== undefined) return hit;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wild = this.wildcard.get(name.slice(dot + 1));
      if (wild !== undefined) return wild;
    }
    return this.fallback;
  }

  /**
   * covers tells whether the certificate served for SNI `servername` is valid for `host` (its SANs,
   * wildcards included): the same context, or a certificate naming both (an h2 connection a browser
   * reuses for another name the certificate covers, RFC 9113 §9.1.1). Parsed once per context.
   */
  covers(servername: string, host: string): boolean {
    const ctx = this.lookup(servername);
    if (ctx === this.lookup(host)) return true;
    let x = this.parsed.get(ctx);
    if (x === undefined) {
      const pem = this.chains.get(ctx);
      try {
        x = pem === undefined ? null : new X509Certificate(pem);
      } catch {
        x = null;
      }
      this.parsed.set(ctx, x);
    }
    if (x === null) return false;
    return (isIP(host) !== 0 ? x.checkIP(host) : x.checkHost(host, { subject: 'never' })) !== undefined;
  }

  /**
   * add serves a certificate for one more name until the next `replace` (an on-demand certificate
   * that arrived before the snapshot carrying it; the snapshot's replace reuses the same context).
   */
  add(name: string, c: { cert: string; key: string }): tls.SecureContext {
    const ctx = this.context(c, this.byFingerprint);
    this.exact.set(name, ctx);
    return ctx;
  }

  /** has tells whether a name has its own certificate (not the default). */
  has(servername: string): boolean {
    return this.lookup(servername) !== this.fallback;
  }

  /** defaultContext is served for unknown or missing SNI. */
  get defaultContext(): tls.SecureContext {
    return this.fallback;
  }

  private context(c: { cert: string; key: string }, next: Map<string, tls.SecureContext>): tls.SecureContext {
    const fp = fingerprint(c);
    let ctx = next.get(fp) ?? this.byFingerprint.get(fp);
    if (ctx === undefined) {
      ctx = tls.createSecureContext({ cert: c.cert, key: c.key, ...tlsOptions(this.opts.minVersion) });
      this.chains.set(ctx, c.cert);
    }
    next.set(fp, ctx);
    return ctx;
  }
}
