/**
 * A fleet for the issue-25 tests: N portico processes, each with its own `storage.dir`, sharing one
 * Redis, behind a real HAProxy in TCP mode (round-robin) listening on the ports pebble validates on,
 * sending PROXY v2 headers from 127.0.0.9 (which every replica lists in server.proxy_protocol).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { acmeSection } from './acme.js';
import { freePort } from './backend.js';
import { startHaproxy, type Haproxy } from './haproxy.js';
import type { Pebble } from './pebble.js';
import { proxyConfig, spawnPortico, type RouteSpec, type Spawned } from './proxy.js';

/** BALANCER is the address HAProxy connects to the replicas from. */
export const BALANCER = '127.0.0.9';

/** Replica is one portico of the fleet. */
export interface Replica {
  name: string;
  dir: string;
  https: number;
  http: number;
  admin: number;
  proc: Spawned;
}

/** FleetSpec: the routes, [acme] options and extra lines every replica gets. */
export interface FleetSpec {
  pebble: Pebble;
  redisUrl: string;
  routes: RouteSpec[];
  acme?: Parameters<typeof acmeSection>[1];
  /** extra [server] lines */
  server?: string;
}

/** replicaConfig renders a replica's config.toml. */
export function replicaConfig(spec: FleetSpec, r: Pick<Replica, 'https' | 'http' | 'admin'>, storageDir: string): string {
  return proxyConfig(spec.routes, {
    https: `127.0.0.1:${r.https}`,
    http: `127.0.0.1:${r.http}`,
    server: [`proxy_protocol = ["${BALANCER}/32"]`, spec.server ?? ''].join('\n'),
    storage: storageDir,
    redis: spec.redisUrl,
    acme: acmeSection(spec.pebble, spec.acme),
  }).replace('listen = "127.0.0.1:0"', `listen = "127.0.0.1:${r.admin}"`);
}

/** startReplica writes the config under `dir` and spawns portico on it (it does not wait for readiness). */
export async function startReplica(spec: FleetSpec, name: string, dir: string, ports?: Pick<Replica, 'https' | 'http' | 'admin'>): Promise<Replica> {
  await mkdir(dir, { recursive: true });
  const p = ports ?? { https: await freePort(), http: await freePort(), admin: await freePort() };
  await writeFile(join(dir, 'config.toml'), replicaConfig(spec, p, join(dir, 'state')));
  return { name, dir, ...p, proc: spawnPortico(['run', '--config', join(dir, 'config.toml')]) };
}

/** balance puts HAProxy on pebble's validation ports in front of the replicas (PROXY v2 from BALANCER). */
export function balance(pebble: Pebble, replicas: Array<Pick<Replica, 'https' | 'http'>>): Promise<Haproxy> {
  return startHaproxy([
    { name: 'https', port: pebble.tlsPort, servers: replicas.map((r) => `127.0.0.1:${r.https}`), proxy: 'v2', source: BALANCER, check: true },
    { name: 'http', port: pebble.httpPort, servers: replicas.map((r) => `127.0.0.1:${r.http}`), proxy: 'v2', source: BALANCER, check: true },
  ]);
}

/** stopReplica sends SIGTERM and waits for the exit. */
export async function stopReplica(r: Replica): Promise<void> {
  if (r.proc.child.exitCode === null && r.proc.child.signalCode === null) r.proc.child.kill('SIGTERM');
  await r.proc.exited;
}
