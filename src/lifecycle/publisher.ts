/**
 * SnapshotPublisher: owns the current Runtime and feeds the data plane(s) snapshots (DESIGN §1).
 * `swap(runtime)` makes a built runtime current in one step: start the new runtime's background work,
 * next version, `apply(snapshot)` on every data plane, retire the old one. Requests already in
 * flight finish on the state they started with; listeners are not touched.
 */
import type { Logger } from '../log.js';
import type { HealthUpdate, Snapshot } from '../proxy/snapshot.js';
import { newTicketKey } from '../tls/ticket-keys.js';
import type { Runtime } from './runtime.js';

/** SnapshotSink is anything that serves from snapshots: a DataPlane in-process, or an IPC link to one. */
export interface SnapshotSink {
  apply(snapshot: Snapshot): void;
  /** a health decision between snapshots (the next snapshot carries it too) */
  applyHealth(update: HealthUpdate): void;
}

/** SnapshotPublisher holds the current runtime and the data planes it feeds. */
export class SnapshotPublisher {
  private current: Runtime | null = null;
  private version = 0;
  private readonly sinks: SnapshotSink[] = [];
  /** TLS session-ticket key (48 bytes, base64) shared by every data plane so sessions resume on any worker */
  private ticketKey = newTicketKey();
  private rotation: NodeJS.Timeout | null = null;
  private rotationMs = 0;
  /** false while a fleet (storage.redis) supplies the key: useTicketKey, no timer of our own */
  private ownRotation = true;

  constructor(private readonly log: Logger) {}

  /** attach adds a data plane; it receives the current snapshot at once when there is one. */
  attach(sink: SnapshotSink): void {
    this.sinks.push(sink);
    if (this.current !== null) sink.apply(this.snapshotOf(this.current, this.version));
  }

  /** detach removes a data plane (a worker that exited). */
  detach(sink: SnapshotSink): void {
    const i = this.sinks.indexOf(sink);
    if (i !== -1) this.sinks.splice(i, 1);
  }

  /** currentSnapshot is the snapshot every data plane has (or is being sent); null before the first swap. */
  currentSnapshot(): Snapshot | null {
    return this.current === null ? null : this.snapshotOf(this.current, this.version);
  }

  private snapshotOf(runtime: Runtime, version: number): Snapshot {
    const s = runtime.snapshot(version);
    s.ticket_key = this.ticketKey;
    return s;
  }

  /** scheduleRotation (re)starts the ticket-key timer when the period changed (first swap, or a reload). */
  private scheduleRotation(ms: number): void {
    if (!this.ownRotation) return;
    if (this.rotation !== null && this.rotationMs === ms) return;
    if (this.rotation !== null) clearInterval(this.rotation);
    this.rotationMs = ms;
    this.rotation = setInterval(() => this.rotateTicketKey(), ms);
    this.rotation.unref();
  }

  /**
   * rotateTicketKey replaces the session-ticket key on every data plane (on a timer from the first
   * swap): sessions resumed with the old key do a full handshake once, which bounds what a leaked key exposes.
   */
  rotateTicketKey(): void {
    this.ticketKey = newTicketKey();
    this.log.info({}, 'tls session-ticket key rotated');
    this.publish();
  }

  /**
   * useTicketKey installs a key the fleet shares (lifecycle/fleet.ts) and stops this publisher's own
   * rotation: from now on the fleet rotates it. The same key again changes nothing.
   */
  useTicketKey(base64: string): void {
    this.ownRotation = false;
    if (this.rotation !== null) clearInterval(this.rotation);
    this.rotation = null;
    if (base64 === '' || base64 === this.ticketKey) return;
    this.ticketKey = base64;
    this.publish();
  }

  /** runtime is the current runtime (null before the first swap). */
  get runtime(): Runtime | null {
    return this.current;
  }

  /** snapshotVersion is the version last applied. */
  get snapshotVersion(): number {
    return this.version;
  }

  /** swap makes `next` current and retires the previous runtime; returns the previous one. */
  swap(next: Runtime): Runtime | null {
    const old = this.current;
    this.current = next;
    // start first: the new runtime's routes join the health registry (state of unchanged upstreams is
    // kept, policies updated), so the snapshot carries health as the new config sees it; a publish
    // from its start (a certificate ready at once) already sends the new runtime's snapshot
    next.start(() => this.publish());
    this.scheduleRotation(next.config.tls.ticket_key_rotation);
    const snapshot = this.snapshotOf(next, this.version + 1);
    for (const sink of this.sinks) sink.apply(snapshot);
    this.version = snapshot.version;
    old?.retire();
    this.log.info({ version: this.version, routes: snapshot.routes.length }, 'runtime swapped');
    return old;
  }

  /** publish re-sends the current runtime's snapshot under a new version (e.g. after a certificate change). */
  publish(): void {
    if (this.current === null) return;
    const snapshot = this.snapshotOf(this.current, this.version + 1);
    for (const sink of this.sinks) sink.apply(snapshot);
    this.version = snapshot.version;
  }

  /** health forwards a health decision to every data plane. */
  health(update: HealthUpdate): void {
    for (const sink of this.sinks) sink.applyHealth(update);
  }

  /** stop retires the current runtime (shutdown). */
  stop(): void {
    if (this.rotation !== null) clearInterval(this.rotation);
    this.rotation = null;
    this.current?.retire();
    this.current = null;
  }
}
