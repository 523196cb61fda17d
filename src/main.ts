/**
 * main: wires one portico process to its signals (DESIGN §3). SIGHUP reloads, SIGTERM/SIGINT shut
 * down gracefully (a second one exits at once), `--watch` reloads when the config file changes; the
 * process itself (start, reload, shutdown) is lifecycle/process.ts. Whatever hangs, the process is
 * gone shutdown_delay + shutdown_grace + 0.9 s after the signal (DESIGN §8).
 */
import { flushLogger } from './log.js';
import { Portico, type StartOptions } from './lifecycle/process.js';
import { ConfigWatcher, type WatchOptions } from './lifecycle/watch.js';

export { Portico, type Addresses, type ReloadResult, type StartOptions } from './lifecycle/process.js';

/** SHUTDOWN_SLACK_MS: how long past shutdown_delay + shutdown_grace a shutdown may take before the process just exits. */
const SHUTDOWN_SLACK_MS = 900;

/** RunOptions: StartOptions, plus `watch` (`portico run --watch`: reload when the config file changes). */
export interface RunOptions extends StartOptions {
  watch?: boolean;
  watchTuning?: WatchOptions;
}

/** run starts portico from a config file and wires signals (and, with `watch`, the config watcher); resolves with the exit code. Handlers are
 * installed before start, so a signal during start-up is honoured afterwards instead of killing the process. */
export async function run(opts: RunOptions): Promise<number> {
  let portico: Portico | null = null;
  let signals = 0;
  let pendingStop: NodeJS.Signals | null = null;
  let finish!: (code: number) => void;
  const done = new Promise<number>((resolve) => (finish = resolve));
  let watcher: ConfigWatcher | null = null;
  const stop = (p: Portico, signal: NodeJS.Signals) => {
    p.log.info({ signal }, 'signal received');
    watcher?.close();
    // the last resort: whatever hangs, the process is gone shortly after shutdown_delay + shutdown_grace (DESIGN §8)
    const server = p.publisher.runtime?.config.server;
    const limit = (server?.shutdown_delay ?? 0) + (server?.shutdown_grace ?? 0) + SHUTDOWN_SLACK_MS;
    setTimeout(() => {
      p.log.error({ in_flight: p.inFlight, limit_ms: limit }, 'shutdown did not finish in time: exiting now');
      flushLogger(p.log);
      finish(1);
    }, limit).unref();
    p.shutdown().then(
      () => finish(0),
      (err: Error) => {
        p.log.error({ err: err.message }, 'shutdown failed');
        finish(1);
      },
    );
  };
  const onStop = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      if (portico) {
        portico.log.warn({ signal }, 'second signal: exiting now');
        flushLogger(portico.log);
      }
      finish(1);
      return;
    }
    if (portico) stop(portico, signal);
    else pendingStop = signal;
  };
  const onHup = () => {
    if (!portico) return; // still starting: the file is being read right now anyway
    portico.log.info({ signal: 'SIGHUP' }, 'signal received');
    void portico.reload();
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  // the watcher reads the file first, so a change made while portico starts is not missed
  watcher = opts.watch ? await ConfigWatcher.create(opts.configPath, opts.watchTuning) : null;
  try {
    portico = await Portico.open(opts);
  } catch (err) {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
    throw err;
  }
  const p = portico;
  if (pendingStop === null) watcher?.start(p.log.child({ component: 'reload' }), () => void p.reload());
  if (pendingStop !== null) stop(portico, pendingStop);
  else void portico.becomeReady();
  return done.finally(() => watcher?.close());
}
