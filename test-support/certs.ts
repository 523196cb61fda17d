/** makeCert: certificates generated at test time (portico's own generator, src/cert-sources/x509.ts); no keys in git. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeCertificate, type Pems } from '../src/cert-sources/self-signed.js';

/** TestCA is a root that signs leaf certificates. */
export interface TestCA extends Pems {
  /** leaf signed by this CA for the names; `cert` is leaf + CA (the full chain a server sends); commonName "" = none */
  issue(names: string[], o?: { commonName?: string; days?: number }): Promise<Pems & { leaf: string }>;
}

/** makeCA creates a test root CA. */
export async function makeCA(name = 'portico test CA'): Promise<TestCA> {
  const ca = await makeCertificate({ commonName: name, names: [], isCA: true, days: 30 });
  return {
    ...ca,
    async issue(names: string[], o: { commonName?: string; days?: number } = {}) {
      const leaf = await makeCertificate({ commonName: o.commonName ?? names[0]!, names, issuer: ca, days: o.days ?? 30 });
      return { cert: leaf.cert + ca.cert, key: leaf.key, leaf: leaf.cert };
    },
  };
}

/** writePair writes `<dir>/<stem>.crt` and `.key` (key 0600) and returns the paths. */
export async function writePair(dir: string, stem: string, p: Pems): Promise<{ cert: string; key: string }> {
  await mkdir(dir, { recursive: true });
  const cert = join(dir, `${stem}.crt`);
  const key = join(dir, `${stem}.key`);
  await writeFile(cert, p.cert);
  await writeFile(key, p.key, { mode: 0o600 });
  return { cert, key };
}
