// RequestBody against a fake client: which bodies are buffered and replayable (the retry rule's
// "empty or fully buffered"), how a large one streams with backpressure, and the limit while streaming.
import { EventEmitter } from 'node:events';
import t from 'tap';
import { REPLAY_MAX, RequestBody, type BodyFeed } from '../../../src/proxy/body.js';

/** FakeClient is a request body source the test pushes into. */
class FakeClient extends EventEmitter {
  paused = false;
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  send(...chunks: Buffer[]): void {
    for (const c of chunks) this.emit('data', c);
  }
  finish(): void {
    this.emit('end');
  }
}

function events() {
  const e = { ready: 0, failed: [] as Error[] };
  return { e, handler: { ready: () => void e.ready++, failed: (err: Error) => void e.failed.push(err) } };
}

async function drain(feed: BodyFeed): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of feed) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

t.test('a small body is buffered whole before the first attempt and replayable by any attempt', async (t) => {
  const client = new FakeClient();
  const { e, handler } = events();
  const body = new RequestBody(client, 1 << 20, 11, handler);
  t.notOk(body.streamsNow, 'waits to buffer');
  client.send(Buffer.from('hello '), Buffer.from('world'));
  t.equal(e.ready, 0, 'not ready before the end');
  client.finish();
  t.equal(e.ready, 1, 'ready once');
  t.equal(body.buffered?.toString(), 'hello world');
  t.ok(body.replayable);
  t.equal((body.forAttempt() as Buffer).toString(), 'hello world');
  t.equal((body.forAttempt() as Buffer).toString(), 'hello world', 'the same bytes for a retry');
});

t.test('a body declared larger than REPLAY_MAX streams at once; replayable only until an attempt pulled from it', async (t) => {
  const client = new FakeClient();
  const { e, handler } = events();
  const big = Buffer.alloc(REPLAY_MAX + 1, 1);
  const body = new RequestBody(client, 1 << 20, big.length, handler);
  t.ok(body.streamsNow, 'the first attempt may start before the body arrived');
  t.equal(e.ready, 0);
  const feed1 = body.forAttempt() as BodyFeed;
  t.ok(body.replayable, 'nothing pulled yet: a connect failure may hand the body to the next attempt');
  const feed2 = body.forAttempt() as BodyFeed;
  t.ok(feed1.destroyed, 'the previous attempt’s feed is dropped');
  const got = drain(feed2);
  client.send(big.subarray(0, 1000), big.subarray(1000));
  client.finish();
  t.same(await got, big, 'the whole body reaches the attempt that reads');
  t.notOk(body.replayable, 'pulled: a streamed body cannot be sent again');
});

t.test('a chunked body that outgrows REPLAY_MAX turns to streaming and pauses the client until an attempt reads', async (t) => {
  const client = new FakeClient();
  const { e, handler } = events();
  const body = new RequestBody(client, 1 << 20, null, handler);
  client.send(Buffer.alloc(REPLAY_MAX), Buffer.alloc(10));
  t.equal(e.ready, 1, 'ready: the first attempt may start');
  t.ok(client.paused, 'the client is paused (backpressure) while nobody reads');
  t.equal(body.buffered, null);
  const got = drain(body.forAttempt() as BodyFeed);
  await new Promise((r) => setImmediate(r));
  t.notOk(client.paused, 'reading resumes the client');
  client.send(Buffer.alloc(5));
  client.finish();
  t.equal((await got).length, REPLAY_MAX + 15);
});

t.test('the route limit holds for bodies without a declared length: before an attempt → failed(); while streaming → the feed errors', async (t) => {
  const client = new FakeClient();
  const { e, handler } = events();
  new RequestBody(client, 100, null, handler);
  client.send(Buffer.alloc(101));
  t.equal(e.failed.length, 1);
  t.equal((e.failed[0] as { code?: string }).code, 'PORTICO_ERR_BODY_TOO_LARGE');

  const client2 = new FakeClient();
  const ev2 = events();
  const body2 = new RequestBody(client2, REPLAY_MAX + 100, null, ev2.handler);
  client2.send(Buffer.alloc(REPLAY_MAX + 1));
  const feed = body2.forAttempt() as BodyFeed;
  const ended = drain(feed).then(() => null, (err: Error) => err);
  await new Promise((r) => setImmediate(r));
  client2.send(Buffer.alloc(200));
  t.match(await ended, { code: 'PORTICO_ERR_BODY_TOO_LARGE' }, 'the attempt reading it fails with 413’s error');
});

t.test('close ends the body’s part: listeners removed, the feed dropped, no further pulls', async (t) => {
  const client = new FakeClient();
  const body = new RequestBody(client, 1 << 20, REPLAY_MAX + 1, events().handler);
  const feed = body.forAttempt() as BodyFeed;
  body.close();
  t.ok(feed.destroyed);
  t.equal(client.listenerCount('data'), 0);
  t.equal(client.listenerCount('end'), 0);
  t.throws(() => body.forAttempt(), /portico bug/, 'an attempt after the exchange finished is a bug, loudly');
});
