// Reloader with fake steps: the transactional sequence (nothing changes before the swap; a failure
// retires what was built and closes what was bound), restart-only keys, refusal while shutting down,
// and reloads coalescing (never two at once; the queued one reads the newest file).
import pino from 'pino';
import t from 'tap';
import type { Config } from '../../../src/config/types.js';
import { ConfigInvalidError, ListenError } from '../../../src/errors.js';
import { Reloader, type ListenerChange, type ReloadSteps } from '../../../src/lifecycle/reload.js';

const config = (over: { workers?: number; grace?: number; tag?: string } = {}): Config =>
  ({ source: '/etc/portico.toml', server: { workers: over.workers ?? 1, shutdown_grace: over.grace ?? 1000 }, storage: { dir: '/s' }, log: { format: 'json' }, tag: over.tag ?? 'a' }) as unknown as Config;

class FakeRuntime {
  retired = false;
  constructor(readonly tag: string) {}
  retire(): void {
    this.retired = true;
  }
}

function fake(opts: { file?: () => Config | Error; prepare?: () => ListenerChange | Error } = {}) {
  const events: string[] = [];
  let current = config();
  let version = 1;
  let stopping = false;
  const built: FakeRuntime[] = [];
  const counts: string[] = [];
  let release: (() => void) | null = null;
  let gate: Promise<void> | null = null;
  const steps: ReloadSteps<FakeRuntime> = {
    load: async () => {
      events.push('load');
      if (gate) await gate;
      const f = opts.file?.() ?? config({ tag: 'b' });
      if (f instanceof Error) throw f;
      return f;
    },
    current: () => current,
    build: async (c) => {
      events.push('build');
      const r = new FakeRuntime((c as unknown as { tag: string }).tag);
      built.push(r);
      return r;
    },
    prepareListeners: async () => {
      events.push('prepare');
      const p = opts.prepare?.() ?? { changed: [], commit: async () => void events.push('commit'), abort: async () => void events.push('abort') };
      if (p instanceof Error) throw p;
      return p;
    },
    apply: async (_r, c) => {
      events.push('apply');
      current = c;
      version++;
      return [];
    },
    version: () => version,
    stopping: () => stopping,
    address: () => null,
    count: (r) => void counts.push(r),
  };
  return {
    steps, events, built, counts,
    stop: () => void (stopping = true),
    hold: () => void (gate = new Promise((r) => (release = r))),
    release: () => release?.(),
    reloader: new Reloader(steps, pino({ level: 'silent' })),
  };
}

t.test('a good file: load → build → bind moved listeners → apply → close the old ones; success counted and kept', async (t) => {
  const f = fake();
  const r = await f.reloader.reload();
  t.match(r, { result: 'success', version: 2, problems: [] });
  t.same(f.events, ['load', 'build', 'prepare', 'apply', 'commit']);
  t.same(f.counts, ['success']);
  t.equal(f.reloader.last, r);
  t.notOk(f.built[0]!.retired, 'the new runtime serves');
});

t.test('an invalid file changes nothing: every problem reported, nothing built', async (t) => {
  const f = fake({ file: () => new ConfigInvalidError('/etc/portico.toml', [{ path: 'routes[0].hosts', message: 'required' }, { path: 'server.https', message: 'bad address' }]) });
  const r = await f.reloader.reload();
  t.match(r, { result: 'failure', version: 1, problems: ['routes[0].hosts: required', 'server.https: bad address'] });
  t.same(f.events, ['load']);
  t.same(f.counts, ['failure']);
});

t.test('a key that needs a restart refuses the whole reload, naming it', async (t) => {
  const f = fake({ file: () => config({ workers: 4 }) });
  const r = await f.reloader.reload();
  t.match(r, { result: 'failure', problems: ['server.workers: changing this needs a restart'] });
  t.same(f.events, ['load'], 'nothing built');
});

t.test('a listener that cannot be bound: the built runtime is retired, nothing was applied', async (t) => {
  const f = fake({ prepare: () => new ListenError('https', '127.0.0.1:443', Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' })) });
  const r = await f.reloader.reload();
  t.match(r, { result: 'failure', version: 1, problems: [/EADDRINUSE/] });
  t.same(f.events, ['load', 'build', 'prepare']);
  t.ok(f.built[0]!.retired, 'the runtime built for the failed reload is retired');
});

t.test('reloads never overlap: requests during one join a single queued reload', async (t) => {
  const f = fake();
  f.hold();
  const first = f.reloader.reload();
  await new Promise((r) => setImmediate(r));
  const second = f.reloader.reload();
  const third = f.reloader.reload();
  t.equal(second, third, 'the second and third request share the queued reload');
  f.release();
  const [a, b] = await Promise.all([first, second]);
  t.equal(a.version, 2);
  t.equal(b.version, 3, 'the queued one ran after the first');
  t.same(f.events.filter((e) => e === 'load').length, 2, 'two reloads, not three');
});

t.test('while shutting down a reload is refused', async (t) => {
  const f = fake();
  f.stop();
  t.match(await f.reloader.reload(), { result: 'failure', problems: ['reload refused: shutting down'] });
  t.same(f.events, []);
});
