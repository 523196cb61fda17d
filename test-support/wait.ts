/** waitUntil polls `pred` until it holds (or throws after `ms`): for state reached asynchronously. */
export async function waitUntil(pred: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`${what} not reached within ${ms}ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** sleep resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * testDir is `t.testdir()`, removed only after the test's teardowns. tap removes a test directory made
 * before the test's first `t.teardown` before running the teardowns: a storage or process still
 * writing into it until its teardown closes it then races the removal (ENOTEMPTY).
 */
export function testDir(t: { teardown(fn: () => unknown): void; testdir(): string }): string {
  t.teardown(() => undefined); // the first teardown: the removal now waits for every teardown
  return t.testdir();
}
