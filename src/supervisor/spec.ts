/**
 * AppSpec: one `[[apps]]` entry as the supervisor takes it (its own option type: the supervisor never
 * reads the config; lifecycle hands it these). Durations in ms, sizes in bytes.
 */

/** AppSpec describes one app: how to run its workers and how to keep them. */
export interface AppSpec {
  /** unique; a route refers to it with `app = "name"` */
  readonly name: string;
  /** argv, no shell */
  readonly command: readonly string[];
  /** absolute working directory */
  readonly cwd: string;
  /** added to portico's own environment */
  readonly env: Readonly<Record<string, string>>;
  readonly workers: number;
  /** first port of the range [port, port + 2×workers) the workers bind on 127.0.0.1 */
  readonly port: number;
  /** bytes per worker: the budget check and the RSS recycle limit */
  readonly memory: number;
  /** argv run to success before the first worker, once per definition; [] = none */
  readonly pre_start: readonly string[];
  readonly pre_start_timeout: number;
  /** restart backoff from `min` doubling to `max` */
  readonly restart_backoff: { readonly min: number; readonly max: number };
  /** more than `count` exits within `window` stop the restarts */
  readonly crash_loop: { readonly count: number; readonly window: number };
}
