/**
 * AcmeIssuer: obtains certificates from an ACME CA (RFC 8555) with acme-client. This is the only
 * file that imports acme-client (and, through it, axios); manager.ts loads it lazily, so a portico
 * without `[acme] enabled` never loads either, and the data plane never does.
 *
 * - Account: key and URL persisted in storage (`acme/<issuer>/account.key|.json`), read, created and
 *   checked only under the account's storage lock. account.json records the key's thumbprint: a
 *   missing or corrupt key makes a new key AND a new registration (issue 27: the old URL was kept
 *   with a new key, so every order failed); a file of an older version (no thumbprint) is checked
 *   once at the CA (onlyReturnExisting). A changed `acme.email` updates the account's contact. A
 *   stored account the CA no longer knows (a CA reset, pebble restarted) is looked up by key and else
 *   registered again, and the order retried once. EAB applies.
 * - Orders: identifiers `dns` or `ip` (RFC 8738), the `profile` when configured
 *   (draft-ietf-acme-profiles), `replaces` for ARI renewals. An order is recorded before finalize
 *   (pending.ts) and then finished whatever the abort signal says; a recorded one is resumed.
 * - Challenges: tried in the configured order; when one type fails, a new order tries the next. A
 *   wildcard's authorization is dns-01 only, through the dns hook (dns01.ts).
 * - Errors: acme-client's own retries are off (the failure ledger backs off instead, across restarts),
 *   so a 429 is never slept on inside a request. An interceptor in front of acme-client's turns
 *   transport errors into AcmeError keeping the cause (acme-client issue #101 loses it), and CA
 *   problem documents into AcmeError / AcmeRateLimitedError with status, type and Retry-After.
 * - ARI (RFC 9773): `renewalInfo` fetches the suggested window with a plain GET on the directory's
 *   `renewalInfo` URL, through acme-client's raw HTTP client (it has no helper for it).
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import https from 'node:https';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import * as acme from 'acme-client';
/** AcmeChallenge is a challenge type portico answers. */
export type AcmeChallenge = 'http-01' | 'tls-alpn-01' | 'dns-01';
import { AcmeError, AcmeRateLimitedError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/storage.js';
import { ariCertId, type RenewalWindow } from './ari.js';
import type { ChallengeAnswers } from './challenges.js';
import type { DnsSolver } from './dns01.js';
import { dnsRecordName, identifierOf } from './names.js';
import { PendingOrders } from './pending.js';

/** IssueRequest asks for one certificate. */
export interface IssueRequest {
  /** DNS names, `*.name` wildcards or IP addresses; the first DNS name of at most 64 characters is the common name */
  names: string[];
  /** challenge types in the order to try */
  challenges: readonly AcmeChallenge[];
  /** profile for newOrder ("" or absent: the CA's default) */
  profile?: string;
  /** the ARI certificate id of the certificate this one replaces (RFC 9773 §5), when the CA offers ARI */
  replaces?: string | null;
  signal?: AbortSignal;
}

/** Issued is an obtained certificate: full chain (leaf first) and its private key, PEM. */
export interface Issued {
  cert: string;
  key: string;
  /** the challenge type that validated it */
  challenge: AcmeChallenge;
  /** downloaded for an order finalized earlier (a shutdown or crash came between finalize and download) */
  resumed?: boolean;
}

/** RenewalInfo is the CA's ARI answer. */
export interface RenewalInfo extends RenewalWindow {
  /** when to ask again (Retry-After; default 6h) */
  retryAfterMs: number;
  explanationUrl: string | null;
}

/** Issuer is the seam the manager uses (tests pass fakes). Calls may run concurrently. */
export interface Issuer {
  /** issue obtains a certificate; rejects with AcmeError. */
  issue(req: IssueRequest): Promise<Issued>;
  /** renewalInfo returns the CA's suggested renewal window, or null when the CA has no ARI. */
  renewalInfo(certPem: string): Promise<RenewalInfo | null>;
  /** certId is the ARI identifier of a certificate (null when it cannot be computed). */
  certId(certPem: string): string | null;
}

/** AcmeIssuerOptions configure one CA account. */
export interface AcmeIssuerOptions {
  directory: string;
  email: string;
  /** extra trusted roots (PEM) for the directory's TLS, added to Node's defaults */
  caBundle: string | null;
  eab: { kid: string; hmac_key: string } | null;
  storage: Storage;
  /** storage key prefix for this CA's state (`acme/<issuer-key>`) */
  prefix: string;
  /** publishes HTTP-01 and TLS-ALPN-01 answers (challenges.ts) */
  responder: ChallengeAnswers;
  /** sets dns-01 TXT records (null: no dns hook configured) */
  dns: DnsSolver | null;
  log: Logger;
  /** polling backoff for challenge and order status (ms; default 250..4000) */
  pollMin?: number;
  pollMax?: number;
}

/** DEFAULT_ARI_RETRY_MS: how often to ask for renewal information when the CA does not say (RFC 9773 suggests 6h). */
const DEFAULT_ARI_RETRY_MS = 6 * 3_600_000;
const BAD_NONCE = 'urn:ietf:params:acme:error:badNonce';

// ─── the shared axios instance: set up once ────────────────────────────────────

interface AxiosLikeError {
  code?: string;
  message: string;
  config?: { url?: string };
  response?: { status: number; headers: Record<string, string | undefined>; data: unknown; config?: { url?: string } };
}

/** agents holds the https.Agent per CA origin (ca_bundle), chosen per request by the interceptor. */
const agents = new Map<string, https.Agent>();

/** retryAfterMs parses a Retry-After header (seconds or an HTTP date). */
export function retryAfterMs(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined || header === '') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** problemOf returns the RFC 7807 problem in a response body, if it is one. */
function problemOf(data: unknown): { type?: string; detail?: string } | null {
  return typeof data === 'object' && data !== null && ('type' in data || 'detail' in data) ? (data as { type?: string; detail?: string }) : null;
}

/** toAcmeError classifies a failed axios exchange; null leaves it to acme-client (e.g. badNonce, which it retries). */
function toAcmeError(err: AxiosLikeError): AcmeError | null {
  const r = err.response;
  const url = r?.config?.url ?? err.config?.url ?? '';
  if (r === undefined) {
    const code = err.code && !err.message.includes(err.code) ? `${err.code} ` : '';
    return new AcmeError(`ACME request ${url} failed: ${code}${err.message}`.trim(), { cause: err });
  }
  const problem = problemOf(r.data);
  const wait = retryAfterMs(r.headers['retry-after']);
  const detail = problem?.detail ?? (typeof r.data === 'string' && r.data.length < 200 ? r.data : '');
  const details = { status: r.status, problemType: problem?.type, retryAfterMs: wait };
  if (r.status === 429 || problem?.type === 'urn:ietf:params:acme:error:rateLimited') {
    return new AcmeRateLimitedError(`rate limited by the CA (HTTP ${r.status}${wait !== undefined ? `, retry after ${Math.ceil(wait / 1000)}s` : ''}): ${detail}`, details);
  }
  if (r.status < 400 || problem?.type === BAD_NONCE) return null;
  return new AcmeError(`${detail || `HTTP ${r.status}`} (${problem?.type ?? `HTTP ${r.status}`} from ${url})`, details);
}

let axiosReady = false;

/** setUpAxios configures acme-client's shared axios instance once (see the file comment). */
function setUpAxios(): void {
  if (axiosReady) return;
  axiosReady = true;
  const ax = acme.axios;
  (ax.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts = 0;
  ax.defaults.timeout = 30_000;
  ax.interceptors.request.use((config) => {
    const agent = config.url ? agents.get(new URL(config.url).origin) : undefined;
    if (agent !== undefined) config.httpsAgent = agent;
    return config;
  });
  // In front of acme-client's own handler (which would mangle transport errors): errors without a
  // `config` property pass through acme-client's handler untouched.
  const handlers = (ax.interceptors.response as unknown as { handlers: unknown[] }).handlers;
  handlers.unshift({
    fulfilled: (r: unknown) => r,
    rejected: (err: AxiosLikeError) => Promise.reject(toAcmeError(err) ?? err),
    synchronous: false,
    runWhen: null,
  });
}

// ─── the issuer ───────────────────────────────────────────────────────────────

/** Account is a stored ACME account. */
interface Account {
  key: string;
  url: string;
}

/** AccountMeta is account.json. */
interface AccountMeta {
  url?: string;
  directory?: string;
  email?: string;
  /** base64url SHA-256 of the key's public key (SPKI): which key the URL belongs to */
  key_thumbprint?: string;
  registered_at?: string;
  updated_at?: string;
}

/** thumbprint identifies an account key (see AccountMeta); null when the PEM is not a private key. */
function thumbprint(pem: string): string | null {
  try {
    const spki = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
    return createHash('sha256').update(spki).digest('base64url');
  } catch {
    return null;
  }
}

/** commonName is the first DNS name that fits a Common Name (≤ 64 characters); none for IP-only certificates. */
function commonName(names: readonly string[]): string | undefined {
  return names.find((n) => isIP(n) === 0 && n.length <= 64);
}

/** RawHttp is the part of acme-client's (untyped) internal HTTP client used for ARI. */
interface RawHttp {
  getDirectory(): Promise<Record<string, unknown>>;
  request(url: string, method: string): Promise<{ status: number; headers: Record<string, string | undefined>; data: unknown }>;
}

/** isUnknownAccount tells whether the CA no longer knows the account we signed with. */
function isUnknownAccount(err: unknown): boolean {
  if (!(err instanceof AcmeError)) return false;
  return err.problemType === 'urn:ietf:params:acme:error:accountDoesNotExist' || /account\b.*\b(not found|does not exist|deactivated)/i.test(err.message);
}

/** ACCOUNT_LOCK_TRIES: resolutions of the account whose lock was lost before the order fails. */
const ACCOUNT_LOCK_TRIES = 3;

/** AcmeIssuer is an Issuer for one CA directory and account. */
export class AcmeIssuer implements Issuer {
  private account: Account | null = null;
  private accountPending: Promise<Account> | null = null;
  private readonly log: Logger;
  private readonly pending: PendingOrders;
  /** the key acme-client needs for unsigned GETs (ARI); never an account's */
  private getKey: Promise<string> | null = null;

  constructor(private readonly o: AcmeIssuerOptions) {
    setUpAxios();
    this.log = o.log;
    this.pending = new PendingOrders(o.storage, o.prefix);
    if (o.caBundle !== null) {
      agents.set(new URL(o.directory).origin, new https.Agent({ ca: [...rootCertificates, o.caBundle], keepAlive: true }));
    }
  }

  certId(certPem: string): string | null {
    try {
      return ariCertId(certPem);
    } catch {
      return null;
    }
  }

  /**
   * issue runs one order per challenge type until one succeeds: account → order → authorizations →
   * challenge → finalize with a fresh P-256 key → download the chain.
   */
  async issue(req: IssueRequest): Promise<Issued> {
    const resumed = await this.withAccount((client) => this.resume(client, req));
    if (resumed !== null) return resumed;
    let lastErr: unknown = null;
    for (const type of req.challenges) {
      req.signal?.throwIfAborted();
      try {
        return await this.withAccount((client) => this.order(client, req, type));
      } catch (err) {
        lastErr = err;
        // Only a failed challenge is worth another type; the CA refusing or being down is not.
        if (!(err instanceof ChallengeFailed)) throw err;
        this.log.warn({ names: req.names, challenge: type, err: err.message }, 'challenge failed; trying the next type');
      }
    }
    throw lastErr instanceof ChallengeFailed ? new AcmeError(lastErr.message, { cause: lastErr.cause }) : lastErr;
  }

  /** renewalInfo asks the CA for the suggested renewal window of a certificate (RFC 9773 §4.2). */
  async renewalInfo(certPem: string): Promise<RenewalInfo | null> {
    const id = this.certId(certPem);
    if (id === null) return null;
    // a plain GET (RFC 9773 §4.2): no account needed; acme-client's client wants a key, so it gets one of its own
    this.getKey ??= acme.crypto.createPrivateEcdsaKey('P-256').then((k) => k.toString());
    const http = this.raw(this.client({ key: await this.getKey, url: '' }));
    const dir = await http.getDirectory();
    const base = dir.renewalInfo;
    if (typeof base !== 'string') return null;
    const resp = await http.request(`${base.replace(/\/$/, '')}/${id}`, 'get');
    const body = resp.data as { suggestedWindow?: { start?: string; end?: string }; explanationURL?: string };
    const start = new Date(body.suggestedWindow?.start ?? '');
    const end = new Date(body.suggestedWindow?.end ?? '');
    if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end < start) {
      throw new AcmeError(`renewal information for ${id}: no valid suggestedWindow in the answer`);
    }
    return { start, end, explanationUrl: body.explanationURL ?? null, retryAfterMs: retryAfterMs(resp.headers['retry-after']) ?? DEFAULT_ARI_RETRY_MS };
  }

  private raw(client: acme.Client): RawHttp {
    return (client as unknown as { http: RawHttp }).http;
  }

  private client(account: Account): acme.Client {
    return new acme.Client({
      directoryUrl: this.o.directory,
      accountKey: account.key,
      accountUrl: account.url || undefined,
      externalAccountBinding: this.o.eab ? { kid: this.o.eab.kid, hmacKey: this.o.eab.hmac_key } : undefined,
      backoffAttempts: 12,
      backoffMin: this.o.pollMin ?? 250,
      backoffMax: this.o.pollMax ?? 4000,
    });
  }

  /** withAccount runs fn with a client for the stored account; an account the CA forgot is re-registered once. */
  private async withAccount<T>(fn: (client: acme.Client) => Promise<T>): Promise<T> {
    const account = await this.ensureAccount(null);
    try {
      return await fn(this.client(account));
    } catch (err) {
      if (!isUnknownAccount(err)) throw err;
      this.log.warn({ account: account.url, err: (err as Error).message }, 'the CA does not know the stored account; registering again');
      return fn(this.client(await this.ensureAccount(account.url)));
    }
  }

  private get keys() {
    return { key: `${this.o.prefix}/account.key`, meta: `${this.o.prefix}/account.json` };
  }

  /**
   * accountKey reads the account key, or creates and stores a new one (`fresh`); only under the account
   * lock, and null when that lock is lost before a new key is written (it would replace the new holder's).
   */
  private async accountKey(lost: AbortSignal | undefined): Promise<{ key: string; fresh: boolean } | null> {
    const stored = await this.o.storage.read(this.keys.key);
    if (stored !== null && thumbprint(stored.toString()) !== null) return { key: stored.toString(), fresh: false };
    if (stored !== null) this.log.error({ path: this.o.storage.describe(this.keys.key), code: 'PORTICO_ERR_STORAGE' }, 'stored ACME account key is unreadable; creating a new key and account');
    const key = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    if (lost?.aborted) return null;
    await this.o.storage.write(this.keys.key, key);
    return { key, fresh: true };
  }

  /**
   * ensureAccount returns the account, creating or re-registering it (once at a time, under a storage
   * lock). `staleUrl` is an account URL the CA no longer knows: it is replaced unless another order
   * (or another process) already did.
   */
  private ensureAccount(staleUrl: string | null): Promise<Account> {
    if (this.account !== null && this.account.url !== staleUrl) return Promise.resolve(this.account);
    this.accountPending ??= this.resolveAccount(staleUrl).finally(() => (this.accountPending = null));
    return this.accountPending;
  }

  /**
   * resolveAccount: resolveAccountOnce again while the account lock is lost under it (another process
   * took it over: what that one stored is read the next time), at most ACCOUNT_LOCK_TRIES times.
   */
  private async resolveAccount(staleUrl: string | null): Promise<Account> {
    for (let i = 1; ; i++) {
      const a = await this.resolveAccountOnce(staleUrl);
      if (a !== null) return a;
      if (i === ACCOUNT_LOCK_TRIES) throw new AcmeError(`the ACME account lock was lost ${i} times while registering (the storage is unreachable or too slow for the lock's heartbeats)`);
      this.log.warn({ attempt: i }, 'the ACME account lock was lost while registering: nothing written; reading the account again under the lock');
    }
  }

  /** resolveAccountOnce makes the stored key, URL and contact consistent (see the file comment) under the account lock; null when the lock was lost. */
  private async resolveAccountOnce(staleUrl: string | null): Promise<Account | null> {
    const lock = await this.o.storage.lock(`account-${this.o.prefix}`);
    try {
      const k = await this.accountKey(lock.signal);
      if (k === null) return null;
      const { key, fresh } = k;
      const thumb = thumbprint(key)!;
      const meta = await this.readMeta();
      const usable = meta?.url && meta.url !== staleUrl ? meta.url : null;
      let url: string;
      let registered = false;
      let created = false;
      if (usable !== null && !fresh && meta!.key_thumbprint === thumb) {
        url = usable;
      } else {
        if (usable !== null && fresh) {
          this.log.error({ account: usable, path: this.o.storage.describe(this.keys.key) }, 'the ACME account key was missing or unreadable: the stored account URL belongs to the lost key; registering a new account');
        } else if (usable !== null && meta!.key_thumbprint !== undefined) {
          this.log.error({ account: usable }, 'the stored ACME account URL belongs to another key; looking up (or registering) the account of the stored key');
        }
        // an account.json of an older version (no thumbprint) is checked at the CA once: the same URL comes back when it matches
        ({ url, created } = await this.register(key));
        registered = true;
        // lost while registering (another process may be registering now): write nothing; read what
        // the new holder stored, under the lock (the CA gives the same URL for the same key)
        if (lock.signal?.aborted) return null;
      }
      this.account = { key, url };
      const contactChanged = !created && meta !== null && (meta.email ?? '') !== this.o.email;
      if (contactChanged) await this.updateContact(this.account, meta?.email ?? '');
      if (registered || contactChanged || meta?.key_thumbprint !== thumb || meta?.directory !== this.o.directory) {
        await this.o.storage.write(this.keys.meta, JSON.stringify({
          url, directory: this.o.directory, email: this.o.email, key_thumbprint: thumb,
          registered_at: registered ? new Date().toISOString() : meta?.registered_at, updated_at: new Date().toISOString(),
        } satisfies AccountMeta, null, 2));
      }
      return this.account;
    } finally {
      await lock.release();
    }
  }

  /** updateContact sets the account's contact to `acme.email` (RFC 8555 §7.3.2); the old one is logged. */
  private async updateContact(account: Account, was: string): Promise<void> {
    const contact = this.o.email ? [`mailto:${this.o.email}`] : [];
    await this.client(account).updateAccount({ contact });
    this.log.info({ account: account.url, email: this.o.email || null, was: was || null }, 'updated the ACME account contact (acme.email changed)');
  }

  private async readMeta(): Promise<AccountMeta | null> {
    const raw = await this.o.storage.read(this.keys.meta);
    if (raw === null) return null;
    try {
      return JSON.parse(raw.toString()) as AccountMeta;
    } catch {
      this.log.error({ path: this.o.storage.describe(this.keys.meta), code: 'PORTICO_ERR_STORAGE' }, 'stored ACME account file is corrupt; looking the account up again');
      return null;
    }
  }

  /** register finds the key's account at the CA, or creates one (RFC 8555 §7.3, §7.3.1). */
  private async register(key: string): Promise<{ url: string; created: boolean }> {
    const client = this.client({ key, url: '' });
    try {
      await client.createAccount({ onlyReturnExisting: true });
      this.log.info({ directory: this.o.directory }, 'found the existing ACME account for the stored key');
      return { url: client.getAccountUrl(), created: false };
    } catch (err) {
      if (!(err instanceof AcmeError) || err.status === undefined || err.status >= 500 || err instanceof AcmeRateLimitedError) throw err;
    }
    const fresh = this.client({ key, url: '' });
    const contact = this.o.email ? [`mailto:${this.o.email}`] : undefined;
    await fresh.createAccount({ termsOfServiceAgreed: true, contact });
    const url = fresh.getAccountUrl();
    this.log.info({ directory: this.o.directory, account: url }, 'registered ACME account');
    return { url, created: true };
  }

  /**
   * resume finishes an order finalized earlier (pending.ts): downloads its certificate (finalizing it
   * again with the recorded key when the CA never got the request). Null when there is none or it
   * cannot be finished (then it is forgotten and a new order runs).
   */
  private async resume(client: acme.Client, req: IssueRequest): Promise<Issued | null> {
    const host = req.names[0]!;
    const p = await this.pending.get(host, req.names);
    if (p === null) return null;
    try {
      let order = await client.getOrder({ url: p.url } as acme.Order);
      if (order.status === 'ready') {
        const [, csr] = await acme.crypto.createCsr({ commonName: commonName(req.names), altNames: [...req.names] }, p.key);
        order = await client.finalizeOrder(order, csr);
      } else if (order.status === 'processing') {
        order = await client.waitForValidStatus(order);
      }
      if (order.status !== 'valid') throw new AcmeError(`the order is ${order.status}`);
      const cert = await client.getCertificate(order);
      this.log.info({ names: req.names, order: p.url, finalized_at: p.finalized_at }, 'resumed an order finalized before a shutdown or crash: downloaded its certificate');
      return { cert, key: p.key, challenge: p.challenge as AcmeChallenge, resumed: true };
    } catch (err) {
      if (isUnknownAccount(err)) throw err;
      this.log.warn({ names: req.names, order: p.url, err: (err as Error).message }, 'could not resume the order finalized earlier; ordering again');
      await this.pending.delete(host).catch(() => undefined);
      return null;
    }
  }

  /** order is one attempt with one challenge type (wildcards: dns-01 whatever the type). */
  private async order(client: acme.Client, req: IssueRequest, type: AcmeChallenge): Promise<Issued> {
    const payload: Record<string, unknown> = { identifiers: req.names.map(identifierOf) };
    if (req.replaces) payload.replaces = req.replaces;
    if (req.profile) payload.profile = req.profile;
    let order: acme.Order;
    try {
      order = await client.createOrder(payload as unknown as Parameters<acme.Client['createOrder']>[0]);
    } catch (err) {
      // RFC 9773: the certificate was already replaced (an order whose result we lost, e.g. a crash
      // after finalize): order again without `replaces` instead of failing every renewal until expiry
      if (!req.replaces || !(err instanceof AcmeError) || !(err.problemType?.endsWith(':alreadyReplaced') || err.status === 409)) throw err;
      this.log.warn({ names: req.names, replaces: req.replaces }, 'the CA says this certificate was already replaced: ordering without "replaces"');
      delete payload.replaces;
      order = await client.createOrder(payload as unknown as Parameters<acme.Client['createOrder']>[0]);
    }
    for (const authz of await client.getAuthorizations(order)) {
      req.signal?.throwIfAborted();
      if (authz.status === 'valid') continue; // reused authorization
      await this.solve(client, authz, authz.wildcard ? 'dns-01' : type, req.signal);
    }
    req.signal?.throwIfAborted();
    const key = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    const [, csr] = await acme.crypto.createCsr({ commonName: commonName(req.names), altNames: [...req.names] }, key);
    await this.pending.put(req.names[0]!, { url: order.url, names: [...req.names], key, challenge: type, finalized_at: new Date().toISOString() });
    // From here the CA issues the certificate: finish whatever the signal says (a shutdown waits for it).
    const finalized = await client.finalizeOrder(order, csr);
    const cert = await client.getCertificate(finalized);
    return { cert, key, challenge: type };
  }

  /** solve answers one authorization with the given challenge type and waits for the CA's verdict; the answer is always removed. */
  private async solve(client: acme.Client, authz: acme.Authorization, type: AcmeChallenge, signal?: AbortSignal): Promise<void> {
    const name = authz.identifier.value;
    const ch = authz.challenges.find((c) => c.type === type);
    if (ch === undefined) throw new ChallengeFailed(`${name}: the CA offers no ${type} challenge${authz.wildcard ? ' (a wildcard is validated with dns-01 only)' : ''}`);
    const keyAuth = await client.getChallengeKeyAuthorization(ch);
    const r = this.o.responder;
    const token = (ch as { token: string }).token;
    let remove: () => Promise<void>;
    let present: () => Promise<void>;
    if (type === 'http-01') {
      present = () => r.presentHttp(token, keyAuth);
      remove = () => r.removeHttp(token);
    } else if (type === 'tls-alpn-01') {
      const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuth, await acme.crypto.createPrivateEcdsaKey('P-256'));
      present = () => r.presentAlpn(name, { cert: cert.toString(), key: key.toString() });
      remove = () => r.removeAlpn(name);
    } else {
      const dns = this.o.dns;
      if (dns === null) throw new ChallengeFailed(`${name}: dns-01 needs acme.dns_hook`);
      const record = dnsRecordName(name);
      present = () => dns.present(record, keyAuth, signal);
      remove = () => dns.remove(record, keyAuth);
    }
    try {
      try {
        await present();
      } catch (err) {
        throw new ChallengeFailed(`${type} challenge for ${name}: ${(err as Error).message}`, err);
      }
      await client.completeChallenge(ch);
      await client.waitForValidStatus(ch);
    } catch (err) {
      if (err instanceof AcmeError || err instanceof ChallengeFailed) throw err;
      throw new ChallengeFailed(`${type} challenge for ${name} failed: ${(err as Error).message}`, err);
    } finally {
      await remove().catch((err: Error) => this.log.warn({ err: err.message, name, challenge: type }, 'removing challenge answer failed'));
    }
  }
}

/** ChallengeFailed marks a failed validation (the next challenge type may work). */
class ChallengeFailed extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
  }
}
