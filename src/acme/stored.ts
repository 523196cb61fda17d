/**
 * Certificates obtained by ACME, in storage: `<prefix>/certs/<host>.crt` (full chain) and
 * `<host>.key` (0600, like every storage file). The key is written before the certificate, so a
 * crash in between leaves a pair that fails the key check on load and is re-issued. A corrupt or
 * unreadable pair is reported (`onCorrupt`, with its path) and treated as missing — never a crash.
 */
import { X509Certificate } from 'node:crypto';
import { parsePems } from '../cert-sources/static.js';
import type { Storage } from '../storage/storage.js';

/** StoredCert is a loaded, checked certificate. */
export interface StoredCert {
  host: string;
  cert: string;
  key: string;
  notBefore: Date;
  notAfter: Date;
  issuer: string;
  serial: string;
}

/** CertFiles reads and writes the certificates of one CA. */
export class CertFiles {
  constructor(
    private readonly storage: Storage,
    private readonly prefix: string,
    private readonly onCorrupt: (path: string, reason: string) => void,
  ) {}

  private keys(host: string) {
    return { cert: `${this.prefix}/certs/${host}.crt`, key: `${this.prefix}/certs/${host}.key` };
  }

  /** certKey is the storage key of a host's certificate (written after its key: a change of it means a new pair). */
  certKey(host: string): string {
    return this.keys(host).cert;
  }

  /** certPath is where a host's certificate is (for messages). */
  certPath(host: string): string {
    return this.storage.describe(this.keys(host).cert);
  }

  /** load returns the stored certificate for a host, or null when there is none or it is unusable. */
  async load(host: string): Promise<StoredCert | null> {
    const k = this.keys(host);
    let cert: Buffer | null;
    let key: Buffer | null;
    try {
      [cert, key] = await Promise.all([this.storage.read(k.cert), this.storage.read(k.key)]);
    } catch (err) {
      this.onCorrupt(this.storage.describe(k.cert), (err as Error).message);
      return null;
    }
    if (cert === null) return null;
    const path = this.storage.describe(k.cert);
    if (key === null) {
      this.onCorrupt(path, 'its key file is missing');
      return null;
    }
    try {
      const p = parsePems(cert.toString(), key.toString(), path);
      if (!p.names.includes(host)) throw new Error(`it does not cover ${host} (names: ${p.names.join(', ')})`);
      return { host, cert: p.cert, key: p.key, notBefore: p.notBefore, notAfter: p.notAfter, issuer: p.issuer, serial: new X509Certificate(p.cert).serialNumber };
    } catch (err) {
      this.onCorrupt(path, (err as Error).message);
      return null;
    }
  }

  /** save stores a new certificate (key first, see the file comment) and returns it loaded. */
  async save(host: string, pems: { cert: string; key: string }): Promise<StoredCert> {
    const k = this.keys(host);
    const stored = this.parse(host, pems);
    await this.storage.write(k.key, pems.key);
    await this.storage.write(k.cert, pems.cert);
    return stored;
  }

  /** parse checks an issued pair (PEM parses, key matches) without storing it. */
  parse(host: string, pems: { cert: string; key: string }): StoredCert {
    const p = parsePems(pems.cert, pems.key, `the certificate issued for ${host}`);
    return { host, cert: p.cert, key: p.key, notBefore: p.notBefore, notAfter: p.notAfter, issuer: p.issuer, serial: new X509Certificate(p.cert).serialNumber };
  }

  /** describeCert names where a host's certificate is stored (for log lines). */
  describeCert(host: string): string {
    return this.storage.describe(this.keys(host).cert);
  }
}
