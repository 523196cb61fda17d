// RouteExtras (issue 29): a route without features has none (the request path checks one field);
// request and response header rules; redirect locations; and the config's refusal lists covering
// every field the proxy owns (config/ cannot import the proxy's lists, so this test ties them).
import t from 'tap';
import { OWNED_REQUEST, OWNED_RESPONSE } from '../../../src/config/validate-features.js';
import { FORWARDING, HOP_BY_HOP, responseHeaders } from '../../../src/proxy/passes.js';
import { applyRequestRules, buildExtras, featureAnswer, redirectLocation, redirectOf, setResponseFields } from '../../../src/proxy/route-extras.js';
import { RateLimiter } from '../../../src/proxy/rate-limit.js';
import type { SnapshotRoute } from '../../../src/proxy/snapshot.js';

function snapRoute(over: Partial<SnapshotRoute> = {}): SnapshotRoute {
  return {
    name: 'r', hosts: ['a.test'], path_prefix: '/', upstreams: [], max_body_bytes: 1, retries: 2, fail_statuses: [], retry_after: 1,
    balance: 'round_robin', compress: [], hsts: null, rate_limit: null, redirect: null,
    headers: { request: { set: [], remove: [] }, response: { set: [], remove: [] } },
    ...over,
  };
}

t.test('a route with no features has no extras; each feature makes some', async (t) => {
  t.equal(buildExtras(snapRoute(), null), null);
  t.ok(buildExtras(snapRoute({ hsts: 'max-age=1' }), null)?.response);
  t.ok(buildExtras(snapRoute({ compress: ['gzip'] }), null)?.codings);
  t.ok(buildExtras(snapRoute({ redirect: { to: 'https://b.test', status: 308, keep_path: true } }), null)?.redirect);
  t.ok(buildExtras(snapRoute(), new RateLimiter({ count: 1, window: 1000 }))?.limiter);
  t.ok(buildExtras(snapRoute({ headers: { request: { set: [['x-a', '1']], remove: [] }, response: { set: [], remove: [] } } }), null)?.request);
});

t.test('request rules: removed and set names leave the list, set values are appended', async (t) => {
  const x = buildExtras(snapRoute({ headers: { request: { set: [['x-env', 'prod']], remove: ['x-debug', 'cookie'] }, response: { set: [], remove: [] } } }), null)!;
  const out = applyRequestRules(['Host', 'a.test', 'X-Debug', '1', 'X-Env', 'client-said', 'Cookie', 'c=1', 'Accept', '*/*', 'x-forwarded-for', '1.2.3.4'], x.request!);
  t.same(out, ['Host', 'a.test', 'Accept', '*/*', 'x-forwarded-for', '1.2.3.4', 'x-env', 'prod'], 'case-insensitive; the forwarding headers untouched');
});

t.test('response rules: removals with the hop-by-hop strip, set fields (and HSTS) replace the upstream\'s', async (t) => {
  const x = buildExtras(snapRoute({ hsts: 'max-age=60', headers: { request: { set: [], remove: [] }, response: { set: [['x-frame-options', 'DENY']], remove: ['server', 'x-powered-by'] } } }), null)!;
  const h = responseHeaders({ server: 'app/1.0', 'x-powered-by': 'Express', 'x-frame-options': 'SAMEORIGIN', 'strict-transport-security': 'max-age=0', connection: 'keep-alive', 'content-type': 'text/plain' }, x.response!.drop);
  setResponseFields(h, x.response!);
  t.strictSame(h, { 'x-frame-options': 'DENY', 'strict-transport-security': 'max-age=60', 'content-type': 'text/plain' });
  const own: Record<string, string> = { 'retry-after': '1' };
  setResponseFields(own, x.response!);
  t.strictSame(own, { 'retry-after': '1', 'x-frame-options': 'DENY', 'strict-transport-security': 'max-age=60' }, 'portico\'s own answers get the set fields too');
});

t.test('redirect locations keep path and query, or not; odd characters are percent-encoded', async (t) => {
  const keep = redirectOf('https://www.example.com', 308, true);
  t.equal(redirectLocation(keep, '/a/b?x=1&y=%20'), 'https://www.example.com/a/b?x=1&y=%20');
  t.equal(redirectLocation(keep, '/'), 'https://www.example.com/');
  t.equal(redirectLocation(redirectOf('https://new.example.com/blog/', 301, true), '/post/1'), 'https://new.example.com/blog/post/1', 'a target path is a prefix');
  t.equal(redirectLocation(redirectOf('https://x.test/landing?from=old', 302, false), '/anything?q=1'), 'https://x.test/landing?from=old', 'exactly the target');
  t.equal(redirectLocation(keep, '/caf\u00e9 x'), 'https://www.example.com/caf%E9%20x', 'latin-1 and spaces escaped (never an invalid header value)');
  t.equal(redirectLocation(keep, '//evil.test/x'), 'https://www.example.com//evil.test/x', 'a path cannot change the target host');
  const answer = featureAnswer(buildExtras(snapRoute({ redirect: { to: 'https://w.test', status: 307, keep_path: true } }), null)!, '/p?q', '1.2.3.4', undefined, { isTrusted: () => false });
  t.same(answer, { status: 307, reason: null, fields: {}, location: 'https://w.test/p?q' });
});

t.test('featureAnswer: 429 with Retry-After once the client\'s bucket is empty, per client', async (t) => {
  let now = 0;
  const x = buildExtras(snapRoute(), new RateLimiter({ count: 2, window: 10_000, now: () => now }))!;
  const trust = { isTrusted: (ip: string) => ip === '10.0.0.1' };
  t.equal(featureAnswer(x, '/', '1.1.1.1', undefined, trust), null);
  t.equal(featureAnswer(x, '/', '1.1.1.1', undefined, trust), null);
  t.same(featureAnswer(x, '/', '1.1.1.1', undefined, trust), { status: 429, reason: 'rate limited', fields: { 'retry-after': '5' }, location: null });
  t.equal(featureAnswer(x, '/', '1.1.1.1', '9.9.9.9', trust)?.status, 429, 'an untrusted peer cannot escape with X-Forwarded-For');
  t.equal(featureAnswer(x, '/', '10.0.0.1', '1.1.1.1', trust)?.status, 429, 'behind the trusted proxy, 1.1.1.1 is the same client');
  t.equal(featureAnswer(x, '/', '10.0.0.1', '3.3.3.3', trust), null, 'and another client behind it has its own bucket');
  now = 5000;
  t.equal(featureAnswer(x, '/', '1.1.1.1', undefined, trust), null, 'a token is back after 5s');
});

t.test('the config refuses rules on every field the proxy owns', async (t) => {
  for (const name of [...HOP_BY_HOP, ...FORWARDING, 'host', 'content-length']) t.ok(OWNED_REQUEST.has(name), `request rules cannot touch ${name}`);
  for (const name of [...HOP_BY_HOP].filter((n) => n !== 'expect')) t.ok(OWNED_RESPONSE.has(name), `response rules cannot touch ${name}`);
  for (const name of ['content-length', 'content-encoding', 'strict-transport-security']) t.ok(OWNED_RESPONSE.has(name), `response rules cannot touch ${name}`);
});
