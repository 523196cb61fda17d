#!/usr/bin/env node
/**
 * A portico dns-01 hook for pebble-challtestsrv (Let's Encrypt's test DNS server, Debian package
 * `pebble`): sets and clears TXT records through its management API. For trying DNS-01 and
 * wildcard certificates locally against pebble; portico's own tests use it.
 *
 *   [acme]
 *   dns_hook = ["node", "examples/dns-hooks/challtestsrv.mjs", "http://127.0.0.1:8055"]
 *   dns_resolvers = ["127.0.0.1:8053"]      # challtestsrv's DNS: where pebble looks too
 *
 * portico runs it as `… <management-url> add|remove <_acme-challenge.name> <value>`. Exit 0 = done;
 * anything on stderr lands in portico's log.
 */
const [api, action, name, value] = process.argv.slice(2);
if (!api || !name || (action !== 'add' && action !== 'remove') || (action === 'add' && !value)) {
  process.stderr.write('usage: challtestsrv.mjs <management-url> add|remove <_acme-challenge.name> <value>\n');
  process.exit(2);
}
// challtestsrv wants the fully qualified name: without the trailing dot the call succeeds and nothing is served
const host = name.endsWith('.') ? name : `${name}.`;
const [path, body] = action === 'add' ? ['/set-txt', { host, value }] : ['/clear-txt', { host }];
try {
  const res = await fetch(new URL(path, api), { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
} catch (err) {
  process.stderr.write(`challtestsrv hook: ${action} ${host}: ${err.message}\n`);
  process.exit(1);
}
