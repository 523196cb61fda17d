/**
 * The health verdict of one upstream within one route (leaf: no I/O, no timers; time is passed in).
 *
 *   up ──(unhealthy_threshold failed probes | max_fails failures within fail_window)──▶ down
 *   down ──(healthy_threshold passing probes)──▶ up                       (active checks on)
 *   down ──(eject_for elapsed)──▶ trial ──(trial request ok)──▶ up         (active checks off)
 *                                   └──(trial request failed)──▶ down
 *
 * Observations (probe results, passive failures) are shared by every route that uses the upstream
 * address; each route's own thresholds decide for that route (health.ts feeds them to every route).
 */

/** UpstreamState: up (in the pool), down (out), trial (out, but one request may try it). */
export type UpstreamState = 'up' | 'down' | 'trial';

/** ProbeResult is one active check's outcome, shared by every route probing that address. */
export interface ProbeResult {
  /** epoch ms when the probe started */
  at: number;
  /** ms until the response headers (or until the error) */
  latency_ms: number;
  /** response status, or null when no response came */
  status: number | null;
  /** why no response came (connect refused, timeout…), or null */
  error: string | null;
}

/** Transition is a state change with its reason, for the log line and the snapshot update. */
export interface Transition {
  from: UpstreamState;
  to: UpstreamState;
  reason: string;
}

/** HealthSettings are a route's active checks (`[routes.health]`; durations in ms). */
export interface HealthSettings {
  readonly enabled: boolean;
  readonly path: string;
  readonly interval: number;
  readonly timeout: number;
  readonly healthy_threshold: number;
  readonly unhealthy_threshold: number;
  /** inclusive status range a probe must answer with */
  readonly expect_status: readonly [number, number];
}

/** PassiveSettings are a route's passive checks (`[routes.passive]`; durations in ms). */
export interface PassiveSettings {
  readonly max_fails: number;
  readonly fail_window: number;
  readonly eject_for: number;
  readonly fail_statuses: readonly number[];
}

/** HealthPolicy is the part of a route's config that decides its upstreams' health. */
export interface HealthPolicy {
  health: HealthSettings;
  passive: PassiveSettings;
}

/** HealthState tracks one (route, upstream) pair. */
export class HealthState {
  state: UpstreamState = 'up';
  /** consecutive passing / failing probes (as this route judges them) */
  passes = 0;
  fails = 0;
  /** the last probe result as this route judged it */
  lastCheck: (ProbeResult & { ok: boolean }) | null = null;
  /** epoch ms when an ejected upstream (checks off) gets its trial request */
  ejectedUntil: number | null = null;
  /** why the upstream is down (null while up) */
  reason: string | null = null;
  /** epoch ms of the last transition to up (passive failures before it no longer count) */
  private upSince = 0;

  /** a new app worker: out of the pool until its first passing probe (or, checks off, `joined()`) */
  joining = false;

  constructor(public policy: HealthPolicy, joining = false) {
    if (joining) {
      this.joining = true;
      this.state = 'down';
      this.reason = policy.health.enabled ? 'starting: joins the pool after its first passing probe' : 'starting: joins once it accepts connections';
    }
  }

  /** joined: a joining worker accepts connections (used when its routes run no probes). */
  joined(now: number): Transition | null {
    if (!this.joining) return null;
    this.joining = false;
    return this.to('up', 'accepting connections', now);
  }

  /** judge tells whether a probe result passes for this route (status range and its own timeout). */
  judge(r: ProbeResult): { ok: boolean; detail: string } {
    const h = this.policy.health;
    if (r.status === null) return { ok: false, detail: r.error ?? 'no response' };
    if (r.latency_ms > h.timeout) return { ok: false, detail: `no response headers within ${h.timeout}ms` };
    const [min, max] = h.expect_status;
    if (r.status < min || r.status > max) return { ok: false, detail: `status ${r.status} (expected ${rangeText(min, max)})` };
    return { ok: true, detail: `status ${r.status}` };
  }

  /** probe applies one active check result. */
  probe(r: ProbeResult): Transition | null {
    const { ok, detail } = this.judge(r);
    this.lastCheck = { ...r, ok };
    const h = this.policy.health;
    if (ok) {
      this.passes++;
      this.fails = 0;
      if (this.joining) {
        this.joining = false;
        return this.to('up', 'first passing probe', r.at + r.latency_ms);
      }
      if (this.state !== 'up' && this.passes >= h.healthy_threshold) return this.to('up', `${this.passes} passing probe${plural(this.passes)}`, r.at + r.latency_ms);
    } else {
      this.fails++;
      this.passes = 0;
      if (this.state === 'up' && this.fails >= h.unhealthy_threshold) {
        return this.to('down', `${this.fails} failed probe${plural(this.fails)}, last: ${detail}`, r.at);
      }
    }
    return null;
  }

  /**
   * failure applies the shared record of passive failure times (ascending epoch ms, the newest is
   * `now`): max_fails of them within fail_window, all after the last recovery, eject the upstream.
   */
  failure(times: readonly number[], detail: string, now: number): Transition | null {
    const p = this.policy.passive;
    if (this.state === 'trial') return this.eject(now, `trial request failed: ${detail}`);
    if (this.state !== 'up' || p.max_fails === 0) return null;
    const since = Math.max(now - p.fail_window, this.upSince);
    let n = 0;
    for (let i = times.length - 1; i >= 0 && times[i]! > since; i--) n++;
    if (n < p.max_fails) return null;
    return this.eject(now, `${n} failure${plural(n)} within ${p.fail_window}ms, last: ${detail}`);
  }

  /** trialPassed: the one request let through after eject_for succeeded. */
  trialPassed(now: number): Transition | null {
    return this.state === 'trial' ? this.to('up', 'trial request succeeded', now) : null;
  }

  /** tick moves an ejected upstream (checks off) to trial once eject_for has passed. */
  tick(now: number): Transition | null {
    if (this.state !== 'down' || this.ejectedUntil === null || now < this.ejectedUntil) return null;
    this.ejectedUntil = null;
    const t: Transition = { from: 'down', to: 'trial', reason: 'eject_for elapsed: one trial request decides' };
    this.state = 'trial';
    return t;
  }

  /**
   * reconfigure takes a new policy (a reload). An upstream that is down and can no longer be
   * restored the old way is handed to the new one: checks turned off → a trial after eject_for;
   * checks turned on → probes decide.
   */
  reconfigure(policy: HealthPolicy, now: number): void {
    this.policy = policy;
    if (this.state === 'up') return;
    if (policy.health.enabled) {
      this.state = 'down';
      this.ejectedUntil = null;
    } else if (this.state === 'down' && this.ejectedUntil === null) {
      this.ejectedUntil = now + policy.passive.eject_for;
    }
  }

  private eject(now: number, reason: string): Transition {
    this.passes = 0;
    this.ejectedUntil = this.policy.health.enabled ? null : now + this.policy.passive.eject_for;
    return this.to('down', reason, now);
  }

  private to(state: UpstreamState, reason: string, now: number): Transition {
    const t: Transition = { from: this.state, to: state, reason };
    this.state = state;
    if (state === 'up') {
      this.reason = null;
      this.upSince = now;
      this.ejectedUntil = null;
    } else {
      this.reason = reason;
      // a probe-dropped upstream with checks off would never come back: give it a trial later
      if (!this.policy.health.enabled && this.ejectedUntil === null) this.ejectedUntil = now + this.policy.passive.eject_for;
    }
    return t;
  }
}

function plural(n: number): string {
  return n === 1 ? '' : 's';
}

/** rangeText prints [200, 299] as "2xx", [200, 200] as "200", else "200-399". */
export function rangeText(min: number, max: number): string {
  if (min === max) return String(min);
  if (min % 100 === 0 && max === min + 99) return `${min / 100}xx`;
  return `${min}-${max}`;
}
