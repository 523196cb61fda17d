/**
 * A small fake ACME directory (HTTPS on 127.0.0.1:0) for what pebble 2.4 cannot do: rate limiting
 * (429 + Retry-After) and ACME Renewal Information (RFC 9773 `renewalInfo`). It answers the
 * directory, nonces, newAccount (per `newAccount`) and renewalInfo (per `renewalInfo`); every other
 * request gets a 404 problem. `hits` records each request.
 */
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import type { Issuer, IssueRequest } from '../src/acme/issuer.js';
import { makeCertificate } from '../src/cert-sources/self-signed.js';
import { createLogger, type Logger } from '../src/log.js';

/** Answer is a canned HTTP answer. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** FakeAcmeOptions choose the behaviour. */
export interface FakeAcmeOptions {
  /** answer to POST newAccount (default 429 rateLimited, Retry-After 120) */
  newAccount?: () => Answer;
  /** when set, the directory offers renewalInfo and this answers GET renewalInfo/<certId> */
  renewalInfo?: (certId: string) => Answer;
}

/** FakeAcme is a running fake directory. */
export interface FakeAcme {
  directoryUrl: string;
  /** PEM of its TLS certificate (give it as the issuer's caBundle) */
  tlsCa: string;
  hits: Array<{ method: string; path: string }>;
  close(): Promise<void>;
}

/** startFakeAcme starts the fake directory. */
export async function startFakeAcme(o: FakeAcmeOptions = {}): Promise<FakeAcme> {
  const own = await makeCertificate({ commonName: 'localhost', names: ['127.0.0.1'], days: 2 });
  const hits: FakeAcme['hits'] = [];
  let base = '';
  const send = (res: import('node:http').ServerResponse, a: Answer) => {
    const body = a.body === undefined ? '' : JSON.stringify(a.body);
    const type = a.status >= 400 ? 'application/problem+json' : 'application/json';
    res.writeHead(a.status, { 'content-type': type, 'replay-nonce': randomBytes(8).toString('hex'), ...a.headers }).end(body);
  };
  const server = https.createServer({ cert: own.cert, key: own.key }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hits.push({ method: req.method ?? '', path });
    req.resume();
    if (path === '/dir') {
      return send(res, { status: 200, body: {
        newNonce: `${base}/nonce`, newAccount: `${base}/new-account`, newOrder: `${base}/new-order`,
        ...(o.renewalInfo ? { renewalInfo: `${base}/renewal-info` } : {}),
      } });
    }
    if (path === '/nonce') return send(res, { status: 200 });
    if (path === '/new-account' && req.method === 'POST') {
      return send(res, o.newAccount?.() ?? {
        status: 429, headers: { 'retry-after': '120' },
        body: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many new accounts (fake)' },
      });
    }
    if (path.startsWith('/renewal-info/') && o.renewalInfo) return send(res, o.renewalInfo(path.slice('/renewal-info/'.length)));
    send(res, { status: 404, body: { type: 'urn:ietf:params:acme:error:malformed', detail: `no such resource ${path}` } });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    directoryUrl: `${base}/dir`, tlsCa: own.cert, hits,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** captureLogger is a JSON logger whose parsed lines land in `lines`. */
export function captureLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new PassThrough();
  let partial = '';
  sink.on('data', (c: Buffer) => {
    const parts = (partial + c.toString()).split('\n');
    partial = parts.pop()!;
    for (const l of parts) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  return { log: createLogger({ level: 'debug', format: 'json', destination: sink }), lines };
}

/** FakeIssuer is an ACME manager's issuer without a CA: `issue` records the request and answers with `result` (no ARI). */
export class FakeIssuer implements Issuer {
  calls: IssueRequest[] = [];
  constructor(private readonly result: (req: IssueRequest) => Promise<{ cert: string; key: string }>) {}
  async issue(req: IssueRequest) {
    this.calls.push(req);
    return { ...(await this.result(req)), challenge: 'http-01' as const };
  }
  async renewalInfo() {
    return null;
  }
  certId() {
    return null;
  }
}
