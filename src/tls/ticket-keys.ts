/**
 * Session-ticket keys and the listeners' own TLS settings (DESIGN §1).
 *
 * The control plane makes the key (`newTicketKey`) and rotates it; every data-plane process installs
 * the same key on its listeners (`TicketKeys`), so a session resumes on any of them. OpenSSL uses the
 * listener's key also for connections whose SNI picked another context. The listener's default
 * context is also what clients without SNI get: the no-SNI certificate.
 */
import { randomBytes } from 'node:crypto';
import type tls from 'node:tls';
import { tlsOptions } from './cert-store.js';

/**
 * SESSION_ID_CONTEXT is the listeners' TLS session id context, the same in every process and replica:
 * Node's default hashes the process's argv (another config path, another context), and OpenSSL
 * refuses to resume a session made under another context, whatever the ticket key (issue 25).
 */
export const SESSION_ID_CONTEXT = 'portico';

/** newTicketKey makes a session-ticket key (48 bytes: name, AES and HMAC keys), base64. */
export function newTicketKey(): string {
  return randomBytes(48).toString('base64');
}

/** TicketKeys keeps the no-SNI certificate and the ticket key installed on every attached listener. */
export class TicketKeys {
  private readonly servers: tls.Server[] = [];
  private noSni: { cert: string; key: string } | null = null;
  private noSniVersion: tls.SecureVersion | null = null;
  private key: Buffer | null = null;
  private keyText = '';

  /** attach installs the current settings on a listener and keeps it up to date. */
  attach(server: tls.Server): void {
    this.servers.push(server);
    if (this.noSni !== null && this.noSniVersion !== null) server.setSecureContext({ ...this.noSni, ...tlsOptions(this.noSniVersion), sessionIdContext: SESSION_ID_CONTEXT });
    if (this.key !== null) server.setTicketKeys(this.key);
  }

  /** detach forgets a closed listener. */
  detach(server: tls.Server): void {
    const i = this.servers.indexOf(server);
    if (i !== -1) this.servers.splice(i, 1);
  }

  /** setTicketKey installs a new key (base64) on every listener; '' or the same key changes nothing. */
  setTicketKey(base64: string): void {
    if (base64 === '' || base64 === this.keyText) return;
    this.keyText = base64;
    this.key = Buffer.from(base64, 'base64');
    for (const server of this.servers) server.setTicketKeys(this.key);
  }

  /** setNoSni installs the certificate for clients without SNI (a new default context keeps the ticket key). */
  setNoSni(pems: { cert: string; key: string }, minVersion: tls.SecureVersion): void {
    if (this.noSni !== null && this.noSni.cert === pems.cert && this.noSni.key === pems.key && this.noSniVersion === minVersion) return;
    this.noSni = pems;
    this.noSniVersion = minVersion;
    for (const server of this.servers) {
      server.setSecureContext({ ...pems, ...tlsOptions(minVersion), sessionIdContext: SESSION_ID_CONTEXT });
      if (this.key !== null) server.setTicketKeys(this.key);
    }
  }
}
