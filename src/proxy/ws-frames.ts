/**
 * WebSocket frame boundaries (RFC 6455 §5.2), tracked on a byte stream without copying payloads, so
 * a proxy can end a tunnel with a close frame of its own between two frames instead of cutting one in
 * half. Leaf module: no I/O.
 */

/** CLOSE_GOING_AWAY is status 1001: the endpoint is going away (server shutdown, route removed). */
export const CLOSE_GOING_AWAY = 1001;

const enum Phase {
  Head, // reading the 2..14 byte frame header
  Payload, // skipping payload bytes
}

/** FrameTracker follows frame headers across arbitrary chunk splits. */
export class FrameTracker {
  private phase = Phase.Head;
  private header: number[] = [];
  private need = 2;
  private left = 0;
  /** opcode of the last frame whose header was read */
  opcode = -1;
  /** frames fully seen so far */
  frames = 0;
  /** a close frame (opcode 8) was fully seen */
  sawClose = false;

  /** atBoundary: every byte seen so far belongs to complete frames. */
  get atBoundary(): boolean {
    return this.phase === Phase.Head && this.header.length === 0;
  }

  /**
   * push feeds the next bytes; it returns how many of them complete the frame in progress at the
   * moment of the call (0 when already at a boundary), i.e. where the first boundary in `chunk` lies,
   * or -1 if the chunk ends inside that frame.
   */
  push(chunk: Uint8Array): number {
    let firstBoundary = this.atBoundary ? 0 : -1;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.phase === Phase.Payload) {
        const take = Math.min(this.left, n - i);
        this.left -= take;
        i += take;
        if (this.left === 0) {
          this.endFrame();
          if (firstBoundary === -1) firstBoundary = i;
        }
        continue;
      }
      this.header.push(chunk[i++]!);
      if (this.header.length === 2) this.need = 2 + extendedLength(this.header[1]!) + (this.header[1]! & 0x80 ? 4 : 0);
      if (this.header.length < this.need) continue;
      this.left = payloadLength(this.header);
      this.opcode = this.header[0]! & 0x0f;
      this.header = [];
      this.need = 2;
      if (this.left === 0) {
        this.endFrame();
        if (firstBoundary === -1) firstBoundary = i;
      } else {
        this.phase = Phase.Payload;
      }
    }
    return firstBoundary;
  }

  private endFrame(): void {
    this.phase = Phase.Head;
    this.frames++;
    if (this.opcode === 8) this.sawClose = true;
  }
}

/** extendedLength: bytes of extended payload length after the 7-bit length field. */
function extendedLength(b1: number): number {
  const len = b1 & 0x7f;
  return len === 126 ? 2 : len === 127 ? 8 : 0;
}

/** payloadLength reads the payload length from a complete header. */
function payloadLength(h: number[]): number {
  const len = h[1]! & 0x7f;
  if (len < 126) return len;
  if (len === 126) return (h[2]! << 8) | h[3]!;
  let v = 0;
  for (let i = 2; i < 10; i++) v = v * 256 + h[i]!;
  return v;
}

/**
 * closeFrame builds a close frame with a status code and reason; `masked` for frames sent towards
 * the server (RFC 6455 §5.3: client-to-server frames are masked).
 */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const text = Buffer.from(reason.slice(0, 120));
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  const head = Buffer.from([0x88, (masked ? 0x80 : 0) | payload.length]);
  if (!masked) return Buffer.concat([head, payload]);
  const mask = Buffer.from([Math.random() * 256, Math.random() * 256, Math.random() * 256, Math.random() * 256].map(Math.floor));
  for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, payload]);
}
