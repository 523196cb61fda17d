/**
 * WorkerPool: the control plane's data-plane processes (`server.workers` > 1, DESIGN §1). It forks
 * them with node:cluster, sends each the current snapshot and every health decision (it is a
 * SnapshotSink), binds the https listener in all of them, collects their acks, passive reports,
 * stats and metrics, answers their ACME challenge lookups, replaces a worker that dies (only its
 * in-flight requests are lost) and drains them on shutdown.
 *
 * Connections are spread by `SO_REUSEPORT` (each worker binds its own socket; the kernel spreads
 * evenly) where Node >= 22.12, else by cluster `SCHED_NONE` (one shared socket, workers accept;
 * less even). Never the default round-robin scheduling: the primary would accept every connection.
 */
import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import type { Counters } from '../metrics.js';
import type { Snapshot } from '../proxy/snapshot.js';
import type { HealthUpdate, PassiveReport } from '../proxy/snapshot.js';
import type { ShareMode } from '../server/listeners.js';
import type { ListenAddress as Address } from '../server/listeners.js';
import { WORKER_ENV, type FromWorker, type ToWorker, type WorkerInit, type WorkerStats } from './messages.js';
import { missingFlags } from '../node-flags.js';

/** reusePortSupported: `listen({ reusePort })` exists from Node 22.12 (and 23.1). */
export function reusePortSupported(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** WORKER_ENTRY is the worker's module: dist/cluster/data-plane-worker.js (src/cluster/data-plane-worker.ts when run from source by the tests' loader). */
const WORKER_ENTRY = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './data-plane-worker.ts' : './data-plane-worker.js', import.meta.url));

const REPLY_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 30_000;
/** a worker that dies within this long of starting counts as crashing: its replacement waits (doubling) */
const CRASH_WINDOW_MS = 10_000;
const MAX_RESTART_DELAY_MS = 10_000;

/** PoolOptions: the pool's collaborators. */
export interface PoolOptions {
  size: number;
  log: Logger;
  logOptions: WorkerInit['log'];
  /** the snapshot a new or replaced worker starts from (the control plane's current one, with current health) */
  current(): Snapshot | null;
  /** a passive health report from a worker */
  report(r: PassiveReport): void;
  /** an ACME challenge answer a worker did not find in its snapshot, or an on-demand certificate */
  challenge(kind: 'http' | 'alpn' | 'on-demand', key: string): Promise<unknown>;
  /** override the share mode (tests); default: reuseport where supported, else shared */
  share?: Exclude<ShareMode, 'none'>;
}

interface Slot {
  readonly slot: number;
  readonly worker: Worker;
  startedAt: number;
  restarts: number;
  /** consecutive deaths within CRASH_WINDOW_MS of starting */
  crashes: number;
  acked: number;
  stats: WorkerStats;
  live: boolean;
  ready: Promise<void>;
}

/** WorkerStatus is one worker on /status.json. */
export interface WorkerStatus {
  worker: number;
  pid: number | null;
  up: boolean;
  version: number;
  restarts: number;
  started_at: string;
  in_flight: number;
  websockets: number;
  connections: number;
}

/** WorkerPool runs and feeds the data-plane workers. */
export class WorkerPool {
  readonly share: Exclude<ShareMode, 'none'>;
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { worker: Worker; resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  private nextId = 1;
  /** listeners every worker serves, by generation: new and replaced workers bind them too */
  private readonly listeners = new Map<number, { host: string; port: number }>();
  private stopping = false;
  private readonly ackWaiters = new Set<() => void>();

  constructor(private readonly o: PoolOptions) {
    this.share = o.share ?? (reusePortSupported() ? 'reuseport' : 'shared');
    if (this.share === 'shared') cluster.schedulingPolicy = cluster.SCHED_NONE;
    // a data-plane worker runs with the primary's node flags plus portico's V8 flags (node-flags.ts)
    const execArgv = [...process.execArgv, ...missingFlags(process.execArgv)];
    cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], execArgv, silent: false });
  }

  /** start forks every worker and waits until each is ready for its first snapshot. */
  async start(): Promise<void> {
    for (let i = 1; i <= this.o.size; i++) this.slots.push(this.fork(i, 0));
    await Promise.all(this.slots.map((s) => s.ready));
  }

  private fork(slot: number, restarts: number): Slot {
    const init: WorkerInit = { slot, log: this.o.logOptions };
    const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(init) });
    let onReady!: () => void;
    let onFail!: (e: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    const s: Slot = { slot, worker, startedAt: Date.now(), restarts, crashes: 0, acked: 0, live: false, ready, stats: { version: 0, in_flight: 0, websockets: 0, connections: 0 } };
    const timer = setTimeout(() => onFail(new Error(`data-plane worker ${slot} did not start within ${READY_TIMEOUT_MS / 1000}s`)), READY_TIMEOUT_MS);
    timer.unref();
    worker.on('message', (m: FromWorker) => {
      if (m.t === 'ready') {
        clearTimeout(timer);
        onReady();
      } else this.onMessage(s, m);
    });
    worker.on('exit', (code, signal) => {
      clearTimeout(timer);
      onFail(new Error(`data-plane worker ${slot} exited during start (code ${code}, signal ${signal})`));
      this.onExit(s, code, signal);
    });
    return s;
  }

  private onMessage(s: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'ack':
        s.acked = m.version;
        for (const w of [...this.ackWaiters]) w();
        return;
      case 'report':
        return this.o.report(m.report);
      case 'stats':
        s.stats = m.stats;
        return;
      case 'ask':
        this.o.challenge(m.kind, m.key).then(
          (value) => this.send(s.worker, { t: 'answer', id: m.id, value: value ?? null }),
          () => this.send(s.worker, { t: 'answer', id: m.id, value: null }),
        );
        return;
      case 'reply': {
        const p = this.pending.get(m.id);
        if (p === undefined) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.error !== undefined) p.reject(new Error(m.error));
        else p.resolve(m.value);
        return;
      }
    }
  }

  private onExit(s: Slot, code: number | null, signal: string | null): void {
    this.failPending(s.worker);
    s.live = false;
    for (const w of [...this.ackWaiters]) w();
    if (this.stopping) return;
    const quick = Date.now() - s.startedAt < CRASH_WINDOW_MS;
    const crashes = quick ? s.crashes + 1 : 0;
    const delay = crashes === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (crashes - 1));
    this.o.log.error({ worker: s.slot, worker_pid: s.worker.process.pid, code, signal, restart_in_ms: delay }, 'data-plane worker exited; replacing it (its in-flight requests are lost)');
    const timer = setTimeout(() => void this.replace(s, crashes), delay);
    timer.unref();
  }

  /** replace starts a new worker in a slot: current snapshot, then every live listener, then it counts as live. */
  private async replace(old: Slot, crashes: number): Promise<void> {
    if (this.stopping) return;
    const s = this.fork(old.slot, old.restarts + 1);
    s.crashes = crashes;
    this.slots[this.slots.indexOf(old)] = s;
    try {
      await s.ready;
      await this.prepare(s);
      this.o.log.info({ worker: s.slot, worker_pid: s.worker.process.pid, version: s.acked }, 'data-plane worker replaced');
    } catch (err) {
      this.o.log.error({ worker: s.slot, err: (err as Error).message }, 'replacement data-plane worker failed to start');
      if (!s.worker.isDead()) s.worker.process.kill('SIGKILL');
    }
  }

  /** prepare gives a started worker the current snapshot and binds every live listener in it. */
  private async prepare(s: Slot): Promise<void> {
    const snapshot = this.o.current();
    if (snapshot !== null) this.send(s.worker, { t: 'snapshot', snapshot });
    // live from here: later snapshots and health decisions reach it (IPC keeps their order)
    s.live = true;
    for (const [gen, a] of this.listeners) await this.request(s.worker, { t: 'bind', id: 0, gen, host: a.host, port: a.port, reusePort: this.share === 'reuseport' });
  }

  /** ready: every worker got its first snapshot and is live (listeners are bound separately, by `bind`). */
  async ready(): Promise<void> {
    for (const s of this.slots) await this.prepare(s);
  }

  // ─── SnapshotSink ─────────────────────────────────────────────────────────

  apply(snapshot: Snapshot): void {
    for (const s of this.slots) if (s.live) this.send(s.worker, { t: 'snapshot', snapshot });
  }

  applyHealth(update: HealthUpdate): void {
    for (const s of this.slots) if (s.live) this.send(s.worker, { t: 'health', update });
  }

  /**
   * synced resolves when every live worker acked `version` (or a later one); after `timeoutMs` it
   * resolves with the workers that did not, and with `replaceLate` kills them (their replacements
   * start from the current snapshot).
   */
  synced(version: number, timeoutMs = REPLY_TIMEOUT_MS, replaceLate = false): Promise<string[]> {
    const lagging = () => this.slots.filter((s) => s.live && s.acked < version);
    return new Promise((resolve) => {
      const check = () => {
        if (lagging().length > 0) return;
        done();
        resolve([]);
      };
      const timer = setTimeout(() => {
        done();
        const late = lagging();
        if (replaceLate) for (const s of late) s.worker.process.kill('SIGKILL');
        resolve(late.map((s) => `data-plane worker ${s.slot} (pid ${s.worker.process.pid}) did not apply version ${version} within ${timeoutMs / 1000}s${replaceLate ? '; replaced' : ''}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.ackWaiters.delete(check);
      };
      this.ackWaiters.add(check);
      check();
    });
  }

  // ─── listeners ───────────────────────────────────────────────────────────

  /**
   * bind makes every worker listen on `address` under generation `gen`. With reuseport and port 0 the
   * first worker picks the port and the others join it. Fails as a whole: workers that bound close again.
   */
  async bind(gen: number, address: Address): Promise<AddressInfo> {
    const live = this.slots.filter((s) => s.live);
    if (live.length === 0) throw new Error('no data-plane worker is running');
    const reusePort = this.share === 'reuseport';
    const ask = (s: Slot, port: number) => this.request(s.worker, { t: 'bind', id: 0, gen, host: address.host, port, reusePort }) as Promise<number>;
    const bound: Slot[] = [];
    try {
      let port = address.port;
      if (port === 0 && reusePort) {
        port = await ask(live[0]!, 0);
        bound.push(live[0]!);
      }
      const rest = live.filter((s) => !bound.includes(s));
      const results = await Promise.allSettled(rest.map((s) => ask(s, port)));
      results.forEach((r, i) => r.status === 'fulfilled' && bound.push(rest[i]!));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      const actual = port !== 0 ? port : (results[0] as PromiseFulfilledResult<number>).value;
      // a replacement joins with the same request: reuseport binds the actual port (the kernel adds it to the
      // group); shared asks the cluster primary for the same handle, which is keyed by the address as configured
      this.listeners.set(gen, { host: address.host, port: reusePort ? actual : address.port });
      return { address: address.host, family: address.host.includes(':') ? 'IPv6' : 'IPv4', port: actual };
    } catch (err) {
      await Promise.allSettled(bound.map((s) => this.request(s.worker, { t: 'unbind', id: 0, gen, grace: 0 })));
      throw err;
    }
  }

  /** unbind closes generation `gen` in every worker: no new connections; open ones get `grace` ms. */
  async unbind(gen: number, grace: number): Promise<void> {
    this.listeners.delete(gen);
    if (this.stopping) return;
    await Promise.allSettled(this.slots.filter((s) => s.live).map((s) => this.request(s.worker, { t: 'unbind', id: 0, gen, grace }, grace + REPLY_TIMEOUT_MS)));
  }

  // ─── queries ─────────────────────────────────────────────────────────────

  /** status lists the workers with their last pushed stats (at most a second old). */
  status(): WorkerStatus[] {
    return this.slots.map((s) => ({
      worker: s.slot,
      pid: s.worker.process.pid ?? null,
      up: s.live,
      version: s.acked,
      restarts: s.restarts,
      started_at: new Date(s.startedAt).toISOString(),
      in_flight: s.live ? s.stats.in_flight : 0,
      websockets: s.live ? s.stats.websockets : 0,
      connections: s.stats.connections,
    }));
  }

  /** inFlightTo asks every worker how many requests are running towards an upstream (drain before stopping an app worker). */
  async inFlightTo(url: string): Promise<number> {
    const counts = await Promise.allSettled(this.slots.filter((s) => s.live).map((s) => this.request(s.worker, { t: 'query', id: 0, q: 'in-flight-to', url }, 2000)));
    return counts.reduce((n, c) => n + (c.status === 'fulfilled' ? (c.value as number) : 0), 0);
  }

  /** metrics collects every live worker's registry as JSON (prom-client's format) for aggregation. */
  metrics(): Promise<unknown[]> {
    return this.askAll('metrics');
  }

  /** counters collects every live worker's cumulative counts (the dashboard's history; a worker that does not answer is left out). */
  counters(): Promise<Counters[]> {
    return this.askAll('counters') as Promise<Counters[]>;
  }

  /** askAll sends a query to every live worker; the answers of those that answered within 2 s. */
  private async askAll(q: 'metrics' | 'counters'): Promise<unknown[]> {
    const all = await Promise.allSettled(this.slots.filter((s) => s.live).map((s) => this.request(s.worker, { t: 'query', id: 0, q }, 2000)));
    return all.filter((r): r is PromiseFulfilledResult<unknown> => r.status === 'fulfilled').map((r) => r.value);
  }

  // ─── shutdown ────────────────────────────────────────────────────────────

  /**
   * drain: every worker stops accepting, closes WebSockets with 1001, finishes in-flight requests
   * within `grace` and exits (its upstream requests cut 0.2 s later at most); a worker still there
   * after grace + 0.6 s is killed, so the whole process stays within its shutdown deadline (DESIGN §8).
   */
  async drain(grace: number): Promise<void> {
    this.stopping = true;
    const exits = this.slots.map((s) => exited(s.worker));
    for (const s of this.slots) if (s.worker.isConnected()) this.send(s.worker, { t: 'drain', grace });
    const kill = setTimeout(() => {
      for (const s of this.slots) if (!s.worker.isDead()) s.worker.process.kill('SIGKILL');
    }, grace + 600);
    kill.unref();
    await Promise.all(exits);
    clearTimeout(kill);
  }

  /** kill stops every worker at once (start-up failed). */
  async kill(): Promise<void> {
    this.stopping = true;
    const exits = this.slots.map((s) => exited(s.worker));
    for (const s of this.slots) if (!s.worker.isDead()) s.worker.process.kill('SIGKILL');
    await Promise.all(exits);
  }

  private send(worker: Worker, m: ToWorker): void {
    if (worker.isConnected()) worker.send(m);
  }

  private request(worker: Worker, m: ToWorker & { id: number }, timeoutMs = REPLY_TIMEOUT_MS): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!worker.isConnected()) return reject(new Error('data-plane worker is gone'));
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`data-plane worker pid ${worker.process.pid} did not answer ${m.t} within ${timeoutMs / 1000}s`));
      }, timeoutMs);
      this.pending.set(id, { worker, resolve, reject, timer });
      worker.send({ ...m, id });
    });
  }

  /** failPending rejects the requests a worker that exited will never answer. */
  private failPending(worker: Worker): void {
    for (const [id, p] of this.pending) {
      if (p.worker !== worker) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new Error(`data-plane worker pid ${worker.process.pid} exited`));
    }
  }
}

function exited(worker: Worker): Promise<void> {
  return worker.isDead() ? Promise.resolve() : new Promise((resolve) => worker.once('exit', () => resolve()));
}
