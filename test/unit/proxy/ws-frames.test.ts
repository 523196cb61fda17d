// WebSocket frame boundary tracking over arbitrary chunk splits (small, 16-bit and 64-bit lengths,
// masked and unmasked), and the close frames portico injects.
import t from 'tap';
import { FrameTracker, closeFrame } from '../../../src/proxy/ws-frames.js';

/** frame builds one frame (FIN set) with `len` payload bytes. */
function frame(opcode: number, len: number, masked = false): Buffer {
  const ext = len < 126 ? Buffer.alloc(0) : len < 65536 ? Buffer.alloc(2) : Buffer.alloc(8);
  if (len >= 126 && len < 65536) ext.writeUInt16BE(len);
  if (len >= 65536) ext.writeBigUInt64BE(BigInt(len));
  const b1 = (masked ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127);
  return Buffer.concat([Buffer.from([0x80 | opcode, b1]), ext, masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0), Buffer.alloc(len, 0x61)]);
}

t.test('boundaries are found whatever the chunking', async (t) => {
  const frames = [frame(1, 5), frame(2, 300), frame(2, 70_000), frame(9, 0), frame(1, 125, true), frame(2, 126, true), frame(8, 2)];
  const stream = Buffer.concat(frames);
  const ends: number[] = [];
  let pos = 0;
  for (const f of frames) ends.push((pos += f.length));
  for (const size of [1, 2, 3, 7, 13, 1000, stream.length]) {
    const ft = new FrameTracker();
    const seen: number[] = [];
    for (let off = 0; off < stream.length; off += size) {
      const chunk = stream.subarray(off, off + size);
      const mid = !ft.atBoundary;
      const b = ft.push(chunk);
      if (mid && b > 0) seen.push(off + b);
      if (ft.atBoundary) seen.push(off + chunk.length);
    }
    t.equal(ft.frames, frames.length, `chunks of ${size}: every frame counted`);
    t.ok(ft.atBoundary, `chunks of ${size}: ends at a boundary`);
    t.ok(ft.sawClose, 'the close frame was seen');
    for (const s of seen) t.ok(ends.includes(s), `chunks of ${size}: ${s} is a real boundary`);
  }
});

t.test('push reports the first boundary inside a chunk, or -1 mid-frame', async (t) => {
  const ft = new FrameTracker();
  const big = frame(2, 1000);
  t.equal(ft.push(big.subarray(0, 500)), 0, 'starting at a boundary: 0');
  t.equal(ft.push(big.subarray(500, 900)), -1, 'still inside the frame');
  const rest = Buffer.concat([big.subarray(900), frame(1, 3)]);
  t.equal(ft.push(rest), big.length - 900, 'the frame ends after its remaining bytes');
  t.ok(ft.atBoundary);
  t.equal(ft.frames, 2);
  t.equal(ft.opcode, 1);
});

t.test('close frames: 1001 with a reason, masked towards the server', async (t) => {
  const plain = closeFrame(1001, 'going away', false);
  t.equal(plain[0], 0x88, 'FIN + close');
  t.equal(plain[1], 12, 'unmasked, 2 + 10 bytes');
  t.equal(plain.readUInt16BE(2), 1001);
  t.equal(plain.subarray(4).toString(), 'going away');
  const masked = closeFrame(1001, 'going away', true);
  t.equal(masked[1], 0x80 | 12, 'masked');
  const mask = masked.subarray(2, 6);
  const payload = Buffer.from(masked.subarray(6).map((b, i) => b ^ mask[i % 4]!));
  t.equal(payload.readUInt16BE(0), 1001);
  t.equal(payload.subarray(2).toString(), 'going away');
  const ft = new FrameTracker();
  ft.push(masked);
  t.ok(ft.atBoundary && ft.sawClose, 'a tracker parses what portico sends');
});
