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

/** freePort returns a port that was free a moment ago (for child processes whose port must be known up front). */
export async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
