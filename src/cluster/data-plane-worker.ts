/**
 * A data-plane worker process (`server.workers` > 1, DESIGN §1): serves the https listener from the
 * snapshots its control plane (the cluster primary) sends, and nothing else. It loads only what
 * serving needs (no ACME, no certificate generation, no supervisor), reports passive health and
 * asks for ACME challenge answers over IPC, and acks each snapshot version it applied.
 *
 * Signals are the primary's business: SIGINT (a terminal's Ctrl-C reaches the whole process group),
 * SIGTERM and SIGHUP are ignored here; the primary sends `drain`. If the primary goes away (IPC
 * closed) the worker exits at once.
 */
import type https from 'node:https';
import type tls from 'node:tls';
import { createLogger, flushLogger, setLogLevel } from '../log.js';
import { Metrics } from '../metrics.js';
import { DataPlane } from '../proxy/data-plane.js';
import { Engine } from '../proxy/engine.js';
import type { Snapshot } from '../proxy/snapshot.js';
import { drainDataPlane } from '../server/drain.js';
import { applyListenerSettings, bind, closeServer, createHttpsListener, listenerSettings } from '../server/listeners.js';
import { WORKER_ENV, type FromWorker, type ToWorker, type WorkerInit, type WorkerStats } from './messages.js';

const STATS_EVERY_MS = 1000;
const ASK_TIMEOUT_MS = 5000;
/** an on-demand certificate may take an order (the handshake waits 10 s; a later answer still serves the next ones) */
const ON_DEMAND_TIMEOUT_MS = 120_000;

const init = JSON.parse(process.env[WORKER_ENV] ?? 'null') as WorkerInit | null;
if (init === null || typeof process.send !== 'function') {
  process.stderr.write('portico data-plane worker: start it through `portico run` with server.workers > 1\n');
  process.exit(2);
}

const send = (m: FromWorker): void => {
  if (process.connected) process.send!(m);
};

const root = createLogger({ level: init.log.level, format: init.log.format });
const log = root.child({ worker: init.slot });
const metrics = new Metrics();
const asks = new Map<number, (v: unknown) => void>();
let nextAsk = 1;

/** ask sends a challenge (or on-demand certificate) lookup to the primary; a lost or slow answer is "unknown" (the handshake or request fails). */
function ask<T>(kind: 'http' | 'alpn' | 'on-demand', key: string): Promise<T | null> {
  const id = nextAsk++;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      asks.delete(id);
      resolve(null);
    }, kind === 'on-demand' ? ON_DEMAND_TIMEOUT_MS : ASK_TIMEOUT_MS);
    asks.set(id, (v) => {
      clearTimeout(timer);
      resolve((v ?? null) as T | null);
    });
    send({ t: 'ask', id, kind, key });
  });
}

const dataPlane = new DataPlane({
  engine: new Engine(),
  log: log.child({ component: 'proxy' }),
  metrics,
  report: (report) => send({ t: 'report', report }),
  challenges: {
    httpToken: (token) => ask<string>('http', token),
    alpnCertificate: (name) => ask<{ cert: string; key: string }>('alpn', name),
    onDemandCertificate: (name) => ask<{ cert: string; key: string }>('on-demand', name),
  },
});
const servers = new Map<number, https.Server>();
let snapshot: Snapshot | null = null;
let connections = 0;
let draining = false;

function stats(): WorkerStats {
  return { version: dataPlane.version, in_flight: dataPlane.inFlight, websockets: dataPlane.websockets.tunnels, connections };
}

function applySnapshot(s: Snapshot): void {
  dataPlane.apply(s);
  snapshot = s;
  setLogLevel(root, s.server.log_level);
  const settings = listenerSettings(s.server);
  for (const server of servers.values()) applyListenerSettings(server, settings);
  send({ t: 'ack', version: s.version });
}

async function listen(m: Extract<ToWorker, { t: 'bind' }>): Promise<number> {
  if (snapshot === null) throw new Error('no snapshot yet');
  const s = snapshot.server;
  const server = createHttpsListener(
    dataPlane,
    { settings: listenerSettings(s), minVersion: s.min_version, defaultCertificate: snapshot.default_certificate },
    log.child({ component: 'server' }),
    metrics,
  );
  server.on('secureConnection', (_socket: tls.TLSSocket) => connections++);
  const bound = await bind(server, { host: m.host, port: m.port }, 'https', m.reusePort ? 'reuseport' : 'shared');
  servers.set(m.gen, server);
  return bound.port;
}

async function unlisten(gen: number, grace: number): Promise<void> {
  const server = servers.get(gen);
  servers.delete(gen);
  if (server !== undefined) await closeServer(server, grace);
}

/** drain: the worker's part of a graceful shutdown; exits 0 when every connection is done (or cut at grace). */
async function drain(grace: number): Promise<void> {
  if (draining) return;
  draining = true;
  await drainDataPlane(dataPlane, (g) => Promise.all([...servers.keys()].map((gen) => unlisten(gen, g))), grace);
  log.info({ connections }, 'data-plane worker stopped');
  flushLogger(root);
  process.exit(0);
}

function reply(id: number, work: () => unknown): void {
  Promise.resolve()
    .then(work)
    .then(
      (value) => send({ t: 'reply', id, value }),
      (err: Error) => send({ t: 'reply', id, error: err.message }),
    );
}

process.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'snapshot':
      return applySnapshot(m.snapshot);
    case 'health':
      return dataPlane.applyHealth(m.update);
    case 'bind':
      return reply(m.id, () => listen(m));
    case 'unbind':
      return reply(m.id, () => unlisten(m.gen, m.grace));
    case 'query':
      return reply(m.id, () => {
        if (m.q === 'metrics') return metrics.registry.getMetricsAsJSON();
        if (m.q === 'counters') return metrics.counters();
        if (m.q === 'in-flight-to') return dataPlane.inFlightTo(m.url ?? '');
        return stats();
      });
    case 'drain':
      void drain(m.grace);
      return;
    case 'answer':
      asks.get(m.id)?.(m.value);
      asks.delete(m.id);
      return;
  }
});

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});
process.on('disconnect', () => {
  // the primary is gone (crashed or killed): nobody decides any more; stop serving now
  log.error({}, 'control plane gone: data-plane worker exiting');
  flushLogger(root);
  process.exit(1);
});

setInterval(() => send({ t: 'stats', stats: stats() }), STATS_EVERY_MS).unref();
send({ t: 'ready' });
