/**
 * AcmeIssuer: obtains certificates from an ACME CA (RFC 8555) with acme-client. This is the only
 * file that imports acme-client (and, through it, axios); manager.ts loads it lazily, so a portico
 * without `[acme] enabled` never loads either, and the data plane never does.
 *
 * - Account: key and URL persisted in storage (`acme/<issuer>/account.key|.json`), created once under
 *   a storage lock; a stored account the CA no longer knows (a CA reset, pebble restarted) is looked
 *   up by key and else registered again, and the order retried once. EAB and contact e-mail apply.
 * - Challenges: tried in the configured order; when one type fails, a new order tries the next.
 * - Errors: acme-client's own retries are off (the failure ledger backs off instead, across restarts),
 *   so a 429 is never slept on inside a request. An interceptor in front of acme-client's turns
 *   transport errors into AcmeError keeping the cause (acme-client issue #101 loses it), and CA
 *   problem documents into AcmeError / AcmeRateLimitedError with status, type and Retry-After.
 * - ARI (RFC 9773): `renewalInfo` fetches the suggested window with a plain GET on the directory's
 *   `renewalInfo` URL, through acme-client's raw HTTP client (it has no helper for it).
 */
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import * as acme from 'acme-client';
/** AcmeChallenge is a challenge type portico answers. */
export type AcmeChallenge = 'http-01' | 'tls-alpn-01';
import { AcmeError, AcmeRateLimitedError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/storage.js';
import { ariCertId, type RenewalWindow } from './ari.js';

/** ChallengeResponder makes challenge answers reachable by the CA (challenges.ts implements it). */
export interface ChallengeResponder {
  presentHttp(token: string, keyAuthorization: string): Promise<void>;
  removeHttp(token: string): Promise<void>;
  presentAlpn(name: string, pems: { cert: string; key: string }): Promise<void>;
  removeAlpn(name: string): Promise<void>;
}

/** IssueRequest asks for one certificate. */
export interface IssueRequest {
  /** DNS names; the first is the common name */
  names: string[];
  /** challenge types in the order to try */
  challenges: readonly AcmeChallenge[];
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
  responder: ChallengeResponder;
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

/** AcmeIssuer is an Issuer for one CA directory and account. */
export class AcmeIssuer implements Issuer {
  private account: Account | null = null;
  private accountPending: Promise<Account> | null = null;
  private readonly log: Logger;

  constructor(private readonly o: AcmeIssuerOptions) {
    setUpAxios();
    this.log = o.log;
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
    const http = this.raw(this.client({ key: await this.accountKey(), url: '' }));
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

  /** accountKey reads (or creates and stores) the account key. */
  private async accountKey(): Promise<string> {
    const stored = await this.o.storage.read(this.keys.key);
    if (stored !== null && stored.toString().includes('PRIVATE KEY')) return stored.toString();
    if (stored !== null) this.log.error({ path: this.o.storage.describe(this.keys.key), code: 'PORTICO_ERR_STORAGE' }, 'stored ACME account key is unreadable; creating a new account');
    const key = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    await this.o.storage.write(this.keys.key, key);
    return key;
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

  private async resolveAccount(staleUrl: string | null): Promise<Account> {
    const lock = await this.o.storage.lock(`account-${this.o.prefix}`);
    try {
      const key = await this.accountKey();
      const meta = await this.readMeta();
      if (meta !== null && meta.url && meta.url !== staleUrl) return (this.account = { key, url: meta.url });
      const url = await this.register(key);
      await this.o.storage.write(this.keys.meta, JSON.stringify({ url, directory: this.o.directory, email: this.o.email, registered_at: new Date().toISOString() }, null, 2));
      return (this.account = { key, url });
    } finally {
      await lock.release();
    }
  }

  private async readMeta(): Promise<{ url?: string } | null> {
    const raw = await this.o.storage.read(this.keys.meta);
    if (raw === null) return null;
    try {
      return JSON.parse(raw.toString()) as { url?: string };
    } catch {
      this.log.error({ path: this.o.storage.describe(this.keys.meta), code: 'PORTICO_ERR_STORAGE' }, 'stored ACME account file is corrupt; looking the account up again');
      return null;
    }
  }

  /** register finds the key's account at the CA, or creates one (RFC 8555 §7.3, §7.3.1). */
  private async register(key: string): Promise<string> {
    const client = this.client({ key, url: '' });
    try {
      await client.createAccount({ onlyReturnExisting: true });
      this.log.info({ directory: this.o.directory }, 'found the existing ACME account for the stored key');
      return client.getAccountUrl();
    } catch (err) {
      if (!(err instanceof AcmeError) || err.status === undefined || err.status >= 500 || err instanceof AcmeRateLimitedError) throw err;
    }
    const fresh = this.client({ key, url: '' });
    const contact = this.o.email ? [`mailto:${this.o.email}`] : undefined;
    await fresh.createAccount({ termsOfServiceAgreed: true, contact });
    const url = fresh.getAccountUrl();
    this.log.info({ directory: this.o.directory, account: url }, 'registered ACME account');
    return url;
  }

  /** order is one attempt with one challenge type. */
  private async order(client: acme.Client, req: IssueRequest, type: AcmeChallenge): Promise<Issued> {
    const payload: Record<string, unknown> = { identifiers: req.names.map((value) => ({ type: 'dns', value })) };
    if (req.replaces) payload.replaces = req.replaces;
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
      await this.solve(client, authz, type);
    }
    req.signal?.throwIfAborted();
    const key = await acme.crypto.createPrivateEcdsaKey('P-256');
    const [, csr] = await acme.crypto.createCsr({ commonName: req.names[0], altNames: req.names }, key);
    const finalized = await client.finalizeOrder(order, csr);
    const cert = await client.getCertificate(finalized);
    return { cert, key: key.toString(), challenge: type };
  }

  /** solve answers one authorization with the given challenge type and waits for the CA's verdict. */
  private async solve(client: acme.Client, authz: acme.Authorization, type: AcmeChallenge): Promise<void> {
    const name = authz.identifier.value;
    const ch = authz.challenges.find((c) => c.type === type);
    if (ch === undefined) throw new ChallengeFailed(`${name}: the CA offers no ${type} challenge`);
    const keyAuth = await client.getChallengeKeyAuthorization(ch);
    const r = this.o.responder;
    if (type === 'http-01') {
      await r.presentHttp((ch as { token: string }).token, keyAuth);
    } else {
      const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuth, await acme.crypto.createPrivateEcdsaKey('P-256'));
      await r.presentAlpn(name, { cert: cert.toString(), key: key.toString() });
    }
    try {
      await client.completeChallenge(ch);
      await client.waitForValidStatus(ch);
    } catch (err) {
      if (err instanceof AcmeError) throw err;
      throw new ChallengeFailed(`${type} challenge for ${name} failed: ${(err as Error).message}`, err);
    } finally {
      const cleanup = type === 'http-01' ? r.removeHttp((ch as { token: string }).token) : r.removeAlpn(name);
      await cleanup.catch((err: Error) => this.log.warn({ err: err.message, name }, 'removing challenge answer failed'));
    }
  }
}

/** ChallengeFailed marks a failed validation (the next challenge type may work). */
class ChallengeFailed extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
  }
}
