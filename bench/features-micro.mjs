#!/usr/bin/env node
// features-micro.mjs: what each route feature's request-path work costs, in ns per request, measured
// in-process on the built code (dist/): the selection policies, the rate limiter's bucket, the header
// rules, Accept-Encoding negotiation and the compression decision. The same-run A/B of bench/features.sh
// says what a whole request costs with each feature; on a shared machine its noise (a few %) is larger
// than these, which is why they are measured here too.
//
//   npm run build && node bench/features-micro.mjs
import { performance } from 'node:perf_hooks';
import { LeastRequests, PowerOfTwo, RoundRobin } from '../dist/upstream/selector.js';
import { RateLimiter, clientKey } from '../dist/proxy/rate-limit.js';
import { applyRequestRules, buildExtras, featureAnswer, setResponseFields } from '../dist/proxy/route-extras.js';
import { responseHeaders } from '../dist/proxy/passes.js';
import { negotiate, planCompression } from '../dist/proxy/compress.js';

/** ns runs fn n times (after a warm-up) and returns ns per call, the best of 5 rounds. */
function ns(fn, n = 2_000_000) {
  for (let i = 0; i < n / 10; i++) fn(i);
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n);
  }
  return best;
}

const pool = (k) => Array.from({ length: k }, (_, i) => ({ id: i, available: true, load: { n: i % 3 } }));
const rows = [];
const add = (what, v) => {
  rows.push([what, v]);
  console.log(`${what.padEnd(64)} ${v.toFixed(1).padStart(7)} ns`);
};

console.log(`node ${process.version}`);
for (const k of [2, 8]) {
  const p = pool(k);
  const rr = new RoundRobin();
  const lr = new LeastRequests();
  const p2 = new PowerOfTwo();
  add(`select: round_robin, ${k} upstreams`, ns(() => rr.select(p)));
  add(`select: least_requests, ${k} upstreams`, ns(() => lr.select(p)));
  add(`select: p2c, ${k} upstreams`, ns(() => p2.select(p)));
}
const snap = (over) => ({
  name: 'r', hosts: ['a'], path_prefix: '/', upstreams: [], max_body_bytes: 1, retries: 2, fail_statuses: [], retry_after: 1,
  balance: 'round_robin', compress: [], hsts: null, rate_limit: null, redirect: null,
  headers: { request: { set: [], remove: [] }, response: { set: [], remove: [] } }, ...over,
});
const trust = { isTrusted: () => false };
const limiter = new RateLimiter({ count: 999_999, window: 1000 });
const limited = buildExtras(snap({}), limiter);
add('rate limit: one client, bucket taken (clientKey + take)', ns(() => featureAnswer(limited, '/', '198.51.100.7', undefined, trust)));
const many = new RateLimiter({ count: 999_999, window: 1000 });
const ips = Array.from({ length: 10_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
add('rate limit: 10 000 clients in turn', ns((i) => many.take(clientKey(ips[i % 10_000]))));
add('rate limit: an IPv6 client (its /64 key)', ns(() => limiter.take(clientKey('2001:db8:1:2:3:4:5:6'))));
const rules = buildExtras(snap({ hsts: 'max-age=31536000; includeSubDomains', headers: { request: { set: [['x-env', 'prod']], remove: ['x-debug'] }, response: { set: [], remove: ['server'] } } }), null);
const outgoing = ['Host', 'a.test', 'User-Agent', 'wrk', 'Accept', '*/*', 'x-forwarded-for', '1.2.3.4', 'x-forwarded-proto', 'https', 'x-forwarded-host', 'a.test', 'x-real-ip', '1.2.3.4', 'forwarded', 'for=1.2.3.4'];
add('request rules: set 1, remove 1 (8 fields)', ns(() => applyRequestRules(outgoing, rules.request)));
const upstreamHead = { server: 'nginx', date: 'Sun, 06 Dec 2026 14:00:00 GMT', 'content-type': 'text/plain', 'content-length': '13', connection: 'keep-alive', 'x-upstream': 'u1' };
const plainCopy = ns(() => responseHeaders(upstreamHead));
add('response fields: the hop-by-hop copy every request pays (for reference)', plainCopy);
add('response fields: copy with remove 1 + HSTS', ns(() => setResponseFields(responseHeaders(upstreamHead, rules.response.drop), rules.response)));
const ae = 'gzip, deflate, br, zstd';
add('compression: negotiate a browser\'s Accept-Encoding', ns(() => negotiate(ae, ['br', 'gzip'])));
add('compression: decision for an image (not compressible)', ns(() => planCompression('GET', 200, { 'content-type': 'image/png', 'content-length': '5000' }, ae, ['br', 'gzip'])));
add('compression: decision for JSON (Vary, ETag, fields)', ns(() => planCompression('GET', 200, { 'content-type': 'application/json', 'content-length': '5000', etag: '"x"' }, ae, ['br', 'gzip'])));
