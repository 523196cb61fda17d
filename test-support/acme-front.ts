/**
 * AcmeFront: a real HTTPS ACME directory in front of pebble, for what pebble 2.4 lacks (issue 27):
 * **profiles** (draft-ietf-acme-profiles: pebble's directory has no `meta.profiles`, and it ignores
 * a `profile` in newOrder). The front lists the profiles it is given in the directory, refuses a
 * newOrder naming another one (`invalidProfile`, as a CA does), and passes everything else to pebble
 * unchanged — the Host header too, so the URLs pebble puts in its answers (and the JWS `url` it
 * checks) are the front's. Certificates are pebble's, validated by pebble.
 *
 * It also records every request with its decoded JWS payload (`requests`), and can hold certificate
 * downloads (`holdCertificates`), so a test can stop portico between finalize and download.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { makeCertificate } from '../src/cert-sources/self-signed.js';
import type { Pebble } from './pebble.js';

/** FrontRequest is one request the front saw. */
export interface FrontRequest {
  method: string;
  path: string;
  /** the JWS payload, decoded (null for POST-as-GET and non-JWS requests) */
  payload: Record<string, unknown> | null;
  status?: number;
}

/** AcmeFront is a running front. */
export interface AcmeFront {
  directoryUrl: string;
  /** PEM of the front's TLS certificate (its own; give it as acme.ca_bundle) */
  tlsCa: string;
  tlsCaFile: string;
  requests: FrontRequest[];
  /** newOrder payloads seen */
  orders(): Array<Record<string, unknown>>;
  /** park certificate downloads until `release()` (or let them through again with false) */
  holdCertificates(on: boolean): void;
  /** let the parked downloads through */
  release(): void;
  close(): Promise<void>;
}

/** AcmeFrontOptions: the profiles to list (name → description); none: the directory is pebble's own. */
export interface AcmeFrontOptions {
  profiles?: Record<string, string>;
}

function decodePayload(body: string): Record<string, unknown> | null {
  try {
    const jws = JSON.parse(body) as { payload?: string };
    if (!jws.payload) return null;
    return JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** startAcmeFront starts a front for a running pebble. */
export async function startAcmeFront(pebble: Pebble, dir: string, o: AcmeFrontOptions = {}): Promise<AcmeFront> {
  const own = await makeCertificate({ commonName: 'localhost', names: ['127.0.0.1', 'localhost'], days: 2 });
  const agent = new https.Agent({ ca: pebble.tlsCa, keepAlive: true });
  const requests: FrontRequest[] = [];
  let hold = false;
  let parked: Array<() => void> = [];
  const server = https.createServer({ cert: own.cert, key: own.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = req.url ?? '/';
      const rec: FrontRequest = { method: req.method ?? '', path, payload: req.method === 'POST' ? decodePayload(body.toString()) : null };
      requests.push(rec);
      if (path.startsWith('/order-plz') && o.profiles && rec.payload) {
        const profile = rec.payload.profile;
        if (typeof profile === 'string' && !(profile in o.profiles)) {
          rec.status = 400;
          res.writeHead(400, { 'content-type': 'application/problem+json', 'replay-nonce': randomBytes(12).toString('base64url') })
            .end(JSON.stringify({ type: 'urn:ietf:params:acme:error:invalidProfile', detail: `profile ${JSON.stringify(profile)} is not offered (front)` }));
          return;
        }
      }
      const forward = () => {
        const up = https.request(`https://127.0.0.1:${pebble.acmePort}${path}`, { method: req.method, headers: req.headers, agent }, (ur) => {
          rec.status = ur.statusCode;
          const parts: Buffer[] = [];
          ur.on('data', (c: Buffer) => parts.push(c));
          ur.on('end', () => {
            let out = Buffer.concat(parts);
            const headers = { ...ur.headers };
            if (path === '/dir' && o.profiles && ur.statusCode === 200) {
              const d = JSON.parse(out.toString()) as { meta?: Record<string, unknown> };
              d.meta = { ...d.meta, profiles: o.profiles };
              out = Buffer.from(JSON.stringify(d));
            }
            delete headers['content-length'];
            delete headers['transfer-encoding'];
            res.writeHead(ur.statusCode ?? 502, { ...headers, 'content-length': out.length }).end(out);
          });
        });
        up.on('error', (err) => res.writeHead(502).end(err.message));
        up.end(body);
      };
      if (hold && path.startsWith('/certZ/')) parked.push(forward);
      else forward();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const tlsCaFile = join(dir, `front-ca-${port}.pem`);
  writeFileSync(tlsCaFile, own.cert);
  const release = () => {
    const go = parked;
    parked = [];
    for (const f of go) f();
  };
  return {
    directoryUrl: `https://127.0.0.1:${port}/dir`,
    tlsCa: own.cert,
    tlsCaFile,
    requests,
    orders: () => requests.filter((r) => r.path.startsWith('/order-plz') && r.payload !== null).map((r) => r.payload!),
    holdCertificates: (on) => {
      hold = on;
      if (!on) release();
    },
    release,
    close: () => new Promise((r) => {
      release();
      agent.destroy();
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
