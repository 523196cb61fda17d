/**
 * On-demand TLS (DESIGN §4 `[acme.on_demand]`), the control plane's part; one per process, kept
 * across reloads (its caches and its rate are not reset by a reload). A handshake for a name no route
 * lists, served by a `hosts = ["*"]` route, reaches `certificate(name, manager)` (through the data
 * plane's SNI callback, tls/on-demand.ts):
 *
 * 1. the name must be an orderable DNS name (names.ts), else nothing happens;
 * 2. the ask endpoint decides: `GET <ask>?domain=NAME`, 200 = approved, anything else (or no answer
 *    within 5 s) = not; every decision is cached for DECISION_TTL_MS (so a refused or failing name
 *    costs one ask a minute, however many handshakes name it); at most MAX_ASKS asks run at once;
 * 3. the ACME manager takes the name (`addOnDemand`): a stored certificate is used, else an order runs
 *    — but only through `permit` (the gate), which asks again (cached) and takes one of the `rate`
 *    order tokens. Renewals of on-demand names pass the same gate, so the ask endpoint approves every
 *    order, and a name it stops approving is no longer renewed.
 *
 * Bounds against attacker-chosen SNI names: the decision cache (MAX_DECISIONS), names in progress
 * (MAX_IN_PROGRESS, each at most IN_PROGRESS_MS; more are turned away at once: "busy") and
 * concurrent asks (MAX_ASKS) are capped; orders are
 * capped by `rate`; nothing is ever ordered for a name the endpoint did not approve. Approved names
 * are remembered in storage (`<prefix>/on-demand/<host>.json`) so they are maintained after a restart.
 */
import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Storage } from '../storage/storage.js';
import type { AcmeManager, OnDemandGate, OrderPermit } from './manager.js';
import { hostKey, orderableName } from './names.js';

/** OnDemandSettings are `[acme.on_demand]` (ms). */
export interface OnDemandSettings {
  ask: string;
  rate: { count: number; window: number };
}

/** DECISION_TTL_MS: how long an ask's answer (yes or no) is reused. */
export const DECISION_TTL_MS = 60_000;
const MAX_DECISIONS = 10_000;
const MAX_ASKS = 8;
const MAX_IN_PROGRESS = 256;
const ASK_TIMEOUT_MS = 5000;
/** IN_PROGRESS_MS: a name's question ends after this (its order may go on), so questions cannot pile up behind a slow CA. */
const IN_PROGRESS_MS = 60_000;

/** Decision is the ask endpoint's answer for a name. */
interface Decision {
  ok: boolean;
  /** "approved", "refused: HTTP 403", "ask failed: ECONNREFUSED" */
  reason: string;
  until: number;
}

/** OnDemand decides and counts (see the file comment). */
export class OnDemand {
  private settings: OnDemandSettings = { ask: '', rate: { count: 10, window: 60_000 } };
  private readonly decisions = new Map<string, Decision>();
  private readonly asking = new Map<string, Promise<Decision>>();
  private readonly inProgress = new Map<string, Promise<{ cert: string; key: string } | null>>();
  private orders: number[] = [];

  constructor(
    private readonly o: { storage: Storage; log: Logger; metrics: Metrics; now?: () => number },
  ) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** configure applies a config's `[acme.on_demand]` (a changed ask URL forgets the cached answers). */
  configure(s: OnDemandSettings): void {
    if (s.ask !== this.settings.ask) this.decisions.clear();
    this.settings = { ask: s.ask, rate: { ...s.rate } };
  }

  /**
   * certificate returns a certificate for an unlisted name, obtaining it when the ask endpoint
   * approves; null when there is none (refused, failed, busy, rate-limited: the default certificate).
   */
  certificate(name: string, manager: AcmeManager): Promise<{ cert: string; key: string } | null> {
    const n = name.toLowerCase();
    if (!orderableName(n)) return Promise.resolve(null);
    const running = this.inProgress.get(n);
    if (running !== undefined) return running;
    if (this.inProgress.size >= MAX_IN_PROGRESS) {
      this.o.metrics.onDemand.labels('busy').inc();
      return Promise.resolve(null);
    }
    let timer: NodeJS.Timeout | undefined;
    const p = Promise.race([
      (async () => {
        const d = await this.decide(n);
        if (!d.ok) return null;
        const c = await manager.addOnDemand(n);
        return c === null ? null : { cert: c.cert, key: c.key };
      })(),
      // the order goes on (its certificate is installed when it comes); the question ends
      new Promise<null>((resolve) => (timer = setTimeout(resolve, IN_PROGRESS_MS, null))),
    ]).finally(() => {
      clearTimeout(timer);
      this.inProgress.delete(n);
    });
    this.inProgress.set(n, p);
    return p;
  }

  /** decide returns the (cached) decision of the ask endpoint for a name. */
  decide(name: string): Promise<Decision> {
    const now = this.now();
    const cached = this.decisions.get(name);
    if (cached !== undefined && cached.until > now) return Promise.resolve(cached);
    const running = this.asking.get(name);
    if (running !== undefined) return running;
    if (this.asking.size >= MAX_ASKS) {
      this.o.metrics.onDemand.labels('busy').inc();
      return Promise.resolve({ ok: false, reason: 'busy: too many names being asked about at once', until: now });
    }
    const p = this.ask(name).then((d) => {
      this.decisions.delete(name);
      this.decisions.set(name, d);
      if (this.decisions.size > MAX_DECISIONS) this.decisions.delete(this.decisions.keys().next().value!);
      return d;
    }).finally(() => this.asking.delete(name));
    this.asking.set(name, p);
    return p;
  }

  /** ask GETs `<ask>?domain=NAME` (no redirects followed; any answer but 200 is a refusal). */
  private ask(name: string): Promise<Decision> {
    const url = new URL(this.settings.ask);
    url.searchParams.set('domain', name);
    const until = this.now() + DECISION_TTL_MS;
    const log = this.o.log.child({ host: name });
    return new Promise<Decision>((resolve) => {
      const get = url.protocol === 'https:' ? https.get : http.get;
      const req = get(url, { timeout: ASK_TIMEOUT_MS, headers: { 'user-agent': 'portico on-demand TLS' } }, (res) => {
        res.resume();
        const ok = res.statusCode === 200;
        this.o.metrics.onDemand.labels(ok ? 'approved' : 'refused').inc();
        if (ok) log.info({}, 'on-demand: the ask endpoint approved the name');
        else log.info({ status: res.statusCode }, 'on-demand: the ask endpoint refused the name');
        resolve({ ok, reason: ok ? 'approved' : `refused by the ask endpoint (HTTP ${res.statusCode})`, until });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${ASK_TIMEOUT_MS}ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        this.o.metrics.onDemand.labels('ask_failed').inc();
        log.warn({ ask: this.settings.ask, err: err.code ?? err.message }, 'on-demand: asking the ask endpoint failed (treated as a refusal)');
        resolve({ ok: false, reason: `the ask endpoint failed: ${err.code ?? err.message}`, until });
      });
    });
  }

  /** takeOrder takes one of the `rate` tokens; the wait until the next one when none is left. */
  private takeOrder(): { ok: true } | { ok: false; retryMs: number } {
    const now = this.now();
    const { count, window } = this.settings.rate;
    this.orders = this.orders.filter((t) => now - t < window);
    if (this.orders.length >= count) return { ok: false, retryMs: this.orders[0]! + window - now };
    this.orders.push(now);
    return { ok: true };
  }

  /** gate is the manager's OnDemandGate for a CA's storage prefix (see the file comment). */
  gate(prefix: string): OnDemandGate {
    const marker = (host: string) => `${prefix}/on-demand/${hostKey(host)}.json`;
    return {
      permit: async (host): Promise<OrderPermit> => {
        const d = await this.decide(host);
        if (!d.ok) return { ok: false, reason: d.reason, retryMs: DECISION_TTL_MS, refused: true };
        const t = this.takeOrder();
        if (t.ok) return { ok: true };
        this.o.metrics.onDemand.labels('rate_limited').inc();
        return { ok: false, reason: `on_demand.rate (${this.settings.rate.count} orders per ${this.settings.rate.window}ms) reached`, retryMs: t.retryMs, refused: false };
      },
      remember: async (host) => {
        await this.o.storage.write(marker(host), JSON.stringify({ host, approved_at: new Date(this.now()).toISOString() }));
      },
      forget: async (host) => {
        await this.o.storage.delete(marker(host));
      },
    };
  }
}

/** onDemandHosts lists the names remembered under a CA's prefix (unreadable entries are skipped). */
export async function onDemandHosts(storage: Storage, prefix: string): Promise<string[]> {
  const hosts: string[] = [];
  for (const key of await storage.list(`${prefix}/on-demand`)) {
    try {
      const raw = await storage.read(key);
      const host = raw === null ? null : (JSON.parse(raw.toString()) as { host?: unknown }).host;
      if (typeof host === 'string' && orderableName(host)) hosts.push(host);
    } catch {
      // skipped: a half-understood entry is not a reason to order anything
    }
  }
  return hosts;
}
