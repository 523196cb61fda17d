/**
 * ChallengeStore (control plane, one per process): the answers to pending ACME challenges. Each
 * answer is written to storage first (so any process or replica sharing the storage can answer the
 * CA, whichever one its validation request reaches), then kept in memory and published in the
 * snapshot (`onChange`), so the data plane usually answers without asking. On a miss the data plane
 * asks `lookupHttp` / `lookupAlpn`, which read storage.
 *
 * Storage keys: `challenges/http-01/<token>`, `challenges/tls-alpn-01/<name>.json` (the RFC 8737
 * certificate and its key; IPv6 names as `hostKey`) and `challenges/dns-01/<name>.json` (a TXT record
 * the dns hook added). Each entry is JSON recording when and by which process it was written, so
 * `sweep` can remove what a crashed process left behind (issue 27: such files were never cleaned):
 * entries of a process on this host that is gone (another pid, or our pid with another instance id:
 * a container restarted as pid 1), anything older than an hour, and entries of older versions
 * (no record). A dns-01 entry is removed through the hook's `remove` first.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { alive } from '../storage/lock.js';
import type { Storage } from '../storage/storage.js';
import { hostKey, ipFromReverseName } from './names.js';

/** ChallengeSnapshot is what goes into the data plane's snapshot. */
export interface ChallengeSnapshot {
  /** HTTP-01: token → key authorization */
  http: Record<string, string>;
  /** TLS-ALPN-01: challenge certificates by DNS name or IP address */
  alpn: Array<{ name: string; cert: string; key: string }>;
}

/** ChallengeAnswers is what the issuer needs to publish HTTP-01 and TLS-ALPN-01 answers (the store implements it). */
export interface ChallengeAnswers {
  presentHttp(token: string, keyAuthorization: string): Promise<void>;
  removeHttp(token: string): Promise<void>;
  presentAlpn(name: string, pems: { cert: string; key: string }): Promise<void>;
  removeAlpn(name: string): Promise<void>;
}

/** DnsRecords remembers the TXT records a dns hook added, until they are removed (for the sweep). */
export interface DnsRecords {
  recordDns(name: string, value: string): Promise<void>;
  forgetDns(name: string): Promise<void>;
}

/** TOKEN is the base64url alphabet of RFC 8555 tokens (anything else is never looked up). */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const NAME = /^[a-z0-9.-]{1,253}$/;
/** STALE_MS: a challenge entry older than this is left over (validation takes seconds). */
export const STALE_MS = 3_600_000;

/** Written is who wrote an entry, and when. */
interface Written {
  created_at: string;
  pid: number;
  host: string;
  instance: string;
}

/** ChallengeStore implements the issuer's ChallengeAnswers and DnsRecords and answers lookups. */
export class ChallengeStore implements ChallengeAnswers, DnsRecords {
  private readonly http = new Map<string, string>();
  private readonly alpn = new Map<string, { cert: string; key: string }>();
  private onChange: () => void = () => {};
  /** this process's id in the entries it writes (a restarted container has the same pid) */
  private readonly instance = randomBytes(6).toString('hex');

  constructor(private readonly storage: Storage, private readonly now: () => number = Date.now) {}

  /** setOnChange sets what to call after an answer was added or removed (publish a snapshot). */
  setOnChange(fn: () => void): void {
    this.onChange = fn;
  }

  private written(): Written {
    return { created_at: new Date(this.now()).toISOString(), pid: process.pid, host: hostname(), instance: this.instance };
  }

  async presentHttp(token: string, keyAuthorization: string): Promise<void> {
    if (!TOKEN.test(token)) throw new Error(`refusing an ACME token with unexpected characters: ${JSON.stringify(token)}`);
    await this.storage.write(`challenges/http-01/${token}`, JSON.stringify({ key_authorization: keyAuthorization, ...this.written() }));
    this.http.set(token, keyAuthorization);
    this.onChange();
  }

  async removeHttp(token: string): Promise<void> {
    this.http.delete(token);
    this.onChange();
    if (TOKEN.test(token)) await this.storage.delete(`challenges/http-01/${token}`);
  }

  async presentAlpn(name: string, pems: { cert: string; key: string }): Promise<void> {
    await this.storage.write(`challenges/tls-alpn-01/${hostKey(name)}.json`, JSON.stringify({ ...pems, ...this.written() }));
    this.alpn.set(name, pems);
    this.onChange();
  }

  async removeAlpn(name: string): Promise<void> {
    this.alpn.delete(name);
    this.onChange();
    await this.storage.delete(`challenges/tls-alpn-01/${hostKey(name)}.json`);
  }

  async recordDns(name: string, value: string): Promise<void> {
    await this.storage.write(`challenges/dns-01/${name}.json`, JSON.stringify({ name, value, ...this.written() }));
  }

  async forgetDns(name: string): Promise<void> {
    await this.storage.delete(`challenges/dns-01/${name}.json`);
  }

  /** snapshot is the current answers as plain data. */
  snapshot(): ChallengeSnapshot {
    return {
      http: Object.fromEntries(this.http),
      alpn: [...this.alpn].map(([name, p]) => ({ name, cert: p.cert, key: p.key })),
    };
  }

  /** lookupHttp answers a token from memory, else from storage (another process's order); null when unknown. */
  async lookupHttp(token: string): Promise<string | null> {
    if (!TOKEN.test(token)) return null;
    const mine = this.http.get(token);
    if (mine !== undefined) return mine;
    const stored = await this.storage.read(`challenges/http-01/${token}`);
    if (stored === null) return null;
    const text = stored.toString();
    // older versions stored the bare key authorization
    const entry = parseEntry<{ key_authorization?: unknown }>(text);
    if (entry === null) return text;
    return typeof entry.key_authorization === 'string' ? entry.key_authorization : null;
  }

  /**
   * lookupAlpn returns the TLS-ALPN-01 certificate for an SNI name from memory, else from storage;
   * null when none. A CA validating an IP address sends its reverse-DNS name (RFC 8738 §6).
   */
  async lookupAlpn(servername: string): Promise<{ cert: string; key: string } | null> {
    const n = servername.toLowerCase();
    if (!NAME.test(n)) return null;
    const name = ipFromReverseName(n) ?? n;
    const mine = this.alpn.get(name);
    if (mine !== undefined) return mine;
    const stored = await this.storage.read(`challenges/tls-alpn-01/${hostKey(name)}.json`);
    if (stored === null) return null;
    const p = parseEntry<{ cert?: unknown; key?: unknown }>(stored.toString());
    // half-written by another process is impossible (atomic writes); anything else is not ours
    return p !== null && typeof p.cert === 'string' && typeof p.key === 'string' ? { cert: p.cert, key: p.key } : null;
  }

  /**
   * sweep removes challenge entries left behind (see the file comment); a dns-01 entry's record is
   * removed with `removeDns` (the hook) first. Returns what was removed. Never throws.
   */
  async sweep(removeDns: ((name: string, value: string) => Promise<void>) | null, onError: (key: string, err: Error) => void = () => {}): Promise<string[]> {
    const removed: string[] = [];
    for (const kind of ['http-01', 'tls-alpn-01', 'dns-01']) {
      let keys: string[];
      try {
        keys = await this.storage.list(`challenges/${kind}`);
      } catch (err) {
        onError(`challenges/${kind}`, err as Error);
        continue;
      }
      for (const key of keys) {
        try {
          const raw = await this.storage.read(key);
          if (raw === null) continue;
          const entry = parseEntry<Partial<Written> & { name?: unknown; value?: unknown }>(raw.toString());
          if (!this.stale(entry)) continue;
          if (kind === 'dns-01') {
            if (removeDns === null || typeof entry?.name !== 'string' || typeof entry.value !== 'string') continue; // kept until a hook can remove it
            await removeDns(entry.name, entry.value);
          }
          await this.storage.delete(key);
          removed.push(key);
        } catch (err) {
          onError(key, err as Error);
        }
      }
    }
    return removed;
  }

  private stale(e: (Partial<Written> & Record<string, unknown>) | null): boolean {
    if (e === null || typeof e.created_at !== 'string') return true; // an older version's entry
    const at = Date.parse(e.created_at);
    if (Number.isNaN(at) || this.now() - at > STALE_MS) return true;
    if (e.host !== hostname()) return false; // another machine's: only its age tells
    if (e.pid === process.pid) return e.instance !== this.instance;
    return !alive(e.pid);
  }
}

/** parseEntry parses a JSON entry; null when the text is not a JSON object. */
function parseEntry<T>(text: string): (T & Record<string, unknown>) | null {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as T & Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
