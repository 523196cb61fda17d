/**
 * WsTunnel: one upgraded (WebSocket) connection between a client and an upstream, with its frame
 * boundaries tracked in both directions so portico can end it cleanly: `goingAway()` stops relaying
 * at the next frame boundary of each direction and sends each side a close frame with status 1001
 * (the client's unmasked, the upstream's masked), then closes both sockets once the client answered
 * the close or after CLOSE_WAIT_MS. Used when the tunnel's route is removed or changed by a reload
 * (after server.shutdown_grace) and on shutdown.
 */
import type { Duplex } from 'node:stream';
import { CLOSE_GOING_AWAY, FrameTracker, closeFrame } from './ws-frames.js';

/** How long a closing tunnel waits for the client's close reply before cutting both sockets. */
export const CLOSE_WAIT_MS = 1000;

/** Direction relays one side's frames to the other and can stop at a boundary with a close frame. */
class Direction {
  readonly frames = new FrameTracker();
  private stopping = false;
  stopped = false;

  constructor(
    private readonly from: Duplex,
    private readonly to: Duplex,
    private readonly masked: boolean,
    private readonly reason: string,
    private readonly onStopped: () => void,
  ) {
    from.on('data', this.onData);
  }

  /** stop: relay up to the next frame boundary, then send the close frame instead of anything more. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.from.unpipe(this.to);
    this.from.resume();
    if (this.frames.atBoundary) this.inject();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.stopping) {
      this.frames.push(chunk);
      return;
    }
    if (this.stopped) {
      this.frames.push(chunk); // only watched (the client's close reply), never relayed
      if (this.frames.sawClose) this.onStopped();
      return;
    }
    const boundary = this.frames.push(chunk);
    if (boundary === -1) {
      this.to.write(chunk);
      return;
    }
    if (boundary > 0) this.to.write(chunk.subarray(0, boundary));
    this.inject();
  };

  private inject(): void {
    this.stopped = true;
    if (this.to.writable) this.to.write(closeFrame(CLOSE_GOING_AWAY, this.reason, this.masked));
    this.onStopped();
  }
}

/** WsTunnel tracks one upgraded connection for the data plane. */
export class WsTunnel {
  private readonly down: Direction;
  private readonly up: Direction;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;

  constructor(
    readonly client: Duplex,
    readonly upstreamSocket: Duplex,
    /** the route name, host and path it was opened on, and the upstream it went to */
    readonly route: string,
    readonly host: string,
    readonly path: string,
    readonly upstream: string,
  ) {
    const reason = 'portico: going away';
    this.down = new Direction(upstreamSocket, client, false, reason, this.check);
    this.up = new Direction(client, upstreamSocket, true, reason, this.check);
    client.once('close', this.cleanup);
    upstreamSocket.once('close', this.cleanup);
  }

  /** goingAway ends the tunnel with close frames (1001) at frame boundaries; sockets close shortly after. */
  goingAway(): void {
    if (this.closing) return;
    this.closing = true;
    this.down.stop();
    this.up.stop();
    this.timer = setTimeout(this.destroy, CLOSE_WAIT_MS);
    this.timer.unref();
  }

  /** destroy cuts both sockets at once. */
  readonly destroy = (): void => {
    this.client.destroy();
    this.upstreamSocket.destroy();
  };

  /** check ends the client socket once both close frames are out and the client answered its close. */
  private readonly check = (): void => {
    if (this.down.stopped && this.up.stopped && this.up.frames.sawClose) {
      this.client.end();
      this.upstreamSocket.end();
    }
  };

  private readonly cleanup = (): void => {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  };
}
