/**
 * runLoad: a steady HTTPS client load (keep-alive, `concurrency` requests in flight) that records
 * every request's outcome, for tests asserting "0 failed requests" while upstreams die.
 */
import https from 'node:https';

/** Outcome is one request of a load run. */
export interface Outcome {
  i: number;
  /** epoch ms when it was sent / answered */
  sent: number;
  done: number;
  status: number;
  /** x-upstream of the response, or the client-side error */
  upstream: string;
  error: string | null;
}

/** LoadOptions for runLoad. */
export interface LoadOptions {
  port: number;
  servername: string;
  total: number;
  concurrency: number;
  path?: string;
  /** called before request i is sent (to kill / restart upstreams at a given point) */
  before?: (i: number) => void | Promise<void>;
  /** pause between requests per worker (ms), to spread the load over time */
  gap?: number;
  /** keep sending (up to `total`) until this returns true */
  until?: () => boolean;
  /** a new TLS connection per request instead of keep-alive */
  fresh?: boolean;
}

/** runLoad sends `total` GETs and resolves with every outcome, in order. */
export async function runLoad(o: LoadOptions): Promise<Outcome[]> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: o.concurrency, rejectUnauthorized: false });
  const out: Outcome[] = [];
  let next = 0;
  const one = (i: number): Promise<Outcome> =>
    new Promise((resolve) => {
      const sent = Date.now();
      const req = https.request(
        {
          host: '127.0.0.1', port: o.port, servername: o.servername, path: o.path ?? `/load/${i}`, timeout: 20_000,
          agent: o.fresh ? false : agent, rejectUnauthorized: false, headers: { host: o.servername },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ i, sent, done: Date.now(), status: res.statusCode ?? 0, upstream: String(res.headers['x-upstream'] ?? ''), error: null }));
          res.on('error', (err) => resolve({ i, sent, done: Date.now(), status: 0, upstream: '', error: err.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('client timeout')));
      req.on('error', (err) => resolve({ i, sent, done: Date.now(), status: 0, upstream: '', error: err.message }));
      req.end();
    });
  const worker = async (): Promise<void> => {
    while (next < o.total && !(o.until?.() ?? false)) {
      const i = next++;
      await o.before?.(i);
      out[i] = await one(i);
      if (o.gap) await new Promise((r) => setTimeout(r, o.gap));
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  agent.destroy();
  return out.filter((x) => x !== undefined);
}

/** failures lists the outcomes that are not a 2xx. */
export function failures(outcomes: Outcome[]): Outcome[] {
  return outcomes.filter((r) => r.error !== null || r.status < 200 || r.status > 299);
}
