/**
 * The active health check over the network: one GET on a fresh connection. The only health file that
 * does I/O; the verdicts are made elsewhere (upstream/health-state.ts, pure).
 */
import http from 'node:http';
import type { ProbeResult } from '../upstream/health-state.js';
import { VERSION } from '../version.js';

/** ProbeFn performs one check of `origin + path` within `timeout` ms. */
export type ProbeFn = (origin: string, path: string, timeout: number, signal: AbortSignal) => Promise<ProbeResult>;

/**
 * httpProbe: GET origin + path on a fresh connection (never queued behind user traffic), judged at
 * the response headers; the body is discarded.
 */
export const httpProbe: ProbeFn = (origin, path, timeout, signal) =>
  new Promise((resolve) => {
    const at = Date.now();
    const t0 = performance.now();
    const u = new URL(origin);
    let done = false;
    const finish = (status: number | null, error: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ at, latency_ms: Math.round((performance.now() - t0) * 1000) / 1000, status, error });
    };
    const req = http.request({
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port,
      path,
      method: 'GET',
      agent: false,
      signal,
      headers: { host: u.host, 'user-agent': `portico-health/${VERSION}`, connection: 'close', accept: '*/*' },
    });
    const timer = setTimeout(() => finish(null, `no response headers within ${timeout}ms`), timeout);
    req.on('response', (res) => {
      res.resume();
      finish(res.statusCode ?? null, null);
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish(null, err.code ? `${err.code}: ${err.message}` : err.message));
    req.end();
  });

