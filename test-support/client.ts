/** HTTPS test client helpers: one request with SNI and optional CA verification. */
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

/** Reply is a buffered response. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** the body's bytes (a compressed body, for instance) */
  raw?: Buffer;
}

/** RequestOptions for `get`/`request`. */
export interface RequestOptions {
  port: number;
  host?: string;
  /** SNI + Host header (default: host) */
  servername?: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** trust this CA and verify (otherwise no verification) */
  ca?: string;
  agent?: https.Agent | false;
  timeout?: number;
  /** the client's source address (a loopback alias such as 127.0.0.5) */
  localAddress?: string;
}

/** bufferReply collects a response into a Reply (shared by the HTTPS and plain-HTTP helpers). */
export function bufferReply(res: IncomingMessage, resolve: (r: Reply) => void, reject: (e: Error) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => {
    const raw = Buffer.concat(chunks);
    resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString(), raw });
  });
  res.on('error', reject);
}

/** request sends one HTTPS request and buffers the reply. */
export function request(o: RequestOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const servername = o.servername ?? 'localhost';
    const req = https.request(
      {
        host: o.host ?? '127.0.0.1',
        port: o.port,
        path: o.path ?? '/',
        method: o.method ?? 'GET',
        servername,
        headers: { host: `${servername}:${o.port}`, ...o.headers },
        ca: o.ca,
        rejectUnauthorized: o.ca !== undefined,
        agent: o.agent ?? false,
        timeout: o.timeout ?? 10_000,
        localAddress: o.localAddress,
      },
      (res) => bufferReply(res, resolve, reject),
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** rawTls opens a TLS socket, writes `data` verbatim, and resolves with everything read until close. */
export function rawTls(port: number, data: string | Buffer, opts: { servername?: string; timeout?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = tls.connect({ host: '127.0.0.1', port, servername: opts.servername ?? 'localhost', rejectUnauthorized: false }, () => s.write(data));
    s.setTimeout(opts.timeout ?? 10_000, () => s.destroy());
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks).toString()));
    s.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString()) : reject(err)));
  });
}

/** peerCertificate connects with SNI and returns the certificate the server presented. */
export function peerCertificate(port: number, servername: string | undefined, ca?: string): Promise<tls.DetailedPeerCertificate & { authorized: boolean; authError?: string }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, rejectUnauthorized: false }, () => {
      const cert = s.getPeerCertificate(true);
      resolve(Object.assign(cert, { authorized: s.authorized, authError: s.authorizationError?.toString() }));
      s.end();
    });
    s.on('error', reject);
  });
}

/** verifiedSerial handshakes with SNI `servername`, verifying against `ca`; resolves with the served certificate's serial, rejects when the handshake fails. */
export function verifiedSerial(port: number, servername: string, ca: string | string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, rejectUnauthorized: true }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.end();
      resolve(serial);
    });
    s.setTimeout(10_000, () => s.destroy(new Error('handshake timeout')));
    s.on('error', reject);
  });
}
