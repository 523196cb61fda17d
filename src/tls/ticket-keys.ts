/**
 * Session-ticket keys and the listeners' own TLS settings (DESIGN §1).
 *
 * The control plane makes the key (`newTicketKey`) and rotates it; every data-plane process installs
 * the same key on its listeners (`TicketKeys`), so a session resumes on any of them. OpenSSL uses the
 * listener's key also for connections whose SNI picked another context. The listener's default
 * context is also what clients without SNI get: the no-SNI certificate.
 *
 * Renewal (issue 26): with Node's own ticket handling, a resumed TLS 1.3 connection gets no new
 * ticket, and clients that use a ticket once (OpenSSL's, so curl, wrk, most HTTP libraries) then make
 * a full handshake every second connection. Where Node has its (undocumented) ticket-key callback —
 * `SecureContext.enableTicketKeyCallback()` with `onticketkeycallback`, as Node's own test
 * test-https-resume-after-renew uses it — portico encrypts and decrypts tickets itself and answers
 * "renew" for every ticket it accepts, so each resumed connection gets a fresh ticket. It also accepts
 * tickets of the previous key after a rotation (renewing them under the new one), so a rotation no
 * longer turns every client's next connection into a full handshake. Without the callback, the keys
 * go to `setTicketKeys` as before. Measured in docs/performance.md ("TLS session tickets"): renewal
 * pays with RSA certificates only, so `setRenew` (tls/sni.ts: some served certificate is RSA) turns it on.
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

/** newTicketKey makes a session-ticket key (48 bytes: name, HMAC and AES keys), base64. */
export function newTicketKey(): string {
  return randomBytes(48).toString('base64');
}

/** TicketKey is one 48-byte key split as OpenSSL uses it: a 16-byte name, HMAC-SHA256 and AES-128-CBC keys. */
interface TicketKey {
  name: Buffer;
  hmac: Buffer;
  aes: Buffer;
}

/** NativeContext is the part of Node's native SecureContext the ticket-key callback needs (undocumented). */
interface NativeContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => unknown[];
}

/** OpenSSL's answers to a ticket decryption: not ours (full handshake), accepted, accepted and renewed. */
const UNKNOWN = 0;
const RENEW = 2;
/** ACCEPTED encrypts a new ticket (the answer when encrypting). */
const ACCEPTED = 1;

/** nativeContext is a listener's default native SecureContext, or null (a Node without it). */
function nativeContext(server: tls.Server): NativeContext | null {
  const creds = (server as unknown as { _sharedCreds?: { context?: NativeContext } })._sharedCreds;
  return creds?.context ?? null;
}

/** ticketRenewalSupported: this Node has the ticket-key callback portico renews tickets with. */
export function ticketRenewalSupported(server: tls.Server): boolean {
  return typeof nativeContext(server)?.enableTicketKeyCallback === 'function';
}

/** TicketKeys keeps the no-SNI certificate and the ticket keys installed on every attached listener. */
export class TicketKeys {
  private readonly servers: tls.Server[] = [];
  private noSni: { cert: string; key: string } | null = null;
  private noSniVersion: tls.SecureVersion | null = null;
  private key: Buffer | null = null;
  private keyText = '';
  /** the current key and the one before it (tickets of either are accepted; new ones use the current) */
  private current: TicketKey | null = null;
  private previous: TicketKey | null = null;
  /** a fixed key for an unknown ticket's answer (OpenSSL needs HMAC/AES keys even when it drops the ticket) */
  private readonly dummy = randomBytes(16);
  /** renew tickets through the callback (see setRenew) */
  private renew = true;

  /** attach installs the current settings on a listener and keeps it up to date. */
  attach(server: tls.Server): void {
    this.servers.push(server);
    this.install(server);
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
    this.previous = this.current;
    this.current = { name: this.key.subarray(0, 16), hmac: this.key.subarray(16, 32), aes: this.key.subarray(32, 48) };
    for (const server of this.servers) this.installKeys(server);
  }

  /** setNoSni installs the certificate for clients without SNI (a new default context keeps the ticket key). */
  setNoSni(pems: { cert: string; key: string }, minVersion: tls.SecureVersion): void {
    if (this.noSni !== null && this.noSni.cert === pems.cert && this.noSni.key === pems.key && this.noSniVersion === minVersion) return;
    this.noSni = pems;
    this.noSniVersion = minVersion;
    for (const server of this.servers) this.install(server);
  }

  /**
   * setRenew turns ticket renewal on or off (measured, docs/performance.md "TLS session tickets": it
   * pays with RSA certificates, a quarter less CPU per new connection, and costs 10-19 % with P-256
   * ones). Off, a listener gets a new default context with Node's own ticket handling.
   */
  setRenew(renew: boolean): void {
    if (renew === this.renew) return;
    this.renew = renew;
    if (this.noSni !== null) for (const server of this.servers) this.install(server);
  }

  /** install gives a listener a new default context (the no-SNI certificate, when known) and the ticket keys on it. */
  private install(server: tls.Server): void {
    if (this.noSni !== null && this.noSniVersion !== null) server.setSecureContext({ ...this.noSni, ...tlsOptions(this.noSniVersion), sessionIdContext: SESSION_ID_CONTEXT });
    this.installKeys(server);
  }

  /**
   * installKeys puts the keys on a listener's default context (the one OpenSSL takes ticket keys
   * from, whatever context SNI picks): the renewing callback where Node has it, else setTicketKeys.
   * A context replaced by setSecureContext needs it again.
   */
  private installKeys(server: tls.Server): void {
    if (this.key === null) return;
    const ctx = nativeContext(server);
    if (!this.renew || ctx === null || typeof ctx.enableTicketKeyCallback !== 'function') {
      server.setTicketKeys(this.key);
      return;
    }
    if (ctx.onticketkeycallback !== this.onTicketKey) {
      ctx.enableTicketKeyCallback();
      ctx.onticketkeycallback = this.onTicketKey;
    }
  }

  /**
   * onTicketKey is OpenSSL's ticket-key callback (through Node): to encrypt, the current key and a
   * fresh IV; to decrypt, the key the ticket names (current or previous) with "renew", else "unknown"
   * (a full handshake). Returns Node's array form: [result, hmac, aes(, name, iv)].
   */
  private readonly onTicketKey = (name: Buffer, _iv: Buffer, encrypt: boolean): unknown[] => {
    const cur = this.current!;
    if (encrypt) return [ACCEPTED, cur.hmac, cur.aes, cur.name, randomBytes(16)];
    for (const k of [cur, this.previous]) if (k !== null && name.equals(k.name)) return [RENEW, k.hmac, k.aes];
    return [UNKNOWN, this.dummy, this.dummy];
  };
}
