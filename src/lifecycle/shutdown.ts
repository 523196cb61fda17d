/**
 * The shutdown sequence (DESIGN §3 signals, §8 deadlines), one order for every process form:
 *
 *   not ready (/readyz 503) → keep serving for shutdown_delay → drain traffic: stop accepting, close
 *   WebSockets with 1001, let in-flight requests finish (Connection: close / GOAWAY) for up to
 *   shutdown_grace, then cut them → stop background work → close the upstream pools → stop the app
 *   workers with what is left of the grace (at least 0.5 s) → close the rest (admin).
 *
 * The steps are the process's (`ShutdownSteps`); tests give fakes and a clock, so the order and the
 * budgets are tested without sockets. run() (main.ts) adds the last resort: the process exits
 * shutdown_delay + shutdown_grace + 0.9 s after the signal whatever hangs.
 */
import type { Logger } from '../log.js';

/** ShutdownSteps are what shutting down does with the process (lifecycle/process.ts provides them). */
export interface ShutdownSteps {
  /** /readyz answers 503 from now on */
  notReady(): void;
  /** stop accepting, finish or cut in-flight requests and WebSockets within `grace` ms (data-plane workers drain themselves) */
  drainTraffic(grace: number): Promise<void>;
  /** stop background work: snapshot publishing, ticket rotation, health probes, ACME */
  stopBackground(): void;
  /** close the upstream pools (clients are gone: a request still running there has nobody to answer) */
  closeEngine(): Promise<void>;
  /** stop the app workers: SIGTERM, SIGKILL after `ms` */
  stopApps(ms: number): Promise<void>;
  /** close what is left (the admin listener, the orphan watchdog) */
  closeRest(): Promise<void>;
}

/** ShutdownClock is injected by tests. */
export interface ShutdownClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const REAL_CLOCK: ShutdownClock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** APPS_MIN_MS: app workers always get at least this long to stop, even when the traffic used the whole grace. */
export const APPS_MIN_MS = 500;

/** shutdown runs the sequence; `delay` and `grace` are shutdown_delay and shutdown_grace (ms). */
export async function shutdown(steps: ShutdownSteps, o: { delay: number; grace: number; log: Logger; inFlight?: () => number }, clock: ShutdownClock = REAL_CLOCK): Promise<void> {
  const { delay, grace, log } = o;
  steps.notReady();
  log.info({ shutdown_delay_ms: delay, shutdown_grace_ms: grace, in_flight: o.inFlight?.() }, 'shutting down');
  if (delay > 0) await clock.sleep(delay);
  const deadline = clock.now() + grace;
  await steps.drainTraffic(grace);
  steps.stopBackground();
  await steps.closeEngine();
  await steps.stopApps(Math.max(deadline - clock.now(), APPS_MIN_MS));
  await steps.closeRest();
  log.info({}, 'stopped');
}
