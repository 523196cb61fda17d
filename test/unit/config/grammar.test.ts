/** The value grammar of config.toml (DESIGN §4), one table of cases per function. */

import t from 'tap';
import {
  parseAddress, parseCidr, parseDuration, parseHost, parseSize, parseUpstream,
} from '../../../src/config/index.js';
import { editDistance, expandEnv, parseRange, parseRate, parseRenewBefore, WORKER_VARS } from '../../../src/config/grammar.js';
import { expandWorkerVars, usesWorkerVars, WORKER_VARS as SUPERVISOR_WORKER_VARS } from '../../../src/supervisor/worker-vars.js';

t.test('parseDuration', async (t) => {
  const valid: [string, number][] = [
    ['0ms', 0], ['500ms', 500], ['10s', 10_000], ['1.5s', 1500], ['0.5s', 500], ['5m', 300_000],
    ['1h', 3_600_000], ['2d', 172_800_000], ['1.5ms', 2], ['007s', 7000],
  ];
  for (const [s, ms] of valid) t.equal(parseDuration(s), ms, s);
  for (const s of ['', '10', 's', '-1s', '+1s', '1 s', ' 1s', '1S', '1w', '1.s', '.5s', '1e3ms', '1m30s', '1us', 'NaNs']) {
    t.equal(parseDuration(s), null, JSON.stringify(s));
  }
});

t.test('parseSize', async (t) => {
  const valid: [string | number, number][] = [
    ['512', 512], ['512B', 512], ['16KiB', 16_384], ['10MiB', 10_485_760], ['1GiB', 1_073_741_824],
    ['1KB', 1000], ['1MB', 1_000_000], ['1GB', 1_000_000_000], ['1.5MiB', 1_572_864], ['0', 0],
    [0, 0], [1, 1], [1_048_576, 1_048_576],
  ];
  for (const [v, bytes] of valid) t.equal(parseSize(v), bytes, JSON.stringify(v));
  const invalid: (string | number)[] = ['', 'KiB', '16 KiB', '16kib', '16kb', '16K', '1TiB', '-1', '1.5', '1.5B', -1, 1.5, Number.NaN, 2 ** 60, '99999999999GiB'];
  for (const v of invalid) t.equal(parseSize(v), null, JSON.stringify(v) ?? String(v));
});

t.test('parseAddress', async (t) => {
  const valid: [string, string, number][] = [
    ['0.0.0.0:8443', '0.0.0.0', 8443], ['127.0.0.1:0', '127.0.0.1', 0], [':8080', '0.0.0.0', 8080],
    ['[::]:443', '::', 443], ['[::1]:65535', '::1', 65535], ['[FE80::1]:1', 'fe80::1', 1],
    ['localhost:9901', 'localhost', 9901], ['Proxy.Internal:80', 'proxy.internal', 80],
  ];
  for (const [s, host, port] of valid) t.strictSame(parseAddress(s), { host, port }, s);
  const invalid = [
    '', '8443', ':', '0.0.0.0', '0.0.0.0:', '0.0.0.0:65536', '0.0.0.0:-1', '0.0.0.0:80a', '0.0.0.0:1.5',
    '::1:443', '[::1]', '[::1]443', '[1.2.3.4]:80', '[nope]:80', '*:80', 'bad host:80', 'a_b:80',
    '1.2.3:80', 'http://a:80', '[::1]:80:80',
  ];
  for (const s of invalid) t.equal(parseAddress(s), null, JSON.stringify(s));
});

t.test('parseCidr', async (t) => {
  const valid: [string, string][] = [
    ['10.0.0.0/8', '10.0.0.0/8'], ['10.1.2.3/8', '10.0.0.0/8'], ['192.168.1.7', '192.168.1.7/32'],
    ['0.0.0.0/0', '0.0.0.0/0'], ['172.16.5.4/12', '172.16.0.0/12'], ['10.255.255.255/31', '10.255.255.254/31'],
    ['::1/128', '::1/128'], ['::1', '::1/128'], ['::/0', '::/0'], ['2001:DB8::1/32', '2001:db8::/32'],
    ['fd00:1:2:3:4:5:6:7/8', 'fd00::/8'], ['2001:db8:0:0:0:0:0:1', '2001:db8::1/128'],
    ['fe80::ffff/120', 'fe80::ff00/120'], ['::ffff:10.1.2.3/104', '::ffff:a00:0/104'],
  ];
  for (const [s, cidr] of valid) t.equal(parseCidr(s), cidr, s);
  const invalid = [
    '', '/8', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/8/8', '10.0.0.0/a', '300.1.1.1',
    '01.2.3.4', '1.2.3', '::1/129', 'fe80::1%eth0', 'fe80::1%eth0/64', 'example.com', '10.0.0.0/ 8',
  ];
  for (const s of invalid) t.equal(parseCidr(s), null, JSON.stringify(s));
});

t.test('parseCidr output is accepted by net.BlockList', async (t) => {
  const { BlockList } = await import('node:net');
  for (const s of ['10.1.2.3/8', '::1', '2001:DB8::1/32', '::ffff:10.1.2.3/104']) {
    const cidr = parseCidr(s)!;
    const [addr, prefix] = cidr.split('/');
    const list = new BlockList();
    t.doesNotThrow(() => list.addSubnet(addr!, Number(prefix), addr!.includes(':') ? 'ipv6' : 'ipv4'), cidr);
  }
});

t.test('parseHost', async (t) => {
  const valid: [string, string][] = [
    ['app.example.com', 'app.example.com'], ['App.Example.COM.', 'app.example.com'], ['localhost', 'localhost'],
    ['*.example.com', '*.example.com'], ['*.Example.com.', '*.example.com'], ['xn--mnchen-3ya.de', 'xn--mnchen-3ya.de'],
    ['münchen.de', 'xn--mnchen-3ya.de'], ['a-b.c0', 'a-b.c0'], ['127.0.0.1', '127.0.0.1'], ['::1', '::1'],
    ['[::1]', '::1'], ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'], ['[2001:db8::0:1]', '2001:db8::1'],
    [`${'a'.repeat(63)}.com`, `${'a'.repeat(63)}.com`], ['*', '*'],
  ];
  for (const [s, host] of valid) t.equal(parseHost(s), host, s);
  const invalid = [
    '', '.', '**', '*.', 'a.*.com', '*a.com', '*.*.com', '**.com', '-a.com', 'a-.com', 'a..com', 'a_b.com',
    'a b.com', '1.2.3', '1.2.3.999', 'a.123', '[127.0.0.1]', '[::1', '::1]', 'fe80::1%eth0', 'a.com:443',
    'http://a.com', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}com`,
  ];
  for (const s of invalid) t.equal(parseHost(s), null, JSON.stringify(s));
});

t.test('parseUpstream', async (t) => {
  const valid: [string, string][] = [
    ['http://127.0.0.1:3001', 'http://127.0.0.1:3001'], ['http://127.0.0.1:3001/', 'http://127.0.0.1:3001'],
    ['http://localhost', 'http://localhost:80'], ['HTTP://App.Internal:8080', 'http://app.internal:8080'],
    ['http://[::1]:3001', 'http://[::1]:3001'], ['http://[0:0::1]', 'http://[::1]:80'],
  ];
  for (const [s, origin] of valid) t.strictSame(parseUpstream(s), { origin }, s);
  const invalid: [string, string][] = [
    ['https://127.0.0.1:3001', 'only http:// upstreams are supported (not https://)'],
    ['ws://a:1', 'only http:// upstreams are supported'], ['unix://sock', 'only http:// upstreams are supported'],
    ['127.0.0.1:3001', 'is not a URL'], ['http:127.0.0.1:3001', 'is not a URL'], ['//a:1', 'is not a URL'],
    ['http://a:1/x', 'must not have a path'], ['http://a:1//', 'must not have a path'],
    ['http://a:1?x', 'query or fragment'], ['http://a:1/#f', 'query or fragment'],
    ['http://u@a:1', 'user info'], ['http://', 'not a valid'], ['http://:80', 'not a valid'],
    ['http://a:0', 'not a valid'], ['http://a:65536', 'not a valid'], ['http://a:', 'not a valid'],
    ['http://[::1:80', 'not a valid'], ['http://::1:80', 'not a valid'], ['http://3001', 'not a valid'],
    ['http://a b:1', 'not a valid'],
  ];
  for (const [s, message] of invalid) {
    const r = parseUpstream(s);
    t.ok('error' in r && r.error.includes(message), `${s} → ${message}`, { found: r });
  }
});

t.test('expandEnv', async (t) => {
  const env = { A: 'x', B: '', LONG_NAME_1: 'y' };
  t.strictSame(expandEnv('${A}-${B}-${LONG_NAME_1}', env), { value: 'x--y', missing: [] });
  t.strictSame(expandEnv('$A ${not-a-name} ${1X} $${A}', env), { value: '$A ${not-a-name} ${1X} $x', missing: [] });
  t.strictSame(expandEnv('${C}/${A}/${D}', env), { value: '/x/', missing: ['C', 'D'] });
  t.strictSame(expandEnv('${A}', { A: '${B}' }), { value: '${B}', missing: [] }, 'not expanded twice');
});

t.test('editDistance', async (t) => {
  t.equal(editDistance('upstream', 'upstreams'), 1);
  t.equal(editDistance('lvl', 'level'), 2);
  t.equal(editDistance('', 'abc'), 3);
  t.equal(editDistance('same', 'same'), 0);
});

t.test('parseRange (acme.backoff)', async (t) => {
  t.strictSame(parseRange('1m..1d'), { min: 60_000, max: 86_400_000 });
  t.strictSame(parseRange('100ms..100ms'), { min: 100, max: 100 });
  for (const s of ['', '1m', '1m..', '..1d', '1d..1m', '1m...1d', '1m..1d..2d', '1 m..1d']) t.equal(parseRange(s), null, JSON.stringify(s));
});

t.test('parseRenewBefore (acme.renew_before)', async (t) => {
  t.strictSame(parseRenewBefore('1/3'), { fraction: 1 / 3 });
  t.strictSame(parseRenewBefore('5/6'), { fraction: 5 / 6 });
  t.strictSame(parseRenewBefore('30d'), { ms: 2_592_000_000 });
  for (const s of ['', '0/3', '3/3', '4/3', '1/0', '1/', '/3', '0s', '1.5/3', '30']) t.equal(parseRenewBefore(s), null, JSON.stringify(s));
});

t.test('parseRate (apps.crash_loop)', async (t) => {
  t.strictSame(parseRate('5 in 60s'), { count: 5, window: 60_000 });
  t.strictSame(parseRate('1 in 500ms'), { count: 1, window: 500 });
  t.strictSame(parseRate('100 in 1.5m'), { count: 100, window: 90_000 });
  for (const s of ['', '5', '5 in', 'in 60s', '0 in 60s', '-1 in 60s', '5 in 0s', '5 in 60', '5in60s', '5  in 60s', ' 5 in 60s', '5 IN 60s', '1.5 in 60s', '5 in 60s ']) {
    t.equal(parseRate(s), null, JSON.stringify(s));
  }
});

t.test('expandEnv keeps the names it is told to; expandWorkerVars fills in only PORT and PORTICO_WORKER_INDEX', async (t) => {
  t.strictSame(expandEnv('${PORT}:${A}', { A: 'x' }, WORKER_VARS), { value: '${PORT}:x', missing: [] });
  t.equal(expandWorkerVars('--port=${PORT} #${PORTICO_WORKER_INDEX} ${HOME} ${PORT}', { PORT: '8001', PORTICO_WORKER_INDEX: '0' }), '--port=8001 #0 ${HOME} 8001');
  t.ok(usesWorkerVars('x${PORT}'));
  t.ok(usesWorkerVars('${PORTICO_WORKER_INDEX}'));
  t.notOk(usesWorkerVars('$PORT ${PORTS}'));
  t.same([...WORKER_VARS].sort(), [...SUPERVISOR_WORKER_VARS].sort(), 'the loader keeps exactly the names the supervisor fills in');
});
