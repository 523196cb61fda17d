/**
 * inspectAcme: what `portico check` shows per ACME host without starting anything or writing to the
 * storage: the stored certificate (issuer, expiry, planned renewal), whether it is unreadable, and the
 * failure ledger (attempts, last error, next attempt); with `onDemand`, also every name obtained on
 * demand earlier (remembered in storage).
 */
import type { Storage } from '../storage/storage.js';
import { emptyEntry, Ledger, type LedgerEntry } from './ledger.js';
import { renewalTime, storagePrefix, type AcmeSettings } from './manager.js';
import { onDemandHosts } from './on-demand.js';
import { CertFiles } from './stored.js';

/** AcmeInspection is one host's stored ACME state. */
export interface AcmeInspection {
  host: string;
  stored: { issuer: string; notAfter: Date; renewAt: Date } | null;
  /** why the stored certificate cannot be used (it will be issued again) */
  unreadable: string | null;
  ledger: LedgerEntry;
  /** a name obtained on demand (no route lists it) */
  onDemand?: boolean;
}

/** inspectAcme reads the storage for each host. */
export async function inspectAcme(storage: Storage, acme: AcmeSettings, hosts: readonly string[], o: { onDemand?: boolean } = {}): Promise<AcmeInspection[]> {
  const prefix = storagePrefix(acme.directory);
  const ledger = new Ledger(storage, prefix, acme.backoff);
  const listed = new Set(hosts);
  const remembered = o.onDemand ? (await onDemandHosts(storage, prefix).catch(() => [])).filter((h) => !listed.has(h)) : [];
  return Promise.all([...hosts, ...remembered].map(async (host) => {
    let unreadable: string | null = null;
    const files = new CertFiles(storage, prefix, (path, reason) => (unreadable = `${path}: ${reason}`));
    const c = await files.load(host).catch((err: Error) => ((unreadable = err.message), null));
    const stored = c === null ? null : { issuer: c.issuer, notAfter: c.notAfter, renewAt: renewalTime(c, acme.renew_before, 0) };
    const entry = await ledger.get(host).catch((err: Error) => ({ ...emptyEntry(host), last_error: `ledger unreadable: ${err.message}` }));
    return { host, stored, unreadable, ledger: entry, ...(listed.has(host) ? {} : { onDemand: true }) };
  }));
}
