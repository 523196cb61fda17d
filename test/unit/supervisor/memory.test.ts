/**
 * The app memory budget (issue 15): detectMemory over fake cgroup files and injected Node/OS
 * figures, formatBytes, and the arithmetic budgetProblems refuses a plan on.
 */
import t from 'tap';
import { join } from 'node:path';
import { budgetProblems, detectMemory, formatBytes, memoryBudget, type BudgetConfig, type DetectOptions } from '../../../src/supervisor/memory.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const RAM = 16 * GiB;
const UNLIMITED_V1 = '9223372036854771712\n';

/** Options reading only what the test wrote into dir (missing files = no such cgroup). */
function opts(dir: string, constrained?: number): DetectOptions {
  return {
    cgroupV2: join(dir, 'memory.max'),
    cgroupV1: join(dir, 'memory', 'memory.limit_in_bytes'),
    constrainedMemory: constrained === undefined ? undefined : () => constrained,
    totalmem: () => RAM,
  };
}

t.test('detectMemory: cgroup v2 with a number', async (t) => {
  const dir = t.testdir({ 'memory.max': `${3 * GiB}\n`, memory: { 'memory.limit_in_bytes': `${2 * GiB}\n` } });
  t.strictSame(detectMemory(opts(dir)), { bytes: 3 * GiB, source: 'cgroup v2' }, 'v2 wins over v1 when it has a limit');
  t.strictSame(detectMemory(opts(dir, 3 * GiB)), { bytes: 3 * GiB, source: 'cgroup v2' }, 'a tie with constrainedMemory names the file');
  t.strictSame(detectMemory(opts(dir, GiB)), { bytes: GiB, source: 'process.constrainedMemory()' }, 'the smallest wins');
});

t.test('detectMemory: cgroup v2 "max" means no limit, then cgroup v1 is read', async (t) => {
  t.strictSame(detectMemory(opts(t.testdir({ 'memory.max': 'max\n' }))), { bytes: RAM, source: 'RAM' });
  const dir = t.testdir({ 'memory.max': 'max\n', memory: { 'memory.limit_in_bytes': `${2 * GiB}\n` } });
  t.strictSame(detectMemory(opts(dir)), { bytes: 2 * GiB, source: 'cgroup v1' });
});

t.test('detectMemory: cgroup v1, and its "unlimited" huge number', async (t) => {
  t.strictSame(detectMemory(opts(t.testdir({ memory: { 'memory.limit_in_bytes': `${512 * MiB}` } }))), { bytes: 512 * MiB, source: 'cgroup v1' });
  t.strictSame(detectMemory(opts(t.testdir({ memory: { 'memory.limit_in_bytes': UNLIMITED_V1 } }))), { bytes: RAM, source: 'RAM' });
});

t.test('detectMemory: no cgroup files; constrainedMemory 0 or about 2^64 is no limit', async (t) => {
  const dir = t.testdir({});
  t.strictSame(detectMemory(opts(dir)), { bytes: RAM, source: 'RAM' });
  t.strictSame(detectMemory(opts(dir, 0)), { bytes: RAM, source: 'RAM' });
  t.strictSame(detectMemory(opts(dir, 2 ** 64)), { bytes: RAM, source: 'RAM' });
  t.strictSame(detectMemory(opts(dir, 4 * GiB)), { bytes: 4 * GiB, source: 'process.constrainedMemory()' });
  t.strictSame(detectMemory({ ...opts(dir), constrainedMemory: () => undefined }), { bytes: RAM, source: 'RAM' });
});

t.test('detectMemory: a limit above the RAM is the RAM; garbage in the files is ignored', async (t) => {
  t.strictSame(detectMemory(opts(t.testdir({ 'memory.max': `${64 * GiB}` }))), { bytes: RAM, source: 'RAM' });
  t.strictSame(detectMemory(opts(t.testdir({ 'memory.max': '', memory: { 'memory.limit_in_bytes': '-1' } }))), { bytes: RAM, source: 'RAM' });
});

t.test('detectMemory with no options reads this machine', async (t) => {
  const d = detectMemory();
  t.ok(d.bytes > 0 && Number.isSafeInteger(d.bytes), `${d.bytes} bytes from ${d.source}`);
});

t.test('formatBytes: binary units, at most two decimals', async (t) => {
  const cases: [number, string][] = [
    [0, '0B'], [512, '512B'], [1023, '1023B'], [1024, '1KiB'], [16 * 1024, '16KiB'], [256 * MiB, '256MiB'],
    [GiB, '1GiB'], [2.75 * GiB, '2.75GiB'], [25_276_026_880, '23.54GiB'], [GiB - 1, '1GiB'], [1536, '1.5KiB'], [2 * 1024 ** 4, '2TiB'],
  ];
  for (const [n, s] of cases) t.equal(formatBytes(n), s, String(n));
});

function config(memory_total: number | 'auto', apps: BudgetConfig['apps'], memory_reserve = 256 * MiB): BudgetConfig {
  return { supervisor: { memory_total, memory_reserve }, apps };
}

const RAM_DETECTED = { bytes: RAM, source: 'RAM' } as const;

t.test('the seed: 4 workers × 1GiB do not fit in memory_total = "3GiB", and the message names both numbers', async (t) => {
  const problems = budgetProblems(config(3 * GiB, [{ name: 'web', workers: 4, memory: GiB }]), RAM_DETECTED);
  t.equal(problems.length, 1);
  t.equal(problems[0]!.path, 'apps');
  t.equal(problems[0]!.message,
    'app "web" needs 4 workers × 1GiB = 4GiB, but the budget is memory_total 3GiB − memory_reserve 256MiB = 2.75GiB; ' +
    'lower workers or memory, or raise [supervisor] memory_total');
});

t.test('auto uses the detected figure and says where it came from', async (t) => {
  const detected = { bytes: 3 * GiB, source: 'cgroup v2' } as const;
  const [p] = budgetProblems(config('auto', [{ name: 'web', workers: 4, memory: GiB }]), detected);
  t.match(p?.message, 'memory_total 3GiB (auto: detected from cgroup v2) − memory_reserve 256MiB = 2.75GiB');
  t.strictSame(budgetProblems(config('auto', [{ name: 'web', workers: 2, memory: GiB }]), detected), [], '2GiB fits in 2.75GiB');
});

t.test('several apps add up, named term by term; exactly the budget fits', async (t) => {
  const apps = [{ name: 'web', workers: 2, memory: GiB }, { name: 'jobs', workers: 3, memory: 256 * MiB }];
  t.strictSame(budgetProblems(config(2.75 * GiB + 256 * MiB, apps), RAM_DETECTED), [], '2.75GiB of 2.75GiB');
  const [p] = budgetProblems(config(2.75 * GiB, apps), RAM_DETECTED);
  t.match(p?.message, /^apps need 2 workers × 1GiB \("web"\) \+ 3 workers × 256MiB \("jobs"\) = 2\.75GiB, but the budget is memory_total 2\.75GiB − memory_reserve 256MiB = 2\.5GiB/);
  t.strictSame(memoryBudget(config(4 * GiB, apps), RAM_DETECTED), {
    workers: 5, need: 2.75 * GiB, total: 4 * GiB, totalSource: 'config', reserve: 256 * MiB, available: 3.75 * GiB,
  });
});

t.test('a reserve that takes all of memory_total is its own problem', async (t) => {
  const p = budgetProblems(config(GiB, [{ name: 'web', workers: 1, memory: MiB }], GiB), RAM_DETECTED);
  t.strictSame(p, [{ path: 'supervisor.memory_reserve', message: 'memory_reserve 1GiB leaves nothing of memory_total 1GiB for app workers' }]);
});

t.test('no apps: no budget problems, whatever the numbers', async (t) => {
  t.strictSame(budgetProblems(config(MiB, [], GiB), RAM_DETECTED), []);
});
