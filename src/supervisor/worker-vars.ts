/**
 * Worker variables: `${PORT}` and `${PORTICO_WORKER_INDEX}` in an `[[apps]]` command or env value are
 * each worker's own values (its port, its index), filled in here when the worker starts (the config
 * loader keeps them as written: config/grammar.ts WORKER_VARS names the same two; a unit test ties them).
 */

/** WORKER_VARS are the names a worker's command and env may refer to; each worker also gets them as environment variables. */
export const WORKER_VARS: readonly string[] = ['PORT', 'PORTICO_WORKER_INDEX'];

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** expandWorkerVars fills in the worker variables a command or env value refers to (other `${…}` stay). */
export function expandWorkerVars(s: string, vars: Readonly<Record<string, string>>): string {
  return s.replace(REF, (ref: string, name: string) => (WORKER_VARS.includes(name) ? (vars[name] ?? ref) : ref));
}

/** usesWorkerVars tells whether a string refers to a worker variable (such env values are a worker's only: a pre-start step gets none). */
export function usesWorkerVars(s: string): boolean {
  return WORKER_VARS.some((n) => s.includes(`\${${n}}`));
}
