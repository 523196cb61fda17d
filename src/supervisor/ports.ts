/**
 * Ports of app workers on 127.0.0.1: whether one is free, when a worker accepts connections, and the
 * URL an upstream is known by.
 */
import net from 'node:net';

export function urlOf(port: number): string {
  return `http://127.0.0.1:${port}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** canBind tells whether 127.0.0.1:port is free right now. */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** waitAccepting resolves once 127.0.0.1:port accepts a TCP connection (polling; rejects on abort). */
export async function waitAccepting(port: number, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw signal.reason as Error;
}
