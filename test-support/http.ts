/**
 * Plain-HTTP and CLI helpers for integration tests: one buffered HTTP request (redirect and admin
 * listeners), a raw TCP exchange (requests Node's client cannot send, like HTTP/1.0 without Host),
 * a connect attempt that reports the error code, and `runCli` for the short-lived CLI commands.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { CLI } from './proxy.js';
import { bufferReply, type Reply } from './client.js';

/** HttpOptions for `httpRequest`. */
export interface HttpOptions {
  port: number;
  host?: string;
  path?: string;
  method?: string;
  /** sent as given; `host` defaults to Node's (127.0.0.1:PORT) unless set here */
  headers?: Record<string, string>;
  body?: string;
  /** the client's source address (a loopback alias such as 127.0.0.5) */
  localAddress?: string;
}

/** httpRequest sends one plain HTTP request (no keep-alive) and buffers the reply. */
export function httpRequest(o: HttpOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: o.host ?? '127.0.0.1', port: o.port, path: o.path ?? '/', method: o.method ?? 'GET', headers: o.headers, agent: false, timeout: 10_000, localAddress: o.localAddress },
      (res) => bufferReply(res, resolve, reject),
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** rawTcp connects, writes `data` verbatim, and resolves with everything read until the server closes. */
export function rawTcp(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(data));
    s.setTimeout(10_000, () => s.destroy(new Error('raw client timeout')));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => s.end());
    s.on('close', () => resolve(Buffer.concat(chunks).toString()));
    s.on('error', reject);
  });
}

/** connectError tries a TCP connection and resolves with the error code ('' when it connected). */
export function connectError(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.on('connect', () => {
      s.destroy();
      resolve('');
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** CliResult is a finished CLI invocation. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** runCli runs `node dist/cli.js ARGS` to completion (for check, health, --help…). */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: opts.cwd, env: { ...process.env, ...opts.env }, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as unknown as { code: number }).code) : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
