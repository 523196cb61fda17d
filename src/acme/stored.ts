/**
 * Certificates obtained by ACME, in storage: `<prefix>/certs/<host>.pem`, the private key followed by
 * the full chain, written as ONE atomic storage write (0600, like every storage file). A reader in any
 * process sharing the storage sees the old pair or the new pair, never a new key with an old
 * certificate (issue 27: the key and the certificate used to be two writes, and a reader between
 * them saw a mismatch and ordered again). Hosts are stored under `hostKey` (wildcards, IPv6).
 *
 * Older versions wrote `<host>.crt` + `<host>.key`: that pair is still read when there is no `.pem`,
 * and removed when the bundle replaces it. A corrupt or unreadable certificate is reported
 * (`onCorrupt`, with its path) and treated as missing — never a crash.
 */
import { X509Certificate } from 'node:crypto';
import { parsePems } from '../cert-sources/static.js';
import type { Storage } from '../storage/storage.js';
import { hostKey } from './names.js';

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

const KEY_BLOCK = /-----BEGIN ((?:[A-Z]+ )?PRIVATE KEY)-----[\s\S]*?-----END \1-----\r?\n?/;
const CERT_BLOCKS = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\r?\n?/g;

/** bundle is the stored form: key, then the chain (leaf first). */
export function bundle(pems: { cert: string; key: string }): string {
  const key = pems.key.endsWith('\n') ? pems.key : `${pems.key}\n`;
  return key + pems.cert;
}

/** unbundle splits a stored bundle; null when it lacks a key or a certificate. */
export function unbundle(text: string): { cert: string; key: string } | null {
  const key = KEY_BLOCK.exec(text)?.[0];
  const certs = text.match(CERT_BLOCKS);
  if (key === undefined || certs === null) return null;
  return { key, cert: certs.join('') };
}

/** CertFiles reads and writes the certificates of one CA. */
export class CertFiles {
  constructor(
    private readonly storage: Storage,
    private readonly prefix: string,
    private readonly onCorrupt: (path: string, reason: string) => void,
  ) {}

  private keys(host: string) {
    const base = `${this.prefix}/certs/${hostKey(host)}`;
    return { bundle: `${base}.pem`, cert: `${base}.crt`, key: `${base}.key` };
  }

  /**
   * isCertKey tells whether a changed storage key is a host's certificate: its bundle (one write: a
   * change of it is a new pair), or the `.crt` an older version writes after its `.key` (a fleet
   * upgraded one replica at a time).
   */
  isCertKey(host: string, key: string): boolean {
    const k = this.keys(host);
    return key === k.bundle || key === k.cert;
  }

  /** certPath is where a host's certificate is (for messages). */
  certPath(host: string): string {
    return this.storage.describe(this.keys(host).bundle);
  }

  /** load returns the stored certificate for a host, or null when there is none or it is unusable. */
  async load(host: string): Promise<StoredCert | null> {
    const k = this.keys(host);
    let pems: { cert: string; key: string } | null;
    let path = this.storage.describe(k.bundle);
    try {
      const one = await this.storage.read(k.bundle);
      if (one !== null) {
        pems = unbundle(one.toString());
        if (pems === null) {
          this.onCorrupt(path, 'it does not hold a private key and a certificate');
          return null;
        }
      } else {
        path = this.storage.describe(k.cert);
        const [cert, key] = await Promise.all([this.storage.read(k.cert), this.storage.read(k.key)]);
        if (cert === null) return null;
        if (key === null) {
          this.onCorrupt(path, 'its key file is missing');
          return null;
        }
        pems = { cert: cert.toString(), key: key.toString() };
      }
    } catch (err) {
      this.onCorrupt(path, (err as Error).message);
      return null;
    }
    try {
      const p = parsePems(pems.cert, pems.key, path);
      if (!p.names.includes(host)) throw new Error(`it does not cover ${host} (names: ${p.names.join(', ')})`);
      return this.stored(host, p);
    } catch (err) {
      this.onCorrupt(path, (err as Error).message);
      return null;
    }
  }

  /** save stores a new certificate in one atomic write (see the file comment) and returns it loaded. */
  async save(host: string, pems: { cert: string; key: string }): Promise<StoredCert> {
    const k = this.keys(host);
    const stored = this.parse(host, pems);
    await this.storage.write(k.bundle, bundle(pems));
    // the older two-file form would shadow nothing (the bundle is read first), but it is stale now
    await Promise.all([this.storage.delete(k.cert), this.storage.delete(k.key)]).catch(() => undefined);
    return stored;
  }

  /** parse checks an issued pair (PEM parses, key matches) without storing it. */
  parse(host: string, pems: { cert: string; key: string }): StoredCert {
    return this.stored(host, parsePems(pems.cert, pems.key, `the certificate issued for ${host}`));
  }

  private stored(host: string, p: ReturnType<typeof parsePems>): StoredCert {
    return { host, cert: p.cert, key: p.key, notBefore: p.notBefore, notAfter: p.notAfter, issuer: p.issuer, serial: new X509Certificate(p.cert).serialNumber };
  }

  /** describeCert names where a host's certificate is stored (for log lines). */
  describeCert(host: string): string {
    return this.certPath(host);
  }
}
