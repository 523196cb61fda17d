// Router (host then longest prefix, wildcards) and the one status-mapping function.
import t from 'tap';
import { BodyTooLargeError, ClientGoneError, EngineError, NoUpstreamError, UpstreamError, UpstreamTimeoutError } from '../../../src/errors.js';
import { Router } from '../../../src/proxy/router.js';
import { blameOf, catalogued, isUpstreamFault, statusFor } from '../../../src/proxy/failures.js';

const r = (name: string, hosts: string[], prefix = '/') => ({ name, hosts, prefix });

t.test('longest prefix wins within a host; exact host before wildcard', async (t) => {
  const router = new Router([r('root', ['app.test']), r('api', ['app.test'], '/api'), r('apiv2', ['app.test'], '/api/v2'), r('wild', ['*.app.test']), r('other', ['other.test'])]);
  t.equal(router.match('app.test', '/')?.name, 'root');
  t.equal(router.match('app.test', '/api/x')?.name, 'api');
  t.equal(router.match('app.test', '/api/v2/x')?.name, 'apiv2');
  t.equal(router.match('www.app.test', '/')?.name, 'wild');
  t.equal(router.match('a.b.app.test', '/'), null, 'a wildcard matches one label');
  t.equal(router.match('nope.test', '/'), null);
});

t.test('a host with only a deeper prefix does not match other paths', async (t) => {
  const router = new Router([r('api', ['app.test'], '/api')]);
  t.equal(router.match('app.test', '/'), null);
});

t.test('statusFor maps every failure class', async (t) => {
  t.equal(statusFor(new NoUpstreamError('r')), 503);
  t.equal(statusFor(new UpstreamTimeoutError('u', Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))), 504);
  t.equal(statusFor(new UpstreamError('u', new Error('x'))), 502);
  t.equal(statusFor(new EngineError(new Error('x'))), 502);
  t.equal(statusFor(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), 504);
  t.equal(statusFor(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), 504);
  t.equal(statusFor(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), 502);
  t.equal(statusFor(Object.assign(new Error('x'), { code: 'ECONNRESET' })), 502);
  t.equal(statusFor(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' })), 502);
  t.equal(statusFor(Object.assign(new Error('x'), { code: 'UND_ERR_INVALID_ARG' })), 400);
  t.equal(statusFor(new ClientGoneError()), 499);
  t.equal(statusFor(new BodyTooLargeError(1)), 413);
});

t.test('blameOf: only the upstream’s own failures count against it (issue 23)', async (t) => {
  const err = (code: string) => Object.assign(new Error('x'), { code });
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'HPE_INVALID_CONSTANT', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH']) {
    t.equal(blameOf(err(code)), 'upstream', code);
    t.ok(isUpstreamFault(err(code)), `${code} counts`);
  }
  t.equal(blameOf(new ClientGoneError()), 'client');
  t.equal(blameOf(new ClientGoneError('client read nothing of the response for 1000ms')), 'client');
  t.equal(blameOf(new BodyTooLargeError(1)), 'client');
  t.equal(blameOf(err('UND_ERR_INVALID_ARG')), 'client');
  t.equal(blameOf(err('UND_ERR_ABORTED')), 'client');
  // an engine assertion (undici's parser re-entered, issue 23), a pool portico closed, an error without a code: portico's own
  t.equal(blameOf(err('ERR_ASSERTION')), 'portico');
  t.equal(blameOf(err('UND_ERR_DESTROYED')), 'portico');
  t.equal(blameOf(err('UND_ERR_CLOSED')), 'portico');
  t.equal(blameOf(new TypeError('x is not a function')), 'portico');
  t.equal(blameOf('a string'), 'portico');
  for (const code of ['ERR_ASSERTION', 'UND_ERR_DESTROYED', 'PORTICO_ERR_CLIENT_GONE']) t.notOk(isUpstreamFault(err(code)), `${code} never counts`);
});

t.test('catalogued wraps engine errors by blame, keeping the engine code in the message', async (t) => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  const up = catalogued(refused, 'upstream', 'http://127.0.0.1:1') as UpstreamError;
  t.equal(up.code, 'PORTICO_ERR_UPSTREAM');
  t.equal(up.message, 'upstream http://127.0.0.1:1: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1');
  t.equal(up.cause, refused);
  const slow = catalogued(Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 'upstream', 'http://u') as UpstreamTimeoutError;
  t.equal(slow.code, 'PORTICO_ERR_UPSTREAM_TIMEOUT');
  t.equal(statusFor(slow), 504);
  const bug = catalogued(Object.assign(new Error('assert'), { code: 'ERR_ASSERTION' }), 'portico', 'http://u') as EngineError;
  t.equal(bug.code, 'PORTICO_ERR_ENGINE');
  const gone = new ClientGoneError();
  t.equal(catalogued(gone, 'client', 'http://u'), gone, 'client errors pass unchanged');
});
