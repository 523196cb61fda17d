/**
 * Prober runs the active checks of one upstream address + health path for every (route, upstream)
 * pair subscribed to it (DESIGN §4 sharing rule): at the shortest of their intervals, with the longest
 * of their timeouts, never two at once, the next one an interval after the last one started. Results
 * go to its owner (the registry), which lets every subscribed route judge them.
 */
import type { Logger } from '../log.js';
import type { HealthSettings, ProbeResult } from '../upstream/health-state.js';
import type { ProbeFn } from './probe.js';

/** First probes are spread over at most this long after start-up (and never more than one interval). */
const MAX_START_JITTER_MS = 1000;

/** Subscriber is a (route, upstream) pair as a prober sees it: its health settings. */
export interface Subscriber {
  readonly state: { readonly policy: { readonly health: HealthSettings } };
}

/** Timers is the clock a prober schedules with (injected by tests; real: unref'd setTimeout and Date.now). */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** REAL_TIMERS: background timers that never keep the process alive. */
export const REAL_TIMERS: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** ProberOwner runs the probes and takes their results (the registry). */
export interface ProberOwner<M extends Subscriber> {
  readonly log: Logger;
  readonly probeFn: ProbeFn;
  readonly timers: Timers;
  probed(p: Prober<M>, r: ProbeResult): void;
}

/** Prober runs one upstream address + path's checks for every member subscribed to it. */
export class Prober<M extends Subscriber> {
  readonly members = new Set<M>();
  private timer: unknown = null;
  private dueAt = 0;
  private readonly abort = new AbortController();
  private running = false;

  constructor(
    readonly key: string,
    readonly origin: string,
    readonly path: string,
    private readonly owner: ProberOwner<M>,
  ) {}

  /** interval: the shortest of the subscribed routes' intervals; timeout: the longest timeout. */
  private get interval(): number {
    let ms = Infinity;
    for (const m of this.members) ms = Math.min(ms, m.state.policy.health.interval);
    return ms;
  }

  private get timeout(): number {
    let ms = 0;
    for (const m of this.members) ms = Math.max(ms, m.state.policy.health.timeout);
    return ms;
  }

  start(): void {
    // jitter the first probe so many upstreams are not probed in lockstep
    this.schedule(Math.floor(Math.random() * Math.min(this.interval, MAX_START_JITTER_MS)));
  }

  /** intervalChanged: a member joined or was reconfigured; a pending probe due later than one new interval moves up. */
  intervalChanged(): void {
    if (this.timer === null || this.dueAt <= this.owner.timers.now() + this.interval) return;
    this.owner.timers.clearTimeout(this.timer);
    this.schedule(Math.floor(Math.random() * Math.min(this.interval, MAX_START_JITTER_MS)));
  }

  stop(): void {
    if (this.timer !== null) this.owner.timers.clearTimeout(this.timer);
    this.timer = null;
    this.abort.abort();
  }

  private schedule(ms: number): void {
    if (this.abort.signal.aborted) return;
    this.dueAt = this.owner.timers.now() + ms;
    this.timer = this.owner.timers.setTimeout(this.tick, ms);
  }

  private readonly tick = (): void => {
    this.timer = null;
    if (this.running || this.members.size === 0) return;
    this.running = true;
    const started = this.owner.timers.now();
    this.owner
      .probeFn(this.origin, this.path, this.timeout, this.abort.signal)
      .then((r) => {
        if (!this.abort.signal.aborted) this.owner.probed(this, r);
      })
      .catch((err: unknown) => this.owner.log.error({ err, upstream: this.origin }, 'health probe crashed'))
      .finally(() => {
        this.running = false;
        // the next probe starts one interval after this one started, never overlapping it
        this.schedule(Math.max(0, this.interval - (this.owner.timers.now() - started)));
      });
  };
}

