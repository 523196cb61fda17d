/**
 * Reloader: SIGHUP, `POST /reload` and `--watch` (DESIGN §3, STYLE "make reload transactional").
 * One reload: read and validate the file → refuse keys that need a restart → build the whole new
 * runtime → bind the listeners that moved → swap → apply the rest (apps, kept listeners, log level,
 * data-plane workers' acks) → retire the moved listeners in the background. Any failure before the
 * swap leaves the running config as it was (the built runtime retired, the new listeners closed) and
 * reports every problem with its key path.
 *
 * Never two at once: a reload asked for while one runs is queued, and every further request joins
 * that queued one (it reads the newest file). The steps are the process's (`ReloadSteps`); tests
 * give fakes, so the sequencing is tested without sockets.
 */
import type { Config } from '../config/types.js';
import { ConfigInvalidError, formatProblem, type Problem } from '../errors.js';
import type { Logger } from '../log.js';

/** ReloadResult is what a reload reports (log, /status.json last_reload, POST /reload, `portico reload`). */
export interface ReloadResult {
  at: string;
  result: 'success' | 'failure';
  /** snapshot version serving after the reload */
  version: number;
  problems: string[];
  /** listeners rebound, opened or closed by this reload */
  listeners: string[];
}

/** RESTART_KEYS are the config parts a reload cannot change (DESIGN §4 "Reload scope"). */
export const RESTART_KEYS: ReadonlyArray<[string, (c: Config) => unknown]> = [
  ['server.workers', (c) => c.server.workers],
  ['storage.dir', (c) => c.storage.dir],
  ['storage.redis', (c) => c.storage.redis],
  ['log.format', (c) => c.log.format],
];

/** ListenerChange is a prepared listener move: the new ones bound, the old ones still open. */
export interface ListenerChange {
  /** names of listeners rebound, opened or closed */
  readonly changed: string[];
  /** close the replaced listeners (their connections get `grace` ms) */
  commit(grace: number): Promise<void>;
  /** close what `prepare` bound (the reload failed) */
  abort(): Promise<void>;
}

/** ReloadSteps are what a reload does with the process (lifecycle/process.ts provides them). */
export interface ReloadSteps<R extends { retire(): void }> {
  /** read and validate the file (throws ConfigInvalidError with every problem) */
  load(): Promise<Config>;
  /** the running config */
  current(): Config;
  build(config: Config): Promise<R>;
  /** bind the listeners whose address changed (throws ListenError: nothing is kept) */
  prepareListeners(config: Config): Promise<ListenerChange>;
  /** make the runtime current and apply what goes with it; resolves with data-plane workers that did not ack (as problems) */
  apply(runtime: R, config: Config): Promise<string[]>;
  /** the snapshot version serving now */
  version(): number;
  /** shutting down: reloads are refused */
  stopping(): boolean;
  /** the address a listener is bound to now, for the log ("host:port"), or null when closed */
  address(name: string): string | null;
  /** counts a result (portico_config_reloads_total) */
  count(result: 'success' | 'failure'): void;
}

/** Reloader runs reloads one at a time and keeps the last result. */
export class Reloader<R extends { retire(): void }> {
  private running: Promise<ReloadResult> | null = null;
  private queued: Promise<ReloadResult> | null = null;
  private lastResult: ReloadResult | null = null;

  constructor(
    private readonly steps: ReloadSteps<R>,
    private readonly log: Logger,
  ) {}

  /** last is the last reload's result (null before the first). */
  get last(): ReloadResult | null {
    return this.lastResult;
  }

  /** reload queues a reload behind the running one, or joins the one already queued. */
  reload(): Promise<ReloadResult> {
    if (this.queued !== null) return this.queued;
    const after = this.running ?? Promise.resolve();
    const next: Promise<ReloadResult> = after.then(() => {
      this.queued = null;
      this.running = next;
      return this.once();
    });
    this.queued = next;
    void next.finally(() => {
      if (this.running === next) this.running = null;
    });
    return next;
  }

  private async once(): Promise<ReloadResult> {
    const s = this.steps;
    if (s.stopping()) return this.record(['reload refused: shutting down'], []);
    let runtime: R | null = null;
    let change: ListenerChange | null = null;
    try {
      // 1. read and validate; refuse what needs a restart
      const config = await s.load();
      const current = s.current();
      const fixed = RESTART_KEYS.filter(([, get]) => JSON.stringify(get(config)) !== JSON.stringify(get(current)));
      if (fixed.length > 0) throw new ConfigInvalidError(config.source, fixed.map(([path]) => ({ path, message: 'changing this needs a restart' })));
      // 2. build everything and bind moved listeners before touching what runs
      runtime = await s.build(config);
      change = await s.prepareListeners(config);
      // 3. swap: from here the new config serves
      const built = runtime;
      runtime = null;
      const late = await s.apply(built, config);
      // 4. moved listeners: the new ones serve already; the old ones finish their connections in the background
      change.commit(config.server.shutdown_grace).catch((err: unknown) => this.log.error({ err }, 'closing a moved listener failed'));
      for (const name of change.changed) {
        const a = s.address(name);
        this.log.info({ listener: name, address: a }, a === null ? 'listener closed' : 'listening');
      }
      return this.record(late, change.changed, true);
    } catch (err) {
      runtime?.retire();
      await change?.abort();
      const problems: Problem[] = err instanceof ConfigInvalidError ? [...err.problems] : [{ path: '', message: (err as Error).message }];
      return this.record(problems.map(formatProblem), []);
    }
  }

  /** record logs, counts and keeps a result; `applied`: the new config is running (problems are then data-plane workers that did not ack it) */
  private record(problems: string[], listeners: string[], applied = false): ReloadResult {
    const result = problems.length === 0 ? 'success' : 'failure';
    const r: ReloadResult = { at: new Date().toISOString(), result, version: this.steps.version(), problems, listeners };
    this.steps.count(result);
    this.lastResult = r;
    if (result === 'success') this.log.info({ version: r.version }, 'config reloaded');
    else if (applied) this.log.error({ version: r.version, problems }, 'config reloaded, but not every data-plane worker acked it');
    else this.log.error({ problems }, 'config reload failed; keeping the running config');
    return r;
  }
}
