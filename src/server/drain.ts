/**
 * drainDataPlane: one data plane's part of a graceful shutdown, the same in the portico process
 * (workers = 1) and in each data-plane worker: responses say `Connection: close` from now on,
 * WebSockets get a 1001 close frame, the listeners stop accepting and their connections get `grace`
 * ms (then they are cut, WebSockets too), and the upstream pools close (a request still running has
 * nobody to answer: cut after 200 ms).
 */
import type { DataPlane } from '../proxy/data-plane.js';

/** POOLS_WAIT_MS: how long upstream requests may still finish once every client is gone. */
const POOLS_WAIT_MS = 200;

/** drainDataPlane drains `dp` while `closeListeners(grace)` closes its listeners. */
export async function drainDataPlane(dp: DataPlane, closeListeners: (grace: number) => Promise<unknown>, grace: number): Promise<void> {
  dp.startDraining();
  dp.goingAway();
  const cut = setTimeout(() => dp.closeUpgraded(), grace);
  cut.unref();
  await closeListeners(grace);
  clearTimeout(cut);
  await dp.close(true, POOLS_WAIT_MS);
}
