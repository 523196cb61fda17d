/**
 * ConfigWatcher (`portico run --watch`, DESIGN §3): reload when the config file's content changes.
 *
 * It watches directories, not the file: editors save by writing a new file and renaming it over the
 * old one (a new inode, which a watch on the file itself never sees), and Kubernetes updates a
 * mounted ConfigMap by swapping the `..data` symlink of the directory (config.toml → ..data/config.toml).
 * So it watches the config file's directory and the directory the file really lives in (after every
 * symlink), re-resolved after each change; a slow poll covers file systems without inotify events.
 * Events are debounced, then the content is hashed: only a real change calls `onChange` (the same
 * transactional reload as SIGHUP), so a touch or a swap to identical content reloads nothing.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Logger } from '../log.js';

/** WatchOptions tune the watcher (tests shorten the delays). */
export interface WatchOptions {
  /** quiet time after the last event before the file is read (default 200ms: editors write in steps) */
  debounceMs?: number;
  /** fallback poll period (default 2s) */
  pollMs?: number;
}

/** digestOf hashes the config file's content (following symlinks); null when it cannot be read now. */
async function digestOf(path: string): Promise<string | null> {
  try {
    return createHash('sha256').update(await readFile(path)).digest('hex');
  } catch {
    return null;
  }
}

/** ConfigWatcher calls `onChange` after each change of the config file's content. */
export class ConfigWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | null = null;
  private poll: NodeJS.Timeout | null = null;
  private checking: Promise<void> = Promise.resolve();
  private unreadable = false;
  private closed = false;

  private log: Logger | null = null;
  private onChange: () => void = () => {};

  private constructor(
    readonly path: string,
    private digest: string | null,
    private readonly opts: WatchOptions,
  ) {}

  /** create remembers the file's current content (call it before loading the config, so no change is missed). */
  static async create(path: string, opts: WatchOptions = {}): Promise<ConfigWatcher> {
    const abs = resolve(path);
    return new ConfigWatcher(abs, await digestOf(abs), opts);
  }

  /** start watches and calls `onChange` for each content change from the one `create` saw on. */
  start(log: Logger, onChange: () => void): void {
    this.log = log;
    this.onChange = onChange;
    this.poll = setInterval(() => this.schedule(0), this.opts.pollMs ?? 2000);
    this.poll.unref();
    log.info({ path: this.path }, 'watching the config file');
    this.schedule(0);
  }

  /** schedule checks the file after the debounce (each event restarts it). */
  private schedule(delay = this.opts.debounceMs ?? 200): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      // background work never crashes the process, and one failed check does not stop the next
      this.checking = this.checking.then(() => this.check()).catch((err: unknown) => this.log?.error({ err }, 'checking the config file failed'));
    }, delay);
    this.timer.unref();
  }

  /** check re-arms the directory watches and reloads when the content differs from the last seen. */
  private async check(): Promise<void> {
    if (this.closed) return;
    await this.arm();
    const digest = await digestOf(this.path);
    if (digest === null) {
      if (!this.unreadable) this.log?.warn({ path: this.path }, 'config file unreadable; keeping the running config');
      this.unreadable = true;
      return;
    }
    this.unreadable = false;
    if (digest === this.digest) return;
    this.digest = digest;
    this.log?.info({ path: this.path }, 'config file changed');
    this.onChange();
  }

  /** arm watches the directory of the path and of its real location (after symlinks), dropping stale ones. */
  private async arm(): Promise<void> {
    const dirs = new Set([dirname(this.path)]);
    const real = await realpath(this.path).catch(() => null);
    if (real !== null) dirs.add(dirname(real));
    for (const [dir, w] of this.watchers) {
      if (dirs.has(dir)) continue;
      w.close();
      this.watchers.delete(dir);
    }
    for (const dir of dirs) {
      if (this.watchers.has(dir) || this.closed) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.schedule());
        // a watched directory that disappears (an old ConfigMap version) is re-armed at the next check
        w.on('error', () => {
          w.close();
          if (this.watchers.get(dir) === w) this.watchers.delete(dir);
          this.schedule();
        });
        this.watchers.set(dir, w);
      } catch {
        // not there now: the poll and the next check try again
      }
    }
  }

  /** close stops watching. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.poll !== null) clearInterval(this.poll);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
