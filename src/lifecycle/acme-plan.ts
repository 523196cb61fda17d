/**
 * What `portico check` prints about ACME (cli.ts renders the rest of the plan): each ACME host's line
 * (IP address, wildcard via dns-01, stored certificate, ledger), the names obtained on demand, and an
 * `acme:` section with the directory, the profile (and what the directory offers), the challenge
 * types, the dns-01 hook, on-demand TLS and the order limits; plus the ACME warnings.
 */
import { isIP } from 'node:net';
import type { AcmeInspection } from '../acme/inspect.js';
import { challengesFor } from '../acme/manager.js';
import type { Config } from '../config/types.js';
import type { Plan } from './build.js';
import { usesAcme } from './build.js';
import type { CertPlan } from './cert-plan.js';

/** A duration in its largest whole unit, as config.toml writes it: `5m`, `90s`, `250ms`. */
export function durText(ms: number): string {
  const units: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  const [unit, size] = units.find(([, n]) => ms >= n && ms % n === 0) ?? ['ms', 1];
  return `${ms / size}${unit}`;
}

const rateText = (r: { count: number; window: number }): string => `${r.count} in ${durText(r.window)}`;

/** acmeLine describes an ACME host's state for `check`. */
export function acmeLine(config: Config, host: string, a: AcmeInspection | undefined): string {
  const kind = host.startsWith('*.') ? ' wildcard via dns-01' : isIP(host) !== 0 ? ' IP address' : '';
  const parts = [`acme${kind} (${config.acme.directory}${config.acme.profile ? `, profile ${config.acme.profile}` : ''})`];
  if (a?.stored) {
    parts.push(`stored certificate from ${a.stored.issuer}; expires ${a.stored.notAfter.toISOString()}; renews about ${a.stored.renewAt.toISOString()}`);
  } else {
    parts.push(a?.unreadable ? `stored certificate unreadable (${a.unreadable}): ordered again at start` : 'not issued yet: self-signed until the CA issues it');
  }
  const l = a?.ledger;
  if (l && l.consecutive_failures > 0) {
    parts.push(`FAILING: ${l.consecutive_failures} failed attempt(s), last error: ${l.last_error}; next attempt ${l.next_attempt_at}`);
  }
  return parts.join('; ');
}

/** onDemandLine describes the `"*"` host. */
export function onDemandLine(config: Config, source: 'on-demand' | 'default', remembered: number): string {
  if (source === 'default') return 'default certificate for names no route lists (on-demand TLS is off: [acme.on_demand] ask = "")';
  return `on demand: a certificate at the first handshake for each name ${config.acme.on_demand.ask} approves (at most ${rateText(config.acme.on_demand.rate)} orders); ${remembered} name(s) obtained so far`;
}

/** acmeSection is the `acme:` block of the plan (empty when no host uses ACME). */
export function acmeSection(config: Config, p: CertPlan & Partial<Pick<Plan, 'directory'>>): string[] {
  if (!usesAcme(p)) return [];
  const c = config.acme;
  const out = ['', 'acme:', `  directory  ${c.directory}${c.email ? ` (account ${c.email})` : ''}`];
  const offered = p.directory?.info?.profiles ? Object.keys(p.directory.info.profiles).join(', ') : null;
  const profile = c.profile === '' ? 'the CA\'s default' : `${c.profile}${offered !== null ? ` (the directory offers ${offered})` : p.directory?.error ? ' (not checked: directory unreadable)' : ''}`;
  out.push(`  profile    ${profile}`);
  const hosts = p.hosts.filter((h) => h.source === 'acme').map((h) => h.host);
  const ips = hosts.filter((h) => isIP(h) !== 0);
  const wild = hosts.filter((h) => h.startsWith('*.'));
  out.push(`  challenges ${c.challenges.join(', ')}${ips.length > 0 ? `; IP addresses (${ips.join(', ')}): ${challengesFor(ips[0]!, c.challenges).join(', ')}` : ''}${wild.length > 0 ? `; wildcards (${wild.join(', ')}): dns-01` : ''}`);
  if (c.dns_hook.length > 0) {
    const where = c.dns_resolvers.length > 0 ? `resolvers ${c.dns_resolvers.join(', ')}` : 'the zone\'s authoritative servers';
    out.push(`  dns-01     hook ${c.dns_hook.join(' ')} add|remove <name> <value> (timeout ${durText(c.dns_hook_timeout)}); TXT checked at ${where} for up to ${durText(c.dns_propagation_timeout)}`);
  }
  if (p.hosts.some((h) => h.source === 'on-demand')) {
    out.push(`  on-demand  ask ${c.on_demand.ask}?domain=NAME; at most ${rateText(c.on_demand.rate)} orders; a handshake waits up to 10s`);
  }
  out.push(`  orders     at most ${rateText(c.order_rate)}, ${c.order_concurrency} at a time; renew with ${'fraction' in c.renew_before ? `${Math.round(c.renew_before.fraction * 100)} % of the lifetime` : durText(c.renew_before.ms)} left (the CA's ARI window first)`);
  return out;
}

/** acmeWarnings lists ACME settings that are valid but probably not what the user wants. */
export function acmeWarnings(config: Config, p: CertPlan & Partial<Pick<Plan, 'directory'>>): string[] {
  const w: string[] = [];
  const c = config.acme;
  if (usesAcme(p) && c.directory.includes('acme-staging')) {
    w.push('acme.directory is Let\'s Encrypt staging: browsers do not trust its certificates (see docs/operations.md, "From staging to production")');
  }
  if (p.directory?.error) w.push(`acme.profile ${JSON.stringify(c.profile)} was not checked: the directory could not be read (${p.directory.error})`);
  if (c.on_demand.ask !== '' && !p.hosts.some((h) => h.source === 'on-demand')) {
    w.push('[acme.on_demand] ask is set but no route has hosts = ["*"] (with tls = "auto" or "acme"): on-demand TLS is off');
  }
  const ips = p.hosts.filter((h) => h.source === 'acme' && isIP(h.host) !== 0);
  if (ips.length > 0 && c.directory.includes('letsencrypt.org') && c.profile !== 'shortlived') {
    w.push(`Let's Encrypt issues IP address certificates (${ips.map((h) => h.host).join(', ')}) only with acme.profile = "shortlived"`);
  }
  return w;
}
