/**
 * build(config) → Runtime: provision everything a config needs before it may serve (certificates
 * loaded and checked, self-signed ones generated). Any problem throws ConfigInvalidError listing
 * every problem with its key path; nothing is left running after a failed build.
 */
import { ConfigInvalidError } from '../errors.js';
import type { Config, ConfigProblem } from '../config/types.js';
import { materialise, planCertificates, type CertPlan } from '../cert-sources/plan.js';
import type { SelfSignedSource } from '../cert-sources/self-signed.js';
import type { HealthRegistry } from '../upstream/health.js';
import { Runtime } from './runtime.js';

/** BuildDeps are the process-wide pieces a build uses (kept across runtimes). */
export interface BuildDeps {
  selfSigned: SelfSignedSource;
  health: HealthRegistry;
}

/** listenerProblems finds listeners that would collide on one port. */
export function listenerProblems(config: Config): ConfigProblem[] {
  const seen = new Map<string, string>();
  const problems: ConfigProblem[] = [];
  const entries: Array<[string, { host: string; port: number } | null]> = [
    ['server.https', config.server.https],
    ['server.http', config.server.http],
    ['admin.listen', config.admin.listen],
  ];
  for (const [path, a] of entries) {
    if (a === null || a.port === 0) continue;
    const other = seen.get(String(a.port));
    if (other !== undefined) problems.push({ path, message: `port ${a.port} is already used by ${other}` });
    else seen.set(String(a.port), path);
  }
  return problems;
}

/** plan checks what can be checked without starting anything (used by `check` and by build). */
export async function plan(config: Config): Promise<CertPlan> {
  const certPlan = await planCertificates(config);
  const problems = [...listenerProblems(config), ...certPlan.problems];
  if (problems.length > 0) throw new ConfigInvalidError(config.source, problems);
  return certPlan;
}

/** build provisions a complete Runtime for a config. */
export async function build(config: Config, deps: BuildDeps): Promise<Runtime> {
  const certPlan = await plan(config);
  const { certificates, refused } = await materialise(certPlan, deps.selfSigned);
  const defaultCertificate = await deps.selfSigned.defaultCertificate();
  return new Runtime(config, certPlan, certificates, refused, defaultCertificate, deps.health);
}
