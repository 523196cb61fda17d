// What `portico check` prints about a route's features (issue 29), and its warning for a coding this
// Node cannot produce.
import t from 'tap';
import { parseConfig } from '../../../src/config/index.js';
import { featureLines, featureWarnings, policyText, redirectText } from '../../../src/lifecycle/feature-plan.js';
import { codingAvailable } from '../../../src/proxy/compress.js';

const INLINE = { file: '<inline>', baseDir: '/srv/portico', env: {} };

t.test('feature lines: compression, HSTS, header rules, rate limit; none for a plain route', async (t) => {
  const c = parseConfig(`
[[routes]]
hosts = ["a.test"]
upstreams = ["http://127.0.0.1:3001"]
balance = "p2c"
compress = ["zstd", "br", "gzip"]
hsts = "max-age=60"
rate_limit = "100 in 1s"
[routes.headers]
request = { set = { "X-Env" = "prod" } }
response = { remove = ["Server"] }

[[routes]]
hosts = ["b.test"]
redirect = "https://c.test/x"
redirect_status = 302
redirect_keep_path = false

[[routes]]
hosts = ["plain.test"]
upstreams = ["http://127.0.0.1:3002"]
`, INLINE);
  const [a, b, plain] = c.routes;
  const zstd = codingAvailable('zstd');
  t.same(featureLines(a!), [
    `    compress   ${zstd ? 'zstd, br, gzip' : `br, gzip (zstd: not in this Node ${process.version}, skipped)`}; text, JSON, JS, XML, SVG… ≥ 1 KiB`,
    '    hsts       max-age=60',
    '    request    set x-env: prod',
    '    response   remove server',
    '    rate limit 100 in 1s per client address (burst 100; over → 429 + Retry-After; per data-plane process)',
  ]);
  t.equal(policyText(a!), 'p2c: the less busy of two at random');
  t.equal(policyText(plain!), 'round-robin');
  t.equal(redirectText(b!), '302 → https://c.test/x (exactly)');
  t.same(featureLines(plain!), []);
  t.same(featureWarnings(c), zstd ? [] : [`route a.test/: compress zstd is not available in this Node (${process.version}; zstd needs 22.15 or later): not offered`]);
});
