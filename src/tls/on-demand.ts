/**
 * OnDemandHandshakes: the data plane's side of on-demand TLS (acme/on-demand.ts has the control
 * plane's). A handshake for a name with no certificate, while on-demand TLS is on, asks the control
 * plane once per name (concurrent handshakes for the same name share the question) and waits for the
 * answer — at most WAIT_MS (10 s), then it gets the default certificate; Node runs other handshakes
 * meanwhile (the SNI callback is asynchronous), so nothing else waits.
 *
 * Bounds, because SNI names are attacker-chosen: names being asked about at once (MAX_PENDING; a
 * question is dropped after QUESTION_MS), handshakes waiting on one name (MAX_WAITERS), and
 * remembered misses (MAX_MISSES, each kept MISS_TTL_MS so a refused name costs one question per TTL,
 * not one per handshake). Beyond a bound a handshake gets the default certificate at once.
 */

/** Pems is a certificate chain and its key. */
interface Pems {
  cert: string;
  key: string;
}

/** WAIT_MS: how long a handshake waits for its on-demand certificate (DESIGN §4). */
export const WAIT_MS = 10_000;
const MAX_PENDING = 1000;
const MAX_WAITERS = 1000;
const MAX_MISSES = 10_000;
const MISS_TTL_MS = 10_000;
/** QUESTION_MS: a question unanswered this long is dropped (a miss), so pending names cannot pile up behind a slow CA. */
const QUESTION_MS = 60_000;

/** OnDemandOptions override the bounds (tests). */
export interface OnDemandOptions {
  waitMs?: number;
  now?: () => number;
}

/** OnDemandHandshakes answers on-demand handshakes (see the file comment). */
export class OnDemandHandshakes {
  private readonly pending = new Map<string, Array<(p: Pems | null) => void>>();
  private readonly misses = new Map<string, number>();
  private readonly waitMs: number;
  private readonly now: () => number;

  constructor(private readonly lookup: (name: string) => Promise<Pems | null>, o: OnDemandOptions = {}) {
    this.waitMs = o.waitMs ?? WAIT_MS;
    this.now = o.now ?? Date.now;
  }

  /** size is how many names are being asked about now (for tests and metrics). */
  get size(): number {
    return this.pending.size;
  }

  /**
   * get calls `done` once: with the certificate when the control plane has one within the wait,
   * else null (the caller serves the default certificate). `got` runs once per answered question
   * with a certificate, whether or not any handshake still waits (the caller keeps it).
   */
  get(name: string, done: (p: Pems | null) => void, got: (name: string, p: Pems) => void): void {
    const until = this.misses.get(name);
    if (until !== undefined) {
      if (until > this.now()) return done(null);
      this.misses.delete(name);
    }
    let waiters = this.pending.get(name);
    if (waiters === undefined) {
      if (this.pending.size >= MAX_PENDING) return done(null);
      const list: Array<(p: Pems | null) => void> = [];
      waiters = list;
      this.pending.set(name, list);
      let settled = false;
      const settle = (p: Pems | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(giveUp);
        this.pending.delete(name);
        if (p !== null) got(name, p);
        else this.miss(name);
        for (const w of list) w(p);
      };
      const giveUp = setTimeout(() => settle(null), Math.max(QUESTION_MS, this.waitMs));
      giveUp.unref();
      this.lookup(name).then(settle, () => settle(null));
    } else if (waiters.length >= MAX_WAITERS) {
      return done(null);
    }
    let answered = false;
    const timer = setTimeout(() => {
      answered = true;
      done(null);
    }, this.waitMs);
    waiters.push((p) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      done(p);
    });
  }

  private miss(name: string): void {
    this.misses.delete(name);
    this.misses.set(name, this.now() + MISS_TTL_MS);
    if (this.misses.size > MAX_MISSES) this.misses.delete(this.misses.keys().next().value!);
  }

  /** clear forgets the misses (a new snapshot may have turned on-demand TLS on or off, or changed the routes). */
  clear(): void {
    this.misses.clear();
  }
}
