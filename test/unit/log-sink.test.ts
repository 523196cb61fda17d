// LineSink (the stdout log destination) with a fake write(2) and fake timers: whole lines, writes of at
// most 4096 bytes, flush on the timer and on exit, bounded memory when the descriptor refuses.
import t from 'tap';
import { LineSink, type LineSinkOptions } from '../../src/log-sink.js';

/** fakeFd records each write(2) as a string; `answer` decides what a write returns or throws. */
function fakeFd(answer: (len: number, n: number) => number | string = (len) => len) {
  const writes: string[] = [];
  let calls = 0;
  const write = (_fd: number, buf: Uint8Array, offset: number, length: number): number => {
    const a = answer(length, calls++);
    if (typeof a === 'string') throw Object.assign(new Error(a), { code: a });
    writes.push(Buffer.from(buf.subarray(offset, offset + a)).toString());
    return a;
  };
  return { writes, write };
}

/** fakeTimers keeps the one armed timer so a test can fire it. */
function fakeTimers() {
  const armed: Array<() => void> = [];
  return {
    armed,
    setTimeout: (fn: () => void) => {
      armed.push(fn);
      return armed.length;
    },
    clearTimeout: () => undefined,
    fire() {
      const fns = armed.splice(0);
      for (const fn of fns) fn();
    },
  };
}

function sink(opts: Partial<LineSinkOptions> & Pick<LineSinkOptions, 'write'>, timers = fakeTimers()) {
  return { sink: new LineSink({ fd: 99, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout, ...opts }), timers };
}

const line = (i: number, pad: number): string => `{"i":${i},"s":"${'é✓x'.repeat(pad)}"}\n`;

t.test('lines are written whole, in order, in writes of at most 4096 bytes', async (t) => {
  const fd = fakeFd();
  const { sink: s } = sink({ write: fd.write });
  const sent: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const l = line(i, (i * 37) % 300);
    sent.push(l);
    s.write(l);
  }
  s.flushSync();
  t.equal(fd.writes.join(''), sent.join(''), 'everything arrives, in order');
  const bytes = Buffer.byteLength(sent.join(''));
  const longest = Buffer.byteLength(line(0, 299));
  t.ok(fd.writes.length <= Math.ceil(bytes / (4096 - longest)), `batched (${fd.writes.length} writes for 2000 lines, ${bytes} bytes)`);
  for (const w of fd.writes) {
    if (Buffer.byteLength(w) > 4096 || !w.endsWith('\n')) t.fail(`bad write: ${Buffer.byteLength(w)} bytes`);
  }
  const full = fd.writes.slice(0, -1).map((w) => Buffer.byteLength(w));
  t.ok(Math.min(...full) > 4096 - longest, 'a batch is written when the next line would not fit');
});

t.test('a larger maxWrite (a regular file) packs more lines per write', async (t) => {
  const fd = fakeFd();
  const { sink: s } = sink({ write: fd.write, maxWrite: 65536 });
  const l = line(0, 40);
  for (let i = 0; i < 1000; i++) s.write(l);
  s.flush();
  t.equal(fd.writes.join(''), l.repeat(1000));
  t.same(fd.writes.map((w) => Buffer.byteLength(w) <= 65536 && w.endsWith('\n')), fd.writes.map(() => true));
  t.equal(fd.writes.length, Math.ceil((1000 * Buffer.byteLength(l)) / (Math.floor(65536 / Buffer.byteLength(l)) * Buffer.byteLength(l))));
});

t.test('a line longer than a write is written alone, after what came before it', async (t) => {
  const fd = fakeFd();
  const { sink: s } = sink({ write: fd.write });
  const big = `{"big":"${'x'.repeat(6000)}"}\n`;
  s.write('{"a":1}\n');
  s.write(big);
  s.write('{"b":2}\n');
  s.flush();
  t.same(fd.writes, ['{"a":1}\n', big, '{"b":2}\n']);
});

t.test('a partial batch is written when the timer fires, and the timer is armed again by the next line', async (t) => {
  const fd = fakeFd();
  const timers = fakeTimers();
  const { sink: s } = sink({ write: fd.write, flushMs: 50 }, timers);
  s.write('{"a":1}\n');
  s.write('{"a":2}\n');
  t.same(fd.writes, [], 'nothing written before the timer');
  t.equal(timers.armed.length, 1, 'one timer for the batch');
  timers.fire();
  t.same(fd.writes, ['{"a":1}\n{"a":2}\n']);
  t.equal(timers.armed.length, 0, 'no timer while idle');
  s.write('{"a":3}\n');
  t.equal(timers.armed.length, 1);
  let flushed = false;
  s.flush(() => (flushed = true));
  t.ok(flushed, 'flush(cb) calls back');
  t.same(fd.writes, ['{"a":1}\n{"a":2}\n', '{"a":3}\n'], 'flush writes at once');
});

t.test('a non-blocking descriptor that refuses: memory stays bounded, lines are dropped and counted, one warning after', async (t) => {
  let refusing = true;
  const fd = fakeFd((len) => (refusing ? 'EAGAIN' : len));
  const timers = fakeTimers();
  const { sink: s } = sink({ write: fd.write, maxPending: 64 * 1024, droppedLine: (n) => `{"dropped":${n}}\n` }, timers);
  const l = line(0, 100);
  for (let i = 0; i < 5000; i++) s.write(l);
  t.ok(s.waiting <= 64 * 1024 + 4096, `bounded: ${s.waiting} bytes waiting`);
  t.ok(s.dropped > 0, `${s.dropped} lines dropped`);
  timers.fire();
  t.same(fd.writes, [], 'still refused');
  refusing = false;
  timers.fire();
  const kept = fd.writes.slice(0, -1).join('');
  t.equal(kept.length % l.length, 0, 'only whole lines');
  t.equal(kept.split('\n').length - 1 + s.dropped, 5000, 'every line was either written or counted as dropped');
  t.equal(fd.writes.at(-1), `{"dropped":${s.dropped}}\n`, 'the warning line comes after the pending lines');
  t.equal(s.waiting, 0);
  s.write('{"after":1}\n');
  s.flush();
  t.equal(fd.writes.at(-1), '{"after":1}\n', 'no second warning');
});

t.test('a short write: the rest goes next, before anything newer', async (t) => {
  const fd = fakeFd((len, n) => (n === 0 ? 5 : len));
  const { sink: s } = sink({ write: fd.write });
  s.write('{"a":1}\n');
  s.flush();
  s.write('{"b":2}\n');
  s.flush();
  t.equal(fd.writes.join(''), '{"a":1}\n{"b":2}\n');
  t.equal(s.dropped, 0);
});

t.test('write errors other than EAGAIN (EPIPE: the reader is gone) drop and count, never throw', async (t) => {
  const fd = fakeFd(() => 'EPIPE');
  const { sink: s } = sink({ write: fd.write });
  s.write('{"a":1}\n');
  s.write('{"a":2}\n');
  t.doesNotThrow(() => s.flushSync());
  t.equal(s.dropped, 2);
});

t.test('flushSync (exit) waits a bounded time for a refusing descriptor, then gives up', async (t) => {
  let calls = 0;
  const fd = fakeFd((len) => (++calls < 4 ? 'EAGAIN' : len));
  const { sink: s } = sink({ write: fd.write });
  s.write('{"a":1}\n');
  s.flushSync(500);
  t.same(fd.writes, ['{"a":1}\n'], 'written once the descriptor takes it');
  const stuck = fakeFd(() => 'EAGAIN');
  const { sink: s2 } = sink({ write: stuck.write });
  s2.write('{"a":1}\n');
  const start = Date.now();
  s2.flushSync(50);
  t.ok(Date.now() - start < 1000, 'bounded');
  t.equal(s2.dropped, 1);
  t.equal(s2.waiting, 0);
});
