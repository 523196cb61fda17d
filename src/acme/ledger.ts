/**
 * The failure ledger (DESIGN §6): every failed order or renewal of a host is written to storage
 * (`<prefix>/ledger/<host>.json`) with the time, the error and when the next attempt may run. The
 * next attempt follows the backoff ladder (`acme.backoff`, default 1 min doubling to a 1-day cap),
 * or the CA's Retry-After when that is later. Because it is persisted, a restart (or a crash-looping
 * container, or another replica) keeps backing off instead of hammering the CA. A success clears it.
 */
import type { Storage } from '../storage/storage.js';
import { hostKey } from './names.js';

/** LedgerFailure is one failed attempt. */
export interface LedgerFailure {
  at: string;
  error: string;
}

/** LedgerEntry is a host's record. */
export interface LedgerEntry {
  host: string;
  /** failed attempts since the last success */
  consecutive_failures: number;
  /** ISO time before which no new attempt runs (null: any time) */
  next_attempt_at: string | null;
  last_error: string | null;
  last_failure_at: string | null;
  last_success_at: string | null;
  /** the latest failures, newest last (at most HISTORY) */
  history: LedgerFailure[];
}

const HISTORY = 10;

/** ladderDelay is the backoff after `failures` consecutive failures: min × 2^(failures−1), capped at max. */
export function ladderDelay(failures: number, backoff: { min: number; max: number }): number {
  if (failures <= 0) return 0;
  return Math.min(backoff.max, backoff.min * 2 ** Math.min(failures - 1, 52));
}

/** emptyEntry is a host with no recorded failure. */
export function emptyEntry(host: string): LedgerEntry {
  return { host, consecutive_failures: 0, next_attempt_at: null, last_error: null, last_failure_at: null, last_success_at: null, history: [] };
}

/** Ledger reads and writes entries; one writer per host at a time (the caller holds the host's lock). */
export class Ledger {
  constructor(
    private readonly storage: Storage,
    private readonly prefix: string,
    private readonly backoff: { min: number; max: number },
    private readonly now: () => number = Date.now,
  ) {}

  private key(host: string): string {
    return `${this.prefix}/ledger/${hostKey(host)}.json`;
  }

  /** path is where a host's entry lives (for messages). */
  path(host: string): string {
    return this.storage.describe(this.key(host));
  }

  /** get returns the host's entry (an empty one when none, or when the file is corrupt: `corrupt` says so). */
  async get(host: string): Promise<LedgerEntry & { corrupt?: boolean }> {
    let raw: Buffer | null;
    try {
      raw = await this.storage.read(this.key(host));
    } catch {
      // unreadable (EACCES, EIO…): treated like a corrupt entry, never a crash
      return { ...emptyEntry(host), corrupt: true };
    }
    if (raw === null) return emptyEntry(host);
    try {
      const e = JSON.parse(raw.toString()) as LedgerEntry;
      if (typeof e.consecutive_failures !== 'number' || !Array.isArray(e.history)) throw new Error('not a ledger entry');
      return e;
    } catch {
      return { ...emptyEntry(host), corrupt: true };
    }
  }

  /** failure records a failed attempt and returns the entry with its next attempt time. */
  async failure(host: string, error: string, retryAfterMs?: number, known?: LedgerEntry): Promise<LedgerEntry & { unsaved?: string }> {
    // the process's own record counts too: when storage cannot be read, the ladder must not restart
    const stored = await this.get(host);
    const prev = known !== undefined && known.consecutive_failures > stored.consecutive_failures ? known : stored;
    const now = this.now();
    const failures = prev.consecutive_failures + 1;
    const wait = Math.max(ladderDelay(failures, this.backoff), retryAfterMs ?? 0);
    const at = new Date(now).toISOString();
    const entry: LedgerEntry = {
      host,
      consecutive_failures: failures,
      next_attempt_at: new Date(now + wait).toISOString(),
      last_error: error,
      last_failure_at: at,
      last_success_at: prev.last_success_at,
      history: [...prev.history, { at, error }].slice(-HISTORY),
    };
    return this.write(entry);
  }

  /** write persists an entry; when storage fails the entry is still returned (kept in memory), marked unsaved. */
  private async write(entry: LedgerEntry): Promise<LedgerEntry & { unsaved?: string }> {
    try {
      await this.storage.write(this.key(entry.host), JSON.stringify(entry, null, 2));
      return entry;
    } catch (err) {
      return { ...entry, unsaved: (err as Error).message };
    }
  }

  /** success clears the failure count (history is kept for /status). */
  async success(host: string): Promise<LedgerEntry & { unsaved?: string }> {
    const prev = await this.get(host);
    const entry: LedgerEntry = { ...prev, host, consecutive_failures: 0, next_attempt_at: null, last_success_at: new Date(this.now()).toISOString() };
    delete (entry as { corrupt?: boolean }).corrupt;
    return this.write(entry);
  }
}
