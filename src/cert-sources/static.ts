/**
 * Static certificates from files (control plane): `tls.dir/<host>.crt` + `<host>.key` per routed host
 * (`_wildcard.example.com.crt` for `*.example.com`), and `[[tls.certificates]]` whose names come from the
 * certificate's subjectAltName. Every file is checked: it parses, the key matches, and its dates.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CertificateError } from '../errors.js';

/** LoadedCert is a certificate read from disk, with what `check` and /status show about it. */
export interface LoadedCert {
  names: string[];
  cert: string;
  key: string;
  certPath: string;
  notAfter: Date;
  notBefore: Date;
  issuer: string;
}

/** fileNameFor maps a host to its file stem in tls.dir (`*.x` → `_wildcard.x`). */
export function fileNameFor(host: string): string {
  return host.startsWith('*.') ? `_wildcard.${host.slice(2)}` : host;
}

/** sanNames lists the DNS and IP names of a certificate (lower-case). */
export function sanNames(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (!san) return [];
  return san
    .split(', ')
    .map((entry) => {
      const i = entry.indexOf(':');
      const kind = entry.slice(0, i);
      const value = entry.slice(i + 1).toLowerCase();
      return kind === 'DNS' || kind === 'IP Address' ? value : '';
    })
    .filter((n) => n !== '');
}

/** parsePems checks a certificate/key pair and returns the facts about it. */
export function parsePems(cert: string, key: string, certPath: string, names?: string[]): LoadedCert {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new CertificateError(`loading certificate ${certPath}: not a PEM certificate`, err);
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new CertificateError(`loading key for ${certPath}: not a PEM private key`, err);
  }
  if (!matches) throw new CertificateError(`loading certificate ${certPath}: the key file does not match the certificate`);
  return {
    names: names ?? sanNames(x509),
    cert,
    key,
    certPath,
    notAfter: new Date(x509.validTo),
    notBefore: new Date(x509.validFrom),
    issuer: x509.issuer.replace(/\n/g, ', '),
  };
}

/** loadPair reads and checks one cert/key file pair. */
export async function loadPair(certPath: string, keyPath: string, names?: string[]): Promise<LoadedCert> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  } catch (err) {
    throw new CertificateError(`loading certificate ${certPath}: ${(err as Error).message}`, err);
  }
  return parsePems(cert, key, certPath, names);
}

/** loadForHost reads `dir/<host>.crt|.key`; null when the certificate file does not exist. */
export async function loadForHost(dir: string, host: string): Promise<LoadedCert | null> {
  const stem = join(dir, fileNameFor(host));
  try {
    await access(`${stem}.crt`);
  } catch {
    return null; // no certificate file for this host: not an error (self-signed or none applies)
  }
  return loadPair(`${stem}.crt`, `${stem}.key`, [host]);
}
