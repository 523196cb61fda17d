// The shutdown sequence with fake steps and a fake clock: the order (not ready first, the delay, the
// traffic drained within the grace, then background, pools, apps, the rest) and the app workers'
// budget (what is left of the grace, at least APPS_MIN_MS).
import pino from 'pino';
import t from 'tap';
import { APPS_MIN_MS, shutdown, type ShutdownClock, type ShutdownSteps } from '../../../src/lifecycle/shutdown.js';

function fake(drainMs: number) {
  const events: string[] = [];
  let now = 0;
  const clock: ShutdownClock = {
    now: () => now,
    sleep: async (ms) => {
      events.push(`sleep ${ms}`);
      now += ms;
    },
  };
  const steps: ShutdownSteps = {
    notReady: () => void events.push('notReady'),
    drainTraffic: async (grace) => {
      events.push(`drain ${grace}`);
      now += drainMs;
    },
    stopBackground: () => void events.push('background'),
    closeEngine: async () => void events.push('engine'),
    stopApps: async (ms) => void events.push(`apps ${ms}`),
    closeRest: async () => void events.push('rest'),
  };
  return { events, clock, steps };
}

t.test('the order: not ready, delay, drain within the grace, background, pools, apps with the rest of the grace, the rest', async (t) => {
  const f = fake(1000);
  await shutdown(f.steps, { delay: 2000, grace: 5000, log: pino({ level: 'silent' }) }, f.clock);
  t.same(f.events, ['notReady', 'sleep 2000', 'drain 5000', 'background', 'engine', 'apps 4000', 'rest']);
});

t.test('traffic that used the whole grace leaves the apps their minimum; no delay means no sleep', async (t) => {
  const f = fake(5000);
  await shutdown(f.steps, { delay: 0, grace: 5000, log: pino({ level: 'silent' }) }, f.clock);
  t.same(f.events, ['notReady', 'drain 5000', 'background', 'engine', `apps ${APPS_MIN_MS}`, 'rest']);
});
