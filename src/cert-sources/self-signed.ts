/**
 * Self-signed certificates (control plane only). The key pair is ECDSA P-256 (node:crypto: ~1 ms,
 * accepted by every current TLS client), or RSA-2048 for the default certificate where the Node has
 * the SNI key-type defect and RSA certificates are served (tls/key-types.ts); the certificate is written and signed by x509.ts, also
 * on node:crypto, so making one loads no library (node-forge did: ~10 MiB of RSS, issue 14).
 */
import { createPrivateKey, generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { buildCertificate } from './x509.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** SelfSignedOptions describe the certificate to make. */
export interface SelfSignedOptions {
  /** Subject common name (also the first SAN when names is empty). */
  commonName: string;
  /** DNS names / IP literals to put in subjectAltName. */
  names: readonly string[];
  /** Validity in days (default 365). */
  days?: number;
  /** Make it a CA (for tests that sign leaves with it). */
  isCA?: boolean;
  /** the key pair's type (default `ec`: P-256) */
  keyType?: 'ec' | 'rsa';
  /** Sign with this CA instead of self-signing. */
  issuer?: { cert: string; key: string };
}

/** Pems is a certificate and its private key, both PEM. */
export interface Pems {
  cert: string;
  key: string;
}

/** makeCertificate generates a key pair and a certificate for the given names. */
export async function makeCertificate(opts: SelfSignedOptions): Promise<Pems> {
  const { privateKey, publicKey } = opts.keyType === 'rsa'
    ? await generateKeyPairAsync('rsa', { modulusLength: 2048 })
    : await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive, 16 bytes
  const cert = buildCertificate({
    commonName: opts.commonName,
    names: opts.names,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (opts.days ?? 365) * 86_400_000),
    serial,
    isCA: opts.isCA === true,
    publicKey,
    signingKey: opts.issuer ? createPrivateKey(opts.issuer.key) : privateKey,
    issuerCert: opts.issuer?.cert,
  });
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** SelfSignedSource hands out one self-signed certificate per host name, made once and kept
 * across runtimes (so a reload does not change what clients see). */
export class SelfSignedSource {
  private readonly cache = new Map<string, Promise<Pems>>();

  /** forName returns the certificate for a host (of a key type), generating it on first use. */
  forName(name: string, keyType: 'ec' | 'rsa' = 'ec'): Promise<Pems> {
    return this.once(`${keyType} ${name}`, { commonName: name, names: [name], keyType });
  }

  /** defaultCertificate is served for unknown or missing SNI ("portico default"); one per key type, kept across runtimes. */
  defaultCertificate(keyType: 'ec' | 'rsa' = 'ec'): Promise<Pems> {
    // a space cannot start a host name: no clash with forName's ids
    return this.once(`${keyType} `, { commonName: 'portico default', names: [], keyType });
  }

  /** once makes the certificate for `id` on first use (a failed one is made again next time). */
  private once(id: string, opts: SelfSignedOptions): Promise<Pems> {
    let p = this.cache.get(id);
    if (p === undefined) {
      p = makeCertificate(opts);
      p.catch(() => this.cache.delete(id));
      this.cache.set(id, p);
    }
    return p;
  }
}
