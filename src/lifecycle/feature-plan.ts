/**
 * What `portico check` prints about a route's proxy features (issue 29) and the warnings they raise:
 * the balancing policy, compression (with the codings this Node cannot produce), HSTS, header rules,
 * the rate limit, and a redirect route's answer.
 */
import type { Config, RouteConfig } from '../config/types.js';
import { codingAvailable } from '../proxy/compress.js';

/** POLICY_TEXT names each balancing policy as `check` prints it. */
const POLICY_TEXT: Readonly<Record<RouteConfig['balance'], string>> = {
  round_robin: 'round-robin',
  least_requests: 'least requests in flight',
  p2c: 'p2c: the less busy of two at random',
};

/** policyText is the route's balancing policy in words. */
export function policyText(r: RouteConfig): string {
  return POLICY_TEXT[r.balance];
}

/** redirectText is a redirect route's answer in words. */
export function redirectText(r: RouteConfig): string {
  return `${r.redirect_status} → ${r.redirect}${r.redirect_keep_path ? ' + the request\'s path and query' : ' (exactly)'}`;
}

const durationText = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

/** featureLines are the route's feature lines for `check` (none for a route that uses none). */
export function featureLines(r: RouteConfig): string[] {
  const out: string[] = [];
  if (r.compress.length > 0) {
    const missing = r.compress.filter((c) => !codingAvailable(c));
    const have = r.compress.filter((c) => codingAvailable(c));
    out.push(`    compress   ${have.length > 0 ? have.join(', ') : 'nothing'}${missing.length > 0 ? ` (${missing.join(', ')}: not in this Node ${process.version}, skipped)` : ''}; text, JSON, JS, XML, SVG… ≥ 1 KiB`);
  }
  if (r.hsts !== null) out.push(`    hsts       ${r.hsts}`);
  const h = r.headers;
  const rules = [['request', h.request], ['response', h.response]] as const;
  for (const [side, rule] of rules) {
    const parts = [...Object.entries(rule.set).map(([k, v]) => `set ${k}: ${v}`), ...rule.remove.map((k) => `remove ${k}`)];
    if (parts.length > 0) out.push(`    ${side === 'request' ? 'request   ' : 'response  '} ${parts.join('; ')}`);
  }
  if (r.rate_limit !== null) {
    const { count, window } = r.rate_limit;
    out.push(`    rate limit ${count} in ${durationText(window)} per client address (burst ${count}; over → 429 + Retry-After; per data-plane process)`);
  }
  return out;
}

/** featureWarnings: codings a route offers that this Node cannot produce. */
export function featureWarnings(config: Config): string[] {
  const w: string[] = [];
  for (const r of config.routes) {
    const missing = r.compress.filter((c) => !codingAvailable(c));
    if (missing.length > 0) w.push(`route ${r.name}: compress ${missing.join(', ')} is not available in this Node (${process.version}; zstd needs 22.15 or later): not offered`);
  }
  return w;
}
