/**
 * Self-signed certificates (control plane only; node-forge lives behind this file). The key pair is
 * generated natively (node:crypto, RSA-2048: fast and widely accepted); node-forge only builds and
 * signs the X.509 structure, which Node cannot do by itself on Node 20. node-forge is loaded on the
 * first certificate made (~10 MiB of RSS, issue 14), so a process that never makes one never loads it.
 */
import { generateKeyPair, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import type forgeNs from 'node-forge';

const generateKeyPairAsync = promisify(generateKeyPair);

let forgeModule: Promise<typeof forgeNs> | null = null;
const loadForge = (): Promise<typeof forgeNs> => (forgeModule ??= import('node-forge').then((m) => m.default));

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
  /** Sign with this CA instead of self-signing. */
  issuer?: { cert: string; key: string };
}

/** Pems is a certificate and its private key, both PEM. */
export interface Pems {
  cert: string;
  key: string;
}

/** altNames turns names into forge subjectAltName entries (type 2 = DNS, 7 = IP). */
function altNames(names: readonly string[]): Array<{ type: number; value?: string; ip?: string }> {
  return names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n }));
}

/** makeCertificate generates a key pair and a certificate for the given names. */
export async function makeCertificate(opts: SelfSignedOptions): Promise<Pems> {
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const forge = await loadForge();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + (opts.days ?? 365) * 86_400_000);
  const subject = [{ name: 'commonName', value: opts.commonName }, { name: 'organizationName', value: 'portico' }];
  cert.setSubject(subject);
  const issuerCert = opts.issuer ? forge.pki.certificateFromPem(opts.issuer.cert) : null;
  cert.setIssuer(issuerCert ? issuerCert.subject.attributes : subject);
  const names = opts.names;
  const extensions: object[] = [
    { name: 'basicConstraints', cA: opts.isCA === true, critical: true },
    opts.isCA
      ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ];
  // The issuer's key id (RFC 5280 §4.2.1.1): chain building and ACME ARI certificate ids use it.
  if (issuerCert) extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: issuerCert.generateSubjectKeyIdentifier().getBytes() });
  if (!opts.isCA) extensions.push({ name: 'extKeyUsage', serverAuth: true, clientAuth: true });
  if (names.length > 0) extensions.push({ name: 'subjectAltName', altNames: altNames(names) });
  cert.setExtensions(extensions);
  const signer = forge.pki.privateKeyFromPem(opts.issuer ? opts.issuer.key : privateKey);
  cert.sign(signer as forgeNs.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: privateKey };
}

/** SelfSignedSource hands out one self-signed certificate per host name, made once and kept
 * across runtimes (so a reload does not change what clients see). */
export class SelfSignedSource {
  private readonly cache = new Map<string, Promise<Pems>>();

  /** forName returns the certificate for a host, generating it on first use. */
  forName(name: string): Promise<Pems> {
    let p = this.cache.get(name);
    if (p === undefined) {
      p = makeCertificate({ commonName: name, names: [name] });
      p.catch(() => this.cache.delete(name));
      this.cache.set(name, p);
    }
    return p;
  }

  /** defaultCertificate is served for unknown or missing SNI ("portico default"). */
  defaultCertificate(): Promise<Pems> {
    this.defaultPems ??= makeCertificate({ commonName: 'portico default', names: [] });
    return this.defaultPems;
  }

  private defaultPems: Promise<Pems> | undefined;
}
