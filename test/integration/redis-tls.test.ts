/**
 * Issue 25: "Credentials via ${ENV}; rediss:// (TLS) supported" — against a real redis-server that
 * asks for a password and speaks TLS with a certificate from a private CA. `portico check` connects
 * (it says whether Redis answers): with the password from the environment and the CA trusted through
 * NODE_EXTRA_CA_CERTS (the way to trust a private CA, docs/deploy.md) it answers; without the CA, or
 * with a wrong password, it does not, and says why; the password is never printed.
 */
import t from 'tap';
import { makeCA, startRedis } from '../../test-support/index.js';
import { runCli } from '../../test-support/http.js';

const PASSWORD = 'pw with spaces & more';
const ca = await makeCA('redis test CA');
const redis = await startRedis({ password: PASSWORD, tls: await ca.issue(['127.0.0.1']) });
t.teardown(() => redis.close());

const dir = t.testdir({
  'ca.pem': ca.cert,
  'config.toml': `[storage]\ndir = "state"\nredis = "rediss://:\${REDIS_PASSWORD}@127.0.0.1:${redis.tlsPort}/0"\n\n[[routes]]\nhosts = ["a.test"]\nupstreams = ["http://127.0.0.1:9"]\n`,
});
const check = (env: NodeJS.ProcessEnv) => runCli(['check', '--config', `${dir}/config.toml`], { env });
const STORAGE = /^storage: redis rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: (.*)$/m;

t.test('rediss:// with a password from the environment and a private CA: answers', async (t) => {
  const r = await check({ REDIS_PASSWORD: encodeURIComponent(PASSWORD), NODE_EXTRA_CA_CERTS: `${dir}/ca.pem` });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout.match(STORAGE)?.[1], /^answers \(PING/);
  t.notOk(r.stdout.includes(PASSWORD) || r.stdout.includes(encodeURIComponent(PASSWORD)), 'the password is never printed');
});

t.test('a CA it does not trust, or a wrong password: not answering, and why', async (t) => {
  const untrusted = await check({ REDIS_PASSWORD: encodeURIComponent(PASSWORD), NODE_EXTRA_CA_CERTS: '' });
  t.match(untrusted.stdout.match(STORAGE)?.[1], /^NOT ANSWERING \(.*certificate/);
  const wrong = await check({ REDIS_PASSWORD: 'wrong', NODE_EXTRA_CA_CERTS: `${dir}/ca.pem` });
  t.match(wrong.stdout.match(STORAGE)?.[1], /^NOT ANSWERING \(.*WRONGPASS/);
});
