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
