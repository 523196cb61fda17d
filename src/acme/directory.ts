/**
 * The CA's directory (RFC 8555 §7.1.1) as `check` and start-up read it, without acme-client: which
 * profiles it offers (`meta.profiles`, draft-ietf-acme-profiles) and whether it has ACME Renewal
 * Information (`renewalInfo`, RFC 9773). `profileProblem` says what is wrong with `acme.profile`.
 */
import https from 'node:https';
import { rootCertificates } from 'node:tls';

/** DirectoryInfo is what portico reads from a directory. */
export interface DirectoryInfo {
  /** profile name → description; null when the directory lists none */
  profiles: Record<string, string> | null;
  /** whether the CA offers ARI */
  renewalInfo: boolean;
}

/** fetchDirectory GETs the directory (trusting `caBundle` too); rejects on any failure, with the reason. */
export function fetchDirectory(url: string, caBundle: string | null, timeoutMs = 10_000): Promise<DirectoryInfo> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: caBundle === null ? undefined : [...rootCertificates, caBundle], timeout: timeoutMs, headers: { accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        if (body.length > 1_000_000) req.destroy(new Error('the directory is larger than 1 MB'));
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        try {
          const dir = JSON.parse(body) as { meta?: { profiles?: unknown }; renewalInfo?: unknown };
          const p = dir.meta?.profiles;
          const profiles = typeof p === 'object' && p !== null && !Array.isArray(p) && Object.keys(p).length > 0
            ? Object.fromEntries(Object.entries(p).map(([k, v]) => [k, typeof v === 'string' ? v : '']))
            : null;
          resolve({ profiles, renewalInfo: typeof dir.renewalInfo === 'string' });
        } catch {
          reject(new Error('the answer is not a JSON directory'));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', reject);
  });
}

/** profileProblem: null when the directory offers `profile`, else why not (naming what it offers). */
export function profileProblem(profile: string, dir: DirectoryInfo): string | null {
  if (profile === '') return null;
  if (dir.profiles === null) return `${JSON.stringify(profile)}: the CA's directory lists no profiles (it would ignore the profile and issue its default); remove acme.profile for this CA`;
  if (profile in dir.profiles) return null;
  return `${JSON.stringify(profile)}: the CA's directory does not list it; it offers ${Object.keys(dir.profiles).map((n) => JSON.stringify(n)).join(', ')}`;
}
