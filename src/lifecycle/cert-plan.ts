/**
 * Certificate planning (control plane): for every routed host, decide where its certificate comes
 * from (file / acme / self-signed / none) per `routes.tls`, `[tls]` and `[acme]`, load the files,
 * and collect every problem with its key path. `check` prints the plan; `run` materialises it
 * (self-signed made here; ACME hosts are left to the ACME manager, which serves a self-signed
 * placeholder until their certificate exists).
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Config, ConfigProblem } from '../config/types.js';
import type { CertPems } from '../tls/cert-store.js';
import { loadForHost, loadPair, type LoadedCert } from '../cert-sources/static.js';
import { X509Certificate } from 'node:crypto';
import type { SelfSignedSource } from '../cert-sources/self-signed.js';
import { defaultKeyTypeFor, keyTypeDefectText, keyTypeMismatches, keyTypeOf, SNI_KEY_TYPE_DEFECT } from '../tls/key-types.js';

/**
 * CertSource is where a host's certificate comes from: `on-demand` is the `"*"` host with
 * `[acme.on_demand] ask` (each name's certificate at its first handshake), `default` the `"*"` host
 * without (unlisted names get the default certificate).
 */
export type CertSource = 'file' | 'acme' | 'self-signed' | 'none' | 'on-demand' | 'default';

/** HostCert is the plan for one routed host. */
export interface HostCert {
  host: string;
  source: CertSource;
  /** file path when source is file */
  path?: string;
  notAfter?: Date;
  issuer?: string;
}

/** CertPlan is the whole certificate plan of a config. */
export interface CertPlan {
  hosts: HostCert[];
  /** every certificate loaded from files (tls.dir per host and [[tls.certificates]]) */
  files: LoadedCert[];
  problems: ConfigProblem[];
  /** the contents of `acme.ca_bundle` (null when unset or ACME is off) */
  acmeCaBundle: string | null;
}

/** routedHosts lists each host once, with the `tls` mode of the first route naming it and that route's index. */
function routedHosts(config: Config): Map<string, { tls: string; index: number }> {
  const hosts = new Map<string, { tls: string; index: number }>();
  config.routes.forEach((r, index) => {
    for (const h of r.hosts) if (!hosts.has(h)) hosts.set(h, { tls: r.tls, index });
  });
  return hosts;
}

/** planCertificates loads certificate files and decides a source for every routed host. */
export async function planCertificates(config: Config): Promise<CertPlan> {
  const problems: ConfigProblem[] = [];
  const files: LoadedCert[] = [];
  for (const [i, c] of config.tls.certificates.entries()) {
    try {
      files.push(await loadPair(c.cert, c.key));
    } catch (err) {
      problems.push({ path: `tls.certificates[${i}]`, message: (err as Error).message });
    }
  }
  const hosts: HostCert[] = [];
  for (const [host, { tls, index }] of routedHosts(config)) {
    if (host === '*') {
      const onDemand = config.acme.enabled && config.acme.on_demand.ask !== '' && (tls === 'auto' || tls === 'acme');
      hosts.push({ host, source: onDemand ? 'on-demand' : 'default' });
      continue;
    }
    let own: LoadedCert | null = null;
    if (tls !== 'self-signed' && tls !== 'acme') {
      try {
        own = await loadForHost(config.tls.dir, host);
      } catch (err) {
        problems.push({ path: `routes[${index}].hosts`, message: `${host}: ${(err as Error).message}` });
      }
      if (own !== null) files.push(own);
    }
    const covered = own ?? files.find((f) => f.names.some((n) => covers(n, host))) ?? null;
    if (tls === 'acme' || (tls === 'auto' && covered === null && config.acme.enabled && autoAcme(config, host))) {
      hosts.push({ host, source: 'acme', issuer: config.acme.directory });
    } else if (tls === 'auto' && covered === null && config.acme.enabled && host.startsWith('*.')) {
      problems.push({ path: `routes[${index}].hosts`, message: `${host}: no certificate file, and ACME issues wildcards only with the DNS-01 challenge: set acme.dns_hook (docs/operations.md, "DNS-01 and wildcards"), add ${config.tls.dir}/_wildcard.${host.slice(2)}.crt, or set tls = "self-signed"` });
    } else if (covered !== null && tls !== 'self-signed') {
      hosts.push({ host, source: 'file', path: covered.certPath, notAfter: covered.notAfter, issuer: covered.issuer });
    } else if (tls === 'file') {
      problems.push({ path: `routes[${index}].tls`, message: `"file" but no certificate for ${host} (looked for ${config.tls.dir}/${host}.crt and [[tls.certificates]])` });
    } else if (tls === 'self-signed' || config.tls.self_signed) {
      hosts.push({ host, source: 'self-signed' });
    } else {
      hosts.push({ host, source: 'none' });
    }
  }
  const acmeCaBundle = await readCaBundle(config, problems);
  return { hosts, files, problems, acmeCaBundle };
}

/**
 * autoAcme: does `tls = "auto"` use ACME for a host without a certificate file? DNS names always;
 * wildcards when the dns-01 hook is set; IP addresses when the profile is "shortlived" (Let's
 * Encrypt issues IP certificates only in that profile; other CAs: `tls = "acme"` on the route).
 */
export function autoAcme(config: Config, host: string): boolean {
  if (host.startsWith('*.')) return config.acme.dns_hook.length > 0;
  if (isIP(host) !== 0) return config.acme.profile === 'shortlived';
  return true;
}

/** readCaBundle loads `acme.ca_bundle` when ACME is on (a problem when unreadable or without a certificate). */
async function readCaBundle(config: Config, problems: ConfigProblem[]): Promise<string | null> {
  const path = config.acme.ca_bundle;
  if (!config.acme.enabled || path === '') return null;
  try {
    const pem = await readFile(path, 'utf8');
    if (pem.includes('BEGIN CERTIFICATE')) return pem;
    problems.push({ path: 'acme.ca_bundle', message: `${path} holds no PEM certificate` });
  } catch (err) {
    problems.push({ path: 'acme.ca_bundle', message: `reading ${path}: ${(err as Error).message}` });
  }
  return null;
}

/** covers tells whether a certificate name serves a host (exact, or a one-label wildcard). */
export function covers(certName: string, host: string): boolean {
  if (certName === host) return true;
  if (!certName.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === certName.slice(2);
}

/**
 * materialise turns a plan into the PEM list for the snapshot, generating self-signed ones; with the
 * key type portico's default certificate takes (tls/key-types.ts).
 */
export async function materialise(plan: CertPlan, selfSigned: SelfSignedSource): Promise<{ certificates: CertPems[]; refused: string[]; defaultKeyType: 'ec' | 'rsa' }> {
  const certificates: CertPems[] = plan.files.map((f) => ({ names: f.names, cert: f.cert, key: f.key }));
  const refused: string[] = [];
  // an IP host's may be the no-SNI (default) certificate: of the default's key type
  const defaultKeyType = defaultKeyTypeFor(plan.files);
  for (const h of plan.hosts) {
    if (h.source === 'self-signed') {
      const p = await selfSigned.forName(h.host, isIP(h.host) === 0 ? 'ec' : defaultKeyType);
      certificates.push({ names: [h.host], cert: p.cert, key: p.key });
      // its expiry for /status.json and the dashboard (the plan itself is made before generating)
      h.notAfter ??= new Date(new X509Certificate(p.cert).validTo);
    } else if (h.source === 'none') {
      refused.push(h.host);
    }
  }
  // A host whose route says self-signed must not be shadowed by a file certificate covering it:
  // later entries win in the cert store, and self-signed ones come last.
  return { certificates, refused, defaultKeyType };
}

/**
 * keyTypeWarning (check): on a Node with the SNI key-type defect (tls/key-types.ts), the hosts whose
 * certificate file the default certificate shadows — the no-SNI certificate (`noSniKeyType`) — and so
 * get the default one.
 */
export function keyTypeWarning(config: Config, p: CertPlan): string | null {
  if (!SNI_KEY_TYPE_DEFECT || p.files.length === 0) return null;
  const defaultType = noSniKeyType(config, p);
  const routed = new Set(p.hosts.filter((h) => h.source === 'file').map((h) => h.host));
  const names = keyTypeMismatches(p.files.map((f) => ({ names: f.names.filter((n) => routed.has(n)), cert: f.cert })), defaultType);
  if (names.length === 0) return null;
  return keyTypeDefectText(names, defaultType);
}

/**
 * noSniKeyType is the key type of the certificate Runtime.noSniCertificate picks: the first routed IP
 * literal that has one — portico's own (ACME and its placeholder: P-256; self-signed: the default's
 * type), else the last file naming it — else portico's default one (RSA when a file certificate is RSA).
 */
function noSniKeyType(config: Config, p: CertPlan): string | null {
  const source = new Map(p.hosts.map((h) => [h.host, h.source]));
  for (const h of config.routes.flatMap((r) => r.hosts)) {
    if (isIP(h) === 0) continue;
    if (source.get(h) === 'acme') return 'ec';
    if (source.get(h) === 'self-signed') return defaultKeyTypeFor(p.files);
    const file = [...p.files].reverse().find((f) => f.names.includes(h));
    if (file !== undefined) return keyTypeOf(file.cert);
  }
  return defaultKeyTypeFor(p.files);
}
