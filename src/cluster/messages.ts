/**
 * The IPC protocol between the control plane (cluster primary) and its data-plane workers
 * (DESIGN §1). Plain JSON-serialisable messages; `id` pairs a request with its reply.
 */
import type { Snapshot } from '../proxy/snapshot.js';
import type { HealthUpdate, PassiveReport } from '../proxy/snapshot.js';

/** WorkerStats is what a data-plane worker reports about itself (pushed every second, and on request). */
export interface WorkerStats {
  /** snapshot version applied */
  version: number;
  in_flight: number;
  websockets: number;
  /** TLS connections accepted since the worker started (how the kernel spread them) */
  connections: number;
}

/** ToWorker: primary → data-plane worker. */
export type ToWorker =
  | { t: 'snapshot'; snapshot: Snapshot }
  | { t: 'health'; update: HealthUpdate }
  /** listen on the https address; `gen` names this listener across rebinds (a reload may move it) */
  | { t: 'bind'; id: number; gen: number; host: string; port: number; reusePort: boolean }
  | { t: 'unbind'; id: number; gen: number; grace: number }
  | { t: 'query'; id: number; q: 'stats' | 'metrics' | 'counters' | 'in-flight-to'; url?: string }
  /** shutdown: Connection: close from now on, WebSockets 1001, close listeners, finish in-flight within grace, exit 0 */
  | { t: 'drain'; grace: number }
  /** the answer to a worker's `ask` */
  | { t: 'answer'; id: number; value: unknown };

/** FromWorker: data-plane worker → primary. */
export type FromWorker =
  | { t: 'ready' }
  | { t: 'ack'; version: number }
  | { t: 'report'; report: PassiveReport }
  | { t: 'stats'; stats: WorkerStats }
  /** an ACME challenge answer missing from the snapshot */
  | { t: 'ask'; id: number; kind: 'http' | 'alpn' | 'on-demand'; key: string }
  | { t: 'reply'; id: number; value?: unknown; error?: string };

/** WORKER_ENV carries the worker's start options (JSON) in its environment. */
export const WORKER_ENV = 'PORTICO_DATA_PLANE';

/** WorkerInit is what a worker needs before its first snapshot. */
export interface WorkerInit {
  /** 1-based slot, stable across replacements (log field `worker`) */
  slot: number;
  log: { level: string; format: 'json' | 'pretty' | 'auto' };
}
