/**
 * ChallengeStore (control plane, one per process): the answers to pending ACME challenges. Each
 * answer is written to storage first (so any process or replica sharing the storage can answer the
 * CA, whichever one its validation request reaches), then kept in memory and published in the
 * snapshot (`onChange`), so the data plane usually answers without asking. On a miss the data plane
 * asks `lookupHttp` / `lookupAlpn`, which read storage.
 *
 * Storage keys: `challenges/http-01/<token>` (the key authorization) and
 * `challenges/tls-alpn-01/<name>.json` (the RFC 8737 certificate and its key).
 */
import type { Storage } from '../storage/storage.js';
import type { ChallengeResponder } from './issuer.js';

/** ChallengeSnapshot is what goes into the data plane's snapshot. */
export interface ChallengeSnapshot {
  /** HTTP-01: token → key authorization */
  http: Record<string, string>;
  /** TLS-ALPN-01: challenge certificates by DNS name */
  alpn: Array<{ name: string; cert: string; key: string }>;
}

/** TOKEN is the base64url alphabet of RFC 8555 tokens (anything else is never looked up). */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const NAME = /^[a-z0-9.-]{1,253}$/;

/** ChallengeStore implements the issuer's ChallengeResponder and answers lookups. */
export class ChallengeStore implements ChallengeResponder {
  private readonly http = new Map<string, string>();
  private readonly alpn = new Map<string, { cert: string; key: string }>();
  private onChange: () => void = () => {};

  constructor(private readonly storage: Storage) {}

  /** setOnChange sets what to call after an answer was added or removed (publish a snapshot). */
  setOnChange(fn: () => void): void {
    this.onChange = fn;
  }

  async presentHttp(token: string, keyAuthorization: string): Promise<void> {
    if (!TOKEN.test(token)) throw new Error(`refusing an ACME token with unexpected characters: ${JSON.stringify(token)}`);
    await this.storage.write(`challenges/http-01/${token}`, keyAuthorization);
    this.http.set(token, keyAuthorization);
    this.onChange();
  }

  async removeHttp(token: string): Promise<void> {
    this.http.delete(token);
    this.onChange();
    if (TOKEN.test(token)) await this.storage.delete(`challenges/http-01/${token}`);
  }

  async presentAlpn(name: string, pems: { cert: string; key: string }): Promise<void> {
    await this.storage.write(`challenges/tls-alpn-01/${name}.json`, JSON.stringify(pems));
    this.alpn.set(name, pems);
    this.onChange();
  }

  async removeAlpn(name: string): Promise<void> {
    this.alpn.delete(name);
    this.onChange();
    await this.storage.delete(`challenges/tls-alpn-01/${name}.json`);
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
    return stored === null ? null : stored.toString();
  }

  /** lookupAlpn returns the TLS-ALPN-01 certificate for a name from memory, else from storage; null when none. */
  async lookupAlpn(name: string): Promise<{ cert: string; key: string } | null> {
    const n = name.toLowerCase();
    if (!NAME.test(n)) return null;
    const mine = this.alpn.get(n);
    if (mine !== undefined) return mine;
    const stored = await this.storage.read(`challenges/tls-alpn-01/${n}.json`);
    if (stored === null) return null;
    try {
      const p = JSON.parse(stored.toString()) as { cert?: unknown; key?: unknown };
      return typeof p.cert === 'string' && typeof p.key === 'string' ? { cert: p.cert, key: p.key } : null;
    } catch {
      return null; // half-written by another process is impossible (atomic writes); anything else is not ours
    }
  }
}
