/** startBackend: a real upstream HTTP server on 127.0.0.1:0 that counts accepted connections. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Backend is a running test upstream. */
export interface Backend {
  server: http.Server;
  port: number;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** TCP connections accepted so far */
  accepted: number;
  /** requests seen so far (method, url, headers), health probes not included */
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }>;
  /** portico's health probes seen so far (user-agent portico-health/…): url, status answered (0 until
   * the answer is written), when the request arrived (epoch ms) */
  probes: Array<{ url: string; status: number; at: number }>;
  close(): Promise<void>;
}

/** Handler answers one request; the default answers 200 with the backend's name. */
export type BackendHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

/** startBackend starts an upstream named `name` (it sets `x-upstream: name` by default). */
export async function startBackend(name = 'b', handler?: BackendHandler): Promise<Backend> {
  const b = { accepted: 0, requests: [], probes: [] } as unknown as Backend;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      if (req.headers['user-agent']?.startsWith('portico-health/')) {
        const probe = { url: req.url ?? '', status: 0, at: Date.now() };
        b.probes.push(probe);
        res.once('finish', () => (probe.status = res.statusCode));
      } else {
        b.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      }
      if (handler) return handler(req, res, body);
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
      res.end(`${name}\n`);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', () => b.accepted++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  Object.assign(b, {
    server,
    port,
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
  return b;
}

/** Ports handed out by freePort in this process (never twice). */
const handedOut = new Set<number>();

/**
 * freePort returns a port that was free a moment ago, for listeners whose port must be known up front
 * (pebble's validation ports, child processes, fixed listener addresses). It is chosen below Linux's
 * ephemeral range (32768+), so the outgoing connections of tests running in parallel cannot take it
 * between this check and the real bind.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const s = http.createServer();
      s.once('error', () => resolve(false));
      s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
    });
    if (!ok) continue;
    handedOut.add(port);
    return port;
  }
}
