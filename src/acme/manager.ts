/**
 * AcmeManager (control plane, one per runtime): keeps a trusted certificate on every routed host
 * that uses ACME (DESIGN §6; CertMagic's `maintainAssets` is the model).
 *
 * - `load()` (at build, before the runtime serves): stored certificates first. A valid stored one is
 *   served at once and never re-ordered; a missing, expired or corrupt one is replaced by the
 *   self-signed placeholder until the real one exists.
 * - `start(signal)`: one maintenance loop per host, stopped by the runtime's abort signal. Each
 *   check: refresh ARI (RFC 9773) when the CA offers it, raise alerts, and when the certificate is
 *   due (ARI window, else `renew_before` of the lifetime ± 2 % jitter) and the ledger allows it,
 *   order — rate-limited process-wide, under a storage lock, after checking storage again (another
 *   process may have done it); a lock lost meanwhile stops the order before finalize. A new
 *   certificate is saved, then `install`ed (the runtime publishes a snapshot, so the next handshake
 *   gets it). Failures go to the ledger and back off.
 * - Alerting: while a certificate has < 1/6 of its lifetime left and renewal fails, every check
 *   logs at error level; `portico_cert_renewal_failing{name}` is 1 while attempts fail.
 * - Hosts: DNS names, IP addresses (RFC 8738: http-01 / tls-alpn-01) and wildcards (dns-01 only).
 *   On-demand hosts (`addOnDemand`, on-demand.ts) join a running manager at their first approved
 *   handshake; each of their orders must pass the `gate` (the ask endpoint approves, the on-demand
 *   rate allows) — a refusal goes to the ledger like a failed order.
 * - An order recorded as finalized (pending.ts) is forgotten only once its certificate is saved.
 * Nothing here throws out of a loop: errors are logged and the loop continues.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { AcmeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { LockOptions, Storage } from '../storage/storage.js';
import { pickInWindow, type RenewalWindow } from './ari.js';
import type { Issuer, RenewalInfo } from './issuer.js';
import { emptyEntry, Ledger, type LedgerEntry } from './ledger.js';
import type { OrderLimiter } from './limiter.js';
import { CertFiles, type StoredCert } from './stored.js';
import type { AcmeChallenge } from './issuer.js';
import { isIP } from 'node:net';
import { PendingOrders } from './pending.js';

/** AcmeSettings are `[acme]` as the manager uses it (durations in ms). */
export interface AcmeSettings {
  /** ACME directory URL */
  readonly directory: string;
  /** challenge types in the order tried */
  readonly challenges: readonly AcmeChallenge[];
  /** when to renew: `fraction` of the lifetime left, or `ms` before expiry */
  readonly renew_before: { readonly fraction: number } | { readonly ms: number };
  /** failed attempts back off from `min` doubling to `max` */
  readonly backoff: { readonly min: number; readonly max: number };
  /** profile for newOrder ("" = the CA's default) */
  readonly profile?: string;
}

/** OrderPermit is an on-demand gate's answer: go ahead, or why not and when to look again. */
export type OrderPermit = { ok: true } | { ok: false; reason: string; retryMs: number; refused: boolean };

/** OnDemandGate decides whether an on-demand host may be ordered now (on-demand.ts). */
export interface OnDemandGate {
  permit(host: string): Promise<OrderPermit>;
  /** the host is maintained on demand from now on (persist it) / no longer (the ask endpoint refused it) */
  remember(host: string): Promise<void>;
  forget(host: string): Promise<void>;
}

/** CHECK_INTERVAL_MS: a host is looked at least this often (alerts, ARI), whatever its schedule (10 min). */
export const CHECK_INTERVAL_MS = 10 * 60_000;
/** Renewal jitter: ± this fraction of the lifetime (DESIGN §4). */
const JITTER = 0.02;
/** ALERT_FRACTION: alert while less than this fraction of the lifetime is left and renewal fails. */
export const ALERT_FRACTION = 1 / 6;

/** AcmeHostStatus is one certificate in /status.json and `portico check`. */
export interface AcmeHostStatus {
  host: string;
  source: 'acme';
  directory: string;
  /** "valid" (a CA certificate is served) or "self-signed" (waiting for the first one) */
  state: 'valid' | 'self-signed';
  issuer: string | null;
  serial: string | null;
  not_before: string | null;
  not_after: string | null;
  /** when renewal (or the first order) is planned */
  next_renewal: string | null;
  /** ISO time before which the ledger forbids an attempt (backoff) */
  next_attempt: string | null;
  /** failed attempts since the last success */
  attempts: number;
  last_error: string | null;
  renewal_failing: boolean;
  /** the ARI window when the CA offered one */
  ari_window: { start: string; end: string } | null;
  /** obtained on demand (a name no route lists) */
  on_demand: boolean;
}

/** AcmeManagerOptions: the hosts and every collaborator (tests pass fakes and short timings). */
export interface AcmeManagerOptions {
  hosts: readonly string[];
  acme: AcmeSettings;
  storage: Storage;
  /** the issuer (created lazily: loading acme-client happens on first use) */
  issuer: () => Promise<Issuer>;
  limiter: OrderLimiter;
  /** serve this certificate for the host from now on (the runtime publishes a snapshot) */
  install: (host: string, pems: { cert: string; key: string }) => void;
  log: Logger;
  metrics: Metrics;
  now?: () => number;
  random?: () => number;
  checkIntervalMs?: number;
  lockOptions?: Omit<LockOptions, 'signal'>;
  /** on-demand TLS: hosts maintained from earlier handshakes, and the gate every on-demand order passes */
  onDemand?: { hosts: readonly string[]; gate: OnDemandGate } | null;
}

/** HostState is what the manager knows about one host. */
interface HostState {
  host: string;
  cert: StoredCert | null;
  /** jitter (ms) for `cert`, chosen once per certificate */
  jitter: number;
  ledger: LedgerEntry;
  ari: { serial: string; info: RenewalInfo | null; pick: Date | null; nextFetch: number } | null;
  /** an issued certificate that is served but could not be saved yet (storage failing) */
  unsaved?: { cert: string; key: string } | null;
  /** obtained on demand: orders pass the gate */
  onDemand: boolean;
  /** the gate said "not now" (the on-demand rate): no attempt before this time */
  retryAt?: number;
  /** the gate's ask endpoint no longer approves the name: its loop ends */
  dropped?: boolean;
  /** resolves after the host's first check (the first order for a new on-demand host) */
  firstCheck?: Promise<void>;
  /** the current maintenance loop's number */
  loop?: number;
  /** an on-demand host not yet recorded in storage (it failed): tried again at each check */
  unremembered?: boolean;
}

/** challengesFor: wildcards are validated with dns-01 only, IP addresses never (RFC 8738); else the configured order. */
export function challengesFor(host: string, configured: readonly AcmeChallenge[]): AcmeChallenge[] {
  if (host.startsWith('*.')) return ['dns-01'];
  if (isIP(host) === 0) return [...configured];
  const usable = configured.filter((c) => c !== 'dns-01');
  return usable.length > 0 ? usable : ['http-01', 'tls-alpn-01'];
}

/** issuerKey names a CA in storage: its directory URL's host and path (`acme-v02.api.letsencrypt.org-directory`). */
export function issuerKey(directory: string): string {
  const u = new URL(directory);
  return `${u.host}${u.pathname}`.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
}

/** storagePrefix is where a CA's account, certificates and ledger live in storage. */
export function storagePrefix(directory: string): string {
  return `acme/${issuerKey(directory)}`;
}

/** renewalTime computes when a certificate is due without ARI: `renew_before` of the lifetime left, plus jitter. */
export function renewalTime(cert: { notBefore: Date; notAfter: Date }, renewBefore: AcmeSettings['renew_before'], jitterMs: number): Date {
  const nb = cert.notBefore.getTime();
  const na = cert.notAfter.getTime();
  const lifetime = Math.max(1, na - nb);
  // A fixed time that is longer than the lifetime (30d on a 6-day certificate) would renew forever: use 1/3 then.
  const before = 'fraction' in renewBefore ? lifetime * renewBefore.fraction : renewBefore.ms < lifetime ? renewBefore.ms : lifetime / 3;
  // the jitter never eats more than a quarter of the margin, and renewal always starts while at least
  // half of `before` is left (a short renew_before such as "1d" on a 90-day certificate must not
  // land after expiry)
  const jitter = Math.max(-before / 4, Math.min(before / 4, jitterMs));
  return new Date(Math.max(nb + lifetime * 0.01, Math.min(na - before / 2, na - before + jitter)));
}

/** errorText is an error's message plus its cause's when the message does not already say it. */
export function errorText(err: unknown): string {
  const e = err as Error & { cause?: { message?: string; code?: string } };
  const msg = e?.message ?? String(err);
  const cause = e?.cause;
  if (!cause || typeof cause !== 'object') return msg;
  const c = [cause.code, cause.message].filter(Boolean).join(' ');
  return c && !msg.includes(cause.message ?? c) ? `${msg}: ${c}` : msg;
}

/** AcmeManager maintains the certificates of one runtime's ACME hosts. */
export class AcmeManager {
  private readonly states = new Map<string, HostState>();
  private readonly files: CertFiles;
  private readonly pending: PendingOrders;
  private readonly ledger: Ledger;
  /** the runtime's signal once started (on-demand hosts join later) */
  private signal: AbortSignal | null = null;
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly checkInterval: number;
  private readonly log: Logger;

  constructor(private readonly o: AcmeManagerOptions) {
    this.prefix = storagePrefix(o.acme.directory);
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.checkInterval = o.checkIntervalMs ?? CHECK_INTERVAL_MS;
    this.log = o.log;
    this.ledger = new Ledger(o.storage, this.prefix, o.acme.backoff, this.now);
    this.files = new CertFiles(o.storage, this.prefix, (path, reason) =>
      this.log.error({ path, reason, code: 'PORTICO_ERR_STORAGE' }, 'stored certificate is unreadable; it will be issued again'));
    this.pending = new PendingOrders(o.storage, this.prefix);
    for (const host of o.hosts) this.states.set(host, this.newState(host, false));
    for (const host of o.onDemand?.hosts ?? []) if (!this.states.has(host)) this.states.set(host, this.newState(host, true));
  }

  private newState(host: string, onDemand: boolean): HostState {
    return { host, cert: null, jitter: 0, ledger: emptyEntry(host), ari: null, onDemand };
  }

  /** hosts are the names this manager maintains. */
  get hosts(): string[] {
    return [...this.states.keys()];
  }

  /** load reads the stored certificates and ledger entries; returns the usable certificates by host. */
  async load(): Promise<Map<string, StoredCert>> {
    const out = new Map<string, StoredCert>();
    await Promise.all([...this.states.values()].map(async (s) => {
      const stored = await this.loadHost(s);
      if (stored !== null) out.set(s.host, stored);
    }));
    return out;
  }

  private async loadHost(s: HostState): Promise<StoredCert | null> {
    s.ledger = await this.readLedger(s.host);
    const stored = await this.files.load(s.host);
    if (stored !== null && stored.notAfter.getTime() <= this.now()) {
      this.log.warn({ host: s.host, not_after: stored.notAfter.toISOString(), path: this.files.certPath(s.host) }, 'stored certificate has expired; ordering a new one');
      return null;
    }
    if (stored === null) return null;
    this.adopt(s, stored);
    this.log.info({ host: s.host, serial: stored.serial, not_after: stored.notAfter.toISOString(), on_demand: s.onDemand || undefined }, 'using stored certificate');
    return stored;
  }

  /**
   * start runs one maintenance loop per host until the signal aborts, and (storage shared across
   * machines) serves a certificate another replica stored as soon as storage says it changed.
   */
  start(signal: AbortSignal): void {
    this.signal = signal;
    for (const s of this.states.values()) void this.maintain(s, signal);
    const unwatch = this.o.storage.watch?.((key) => {
      if (signal.aborted) return;
      for (const s of this.states.values()) if (key === null || this.files.isCertKey(s.host, key)) void this.adoptStored(s);
    });
    if (unwatch !== undefined) signal.addEventListener('abort', unwatch, { once: true });
  }

  /** adoptStored serves the stored certificate of a host when it is valid and newer than the one served (another replica's order). */
  private async adoptStored(s: HostState): Promise<void> {
    try {
      const stored = await this.files.load(s.host);
      if (stored === null || stored.serial === s.cert?.serial || stored.notAfter.getTime() <= this.now()) return;
      if (s.cert !== null && stored.notAfter.getTime() < s.cert.notAfter.getTime()) return;
      this.adopt(s, stored);
      s.ledger = await this.readLedger(s.host);
      this.o.install(s.host, stored);
      this.log.info({ host: s.host, serial: stored.serial, not_after: stored.notAfter.toISOString() }, 'certificate obtained by another process; using it');
    } catch (err) {
      this.log.warn({ host: s.host, err: errorText(err) }, 'reading a certificate changed in storage failed; the next check tries again');
    }
  }

  /**
   * addOnDemand maintains a host approved at its first handshake (on-demand.ts): a stored certificate
   * is used, else one is ordered (through the gate) at once. Resolves with the certificate after the
   * first check, or null (refused, rate-limited, failed: the ledger backs it off).
   */
  async addOnDemand(host: string): Promise<StoredCert | null> {
    const signal = this.signal;
    if (signal === null || signal.aborted || this.o.onDemand == null) return null;
    let s = this.states.get(host);
    if (s === undefined || (s.onDemand && s.dropped)) {
      // new, or approved again after the ask endpoint had stopped approving it
      const state = s ?? this.newState(host, true);
      s = state;
      state.dropped = false;
      this.states.set(host, state);
      state.firstCheck = (async () => {
        const stored = state.cert ?? (await this.loadHost(state));
        if (stored !== null) this.o.install(host, stored);
        await this.remember(state);
        await new Promise<void>((first) => void this.maintain(state, signal, first));
      })().catch((err: unknown) => this.log.error({ host, err: errorText(err) }, 'on-demand certificate failed'));
    }
    await s.firstCheck;
    return s.cert;
  }

  /**
   * remember records an on-demand host in storage (maintained after a restart). Failing storage (Redis
   * away) must not keep the host from being maintained: it is tried again at each check.
   */
  private async remember(s: HostState): Promise<void> {
    try {
      await this.o.onDemand!.gate.remember(s.host);
      s.unremembered = false;
    } catch (err) {
      if (!s.unremembered) this.log.warn({ host: s.host, err: errorText(err) }, 'on-demand name not recorded in storage yet (maintained now; recorded at a later check)');
      s.unremembered = true;
    }
  }

  /** status describes every host (for /status.json). */
  status(): AcmeHostStatus[] {
    return [...this.states.values()].map((s) => this.describe(s));
  }

  // ─── the loop ─────────────────────────────────────────────────────────────────

  private async maintain(s: HostState, signal: AbortSignal, first?: () => void): Promise<void> {
    const loop = (s.loop = (s.loop ?? 0) + 1); // one loop per host: a revived on-demand host's old loop ends
    while (!signal.aborted && !s.dropped && s.loop === loop) {
      let wait: number;
      try {
        wait = await this.check(s, signal);
      } catch (err) {
        if (signal.aborted) return first?.();
        this.log.error({ host: s.host, err: errorText(err) }, 'certificate maintenance failed; retrying');
        wait = Math.min(this.o.acme.backoff.min, this.checkInterval);
      }
      first?.();
      first = undefined;
      if (s.dropped || s.loop !== loop) return;
      try {
        await sleep(Math.max(10, wait), undefined, { signal });
      } catch {
        return; // aborted: the runtime was retired
      }
    }
    first?.();
  }

  /** check does what is due for a host now and returns how long to wait before the next check. */
  private async check(s: HostState, signal: AbortSignal): Promise<number> {
    if (s.unsaved) {
      try {
        await this.files.save(s.host, s.unsaved);
        s.unsaved = null;
        await this.pending.delete(s.host).catch(() => undefined);
        this.log.info({ host: s.host, path: this.files.describeCert(s.host) }, 'certificate saved to storage');
      } catch (err) {
        this.log.error({ host: s.host, path: this.files.describeCert(s.host), err: errorText(err) }, 'certificate still not saved to storage (served from memory)');
      }
    }
    if (s.unremembered && !s.dropped) await this.remember(s);
    await this.refreshAri(s);
    this.alert(s);
    const now = this.now();
    const due = this.dueAt(s);
    if (due > now) return Math.min(due - now, this.checkInterval);
    const next = Math.max(s.ledger.next_attempt_at === null ? 0 : Date.parse(s.ledger.next_attempt_at), s.retryAt ?? 0);
    if (next > now) return Math.min(next - now, this.checkInterval);
    await this.obtain(s, signal);
    return 0;
  }

  /** dueAt is when the host needs an order: now without a certificate, else its renewal time. */
  private dueAt(s: HostState): number {
    if (s.cert === null) return 0;
    // an ARI window is used as given, but never later than the latest time the config allows
    if (s.ari?.serial === s.cert.serial && s.ari.pick !== null) return Math.min(s.ari.pick.getTime(), renewalTime(s.cert, this.o.acme.renew_before, 0).getTime());
    return renewalTime(s.cert, this.o.acme.renew_before, s.jitter).getTime();
  }

  /** adopt makes a certificate the host's current one (new jitter for a new certificate). */
  private adopt(s: HostState, cert: StoredCert): void {
    if (s.cert?.serial !== cert.serial) {
      const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
      s.jitter = (this.random() * 2 - 1) * JITTER * lifetime;
    }
    s.cert = cert;
    this.o.metrics.certNotAfter.labels(s.host).set(Math.floor(cert.notAfter.getTime() / 1000));
  }

  private async readLedger(host: string): Promise<LedgerEntry> {
    const e = await this.ledger.get(host);
    if (e.corrupt) this.log.error({ host, path: this.ledger.path(host), code: 'PORTICO_ERR_STORAGE' }, 'failure ledger entry is corrupt; treating it as empty');
    return e;
  }

  /**
   * obtain orders a certificate for the host: limiter slot → storage lock → check again → order →
   * save → install. Failures are recorded, never thrown.
   */
  private async obtain(s: HostState, signal: AbortSignal): Promise<void> {
    await this.o.limiter.run(async () => {
      const lock = await this.o.storage.lock(`order-${this.prefix}-${s.host}`, { ...this.o.lockOptions, signal });
      // a lock lost while ordering (a file lock taken over after missed heartbeats, a Redis lease not
      // renewed in time) stops this order before finalize: another process may be ordering now
      const lost = lock.signal;
      lost?.addEventListener('abort', () => this.log.warn({ host: s.host, err: errorText(lost.reason) }, 'the order lock was lost while ordering: this order stops before finalize; the next check looks at storage again'), { once: true });
      try {
        // Check again under the lock: another process (or the previous runtime) may have done it.
        const stored = await this.files.load(s.host);
        const adopted = stored !== null && stored.serial !== s.cert?.serial && stored.notAfter.getTime() > this.now();
        if (adopted) {
          this.adopt(s, stored);
          this.o.install(s.host, stored);
        }
        // …and whether it is still due: a certificate another replica stored may have been adopted
        // meanwhile (a storage change notice, adoptStored) while this one waited for the lock
        if (this.dueAt(s) > this.now()) {
          if (adopted) this.log.info({ host: s.host, serial: stored.serial, not_after: stored.notAfter.toISOString() }, 'certificate obtained by another process; using it');
          s.ledger = await this.readLedger(s.host);
          return;
        }
        s.ledger = await this.readLedger(s.host);
        if (s.ledger.next_attempt_at !== null && Date.parse(s.ledger.next_attempt_at) > this.now()) return;
        if (s.onDemand && !(await this.permitted(s))) return;
        if (lost?.aborted) return;
        await this.order(s, lost === undefined ? signal : AbortSignal.any([signal, lost]));
      } finally {
        await lock.release();
      }
    }, signal);
  }

  /** permitted asks the on-demand gate; a refusal is a ledger failure (or ends the host's loop), a rate limit waits. */
  private async permitted(s: HostState): Promise<boolean> {
    const p = await this.o.onDemand!.gate.permit(s.host);
    if (p.ok) return true;
    if (!p.refused) {
      s.retryAt = this.now() + p.retryMs;
      this.log.info({ host: s.host, reason: p.reason, retry_in_ms: p.retryMs }, 'on-demand order postponed');
      return false;
    }
    if (s.cert !== null) {
      s.dropped = true;
      await this.o.onDemand!.gate.forget(s.host);
      this.log.warn({ host: s.host, reason: p.reason, not_after: s.cert.notAfter.toISOString() }, 'on-demand name no longer approved: not renewing it (served until it expires or the next reload)');
      return false;
    }
    await this.recordFailure(s, new AcmeError(`on-demand: ${p.reason}`), p.retryMs);
    return false;
  }

  /** order runs one attempt and records its outcome. */
  private async order(s: HostState, signal: AbortSignal): Promise<void> {
    const renewal = s.cert !== null;
    const started = this.now();
    this.log.info({ host: s.host, renewal, challenges: this.o.acme.challenges, attempt: s.ledger.consecutive_failures + 1 }, 'ordering certificate');
    try {
      const issuer = await this.o.issuer();
      const replaces = renewal && s.ari?.info ? issuer.certId(s.cert!.cert) : null;
      const request = { names: [s.host], challenges: challengesFor(s.host, this.o.acme.challenges), profile: this.o.acme.profile, replaces, signal };
      let issued = await issuer.issue(request);
      if (issued.resumed && !this.newer(s, issued)) {
        // a stale record (an emptied Redis re-published from a replica's cache): its certificate is
        // the one served, or older; forget it and order for real
        await this.pending.delete(s.host);
        this.log.warn({ host: s.host }, 'the order recorded as finalized gave no newer certificate than the one served: ordering again');
        issued = await issuer.issue(request);
      }
      let cert: StoredCert;
      try {
        cert = await this.files.save(s.host, issued);
        await this.pending.delete(s.host).catch(() => undefined);
      } catch (err) {
        // never throw an issued certificate away (the CA's duplicate limits): serve it from memory and
        // save it again on the next checks
        cert = this.files.parse(s.host, issued);
        s.unsaved = issued;
        this.log.error({ host: s.host, path: this.files.describeCert(s.host), err: errorText(err) }, 'certificate obtained but not saved to storage: serving it from memory, saving again on the next check');
      }
      this.adopt(s, cert);
      s.ledger = await this.ledger.success(s.host);
      this.o.install(s.host, cert);
      this.o.metrics.certRenewalFailing.labels(s.host).set(0);
      this.log.info({
        host: s.host, renewal, challenge: issued.challenge, serial: cert.serial, issuer: cert.issuer, resumed: issued.resumed, on_demand: s.onDemand || undefined,
        not_after: cert.notAfter.toISOString(), next_renewal: new Date(this.dueAt(s)).toISOString(), duration_ms: this.now() - started,
      }, 'certificate obtained');
    } catch (err) {
      if (signal.aborted) return;
      await this.recordFailure(s, err);
    }
  }

  /** newer: an issued certificate expires later than the one served (and is not expired). */
  private newer(s: HostState, issued: { cert: string; key: string }): boolean {
    const na = this.files.parse(s.host, issued).notAfter.getTime();
    return na > this.now() && (s.cert === null || na > s.cert.notAfter.getTime());
  }

  private async recordFailure(s: HostState, err: unknown, waitMs?: number): Promise<void> {
    const text = errorText(err);
    const retryAfter = waitMs ?? (err instanceof AcmeError ? err.retryAfterMs : undefined);
    const entry = await this.ledger.failure(s.host, text, retryAfter, s.ledger);
    if (entry.unsaved !== undefined) this.log.error({ host: s.host, path: this.ledger.path(s.host), err: entry.unsaved }, 'failure ledger not saved: backing off from memory');
    s.ledger = entry;
    this.o.metrics.acmeFailures.inc();
    this.o.metrics.certRenewalFailing.labels(s.host).set(1);
    const fields = {
      host: s.host, err: text, code: (err as { code?: string }).code, attempts: s.ledger.consecutive_failures,
      next_attempt: s.ledger.next_attempt_at, retry_after_ms: retryAfter, serving: s.cert === null ? 'self-signed' : 'current certificate',
    };
    if (s.cert === null) this.log.error(fields, 'certificate order failed');
    else this.log.warn(fields, 'certificate renewal failed');
  }

  // ─── ARI and alerts ───────────────────────────────────────────────────────────

  /** refreshAri fetches the CA's renewal window for the current certificate when due (errors are logged, not fatal). */
  private async refreshAri(s: HostState): Promise<void> {
    const cert = s.cert;
    if (cert === null) return;
    const now = this.now();
    if (s.ari?.serial === cert.serial && now < s.ari.nextFetch) return;
    const prev = s.ari?.serial === cert.serial ? s.ari : null;
    try {
      const info = await (await this.o.issuer()).renewalInfo(cert.cert);
      if (info === null) {
        s.ari = { serial: cert.serial, info: null, pick: null, nextFetch: Number.POSITIVE_INFINITY }; // the CA has no ARI
        return;
      }
      const same = prev?.info != null && sameWindow(prev.info, info);
      const pick = same ? prev!.pick : pickInWindow(info, this.random());
      s.ari = { serial: cert.serial, info, pick, nextFetch: now + info.retryAfterMs };
      if (!same) this.log.info({ host: s.host, window_start: info.start.toISOString(), window_end: info.end.toISOString(), renew_at: pick!.toISOString(), explanation: info.explanationUrl }, 'renewal window from the CA (ARI)');
    } catch (err) {
      s.ari = { serial: cert.serial, info: prev?.info ?? null, pick: prev?.pick ?? null, nextFetch: now + Math.min(3_600_000, Math.max(this.o.acme.backoff.min, 1000)) };
      this.log.warn({ host: s.host, err: errorText(err) }, 'fetching renewal information (ARI) failed; using the computed renewal time');
    }
  }

  /** alert logs at error level while the certificate is in its last sixth and renewal is failing. */
  private alert(s: HostState): void {
    const failing = s.ledger.consecutive_failures > 0;
    this.o.metrics.certRenewalFailing.labels(s.host).set(failing ? 1 : 0);
    if (!failing || s.cert === null) return;
    const na = s.cert.notAfter.getTime();
    const lifetime = na - s.cert.notBefore.getTime();
    const left = na - this.now();
    if (left >= lifetime * ALERT_FRACTION) return;
    this.log.error({
      host: s.host, not_after: s.cert.notAfter.toISOString(), seconds_left: Math.round(left / 1000), attempts: s.ledger.consecutive_failures,
      last_error: s.ledger.last_error, next_attempt: s.ledger.next_attempt_at,
    }, left <= 0 ? 'certificate has expired and renewal is failing' : 'certificate expires soon and renewal is failing');
  }

  private describe(s: HostState): AcmeHostStatus {
    const c = s.cert;
    const window = s.ari?.serial === c?.serial && s.ari?.info ? s.ari.info : null;
    const due = this.dueAt(s);
    const next = s.ledger.next_attempt_at;
    return {
      host: s.host,
      source: 'acme',
      directory: this.o.acme.directory,
      state: c === null ? 'self-signed' : 'valid',
      issuer: c?.issuer ?? null,
      serial: c?.serial ?? null,
      not_before: c?.notBefore.toISOString() ?? null,
      not_after: c?.notAfter.toISOString() ?? null,
      next_renewal: new Date(Math.max(due, next === null ? 0 : Date.parse(next), c === null ? this.now() : 0)).toISOString(),
      next_attempt: next,
      attempts: s.ledger.consecutive_failures,
      last_error: s.ledger.last_error,
      renewal_failing: s.ledger.consecutive_failures > 0,
      ari_window: window ? { start: window.start.toISOString(), end: window.end.toISOString() } : null,
      on_demand: s.onDemand,
    };
  }
}

function sameWindow(a: RenewalWindow, b: RenewalWindow): boolean {
  return a.start.getTime() === b.start.getTime() && a.end.getTime() === b.end.getTime();
}
