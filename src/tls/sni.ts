/**
 * Sni: the data plane's TLS side of one process, built from the snapshots (DESIGN §6).
 *
 * - `sniCallback` picks a handshake's certificate by SNI from the cert store (exact, wildcard,
 *   default); names refused by the control plane (`tls.self_signed = false`, no certificate) fail
 *   the handshake; with on-demand TLS on, a name with no certificate waits (up to 10 s) for the
 *   control plane to obtain one (on-demand.ts), else gets the default;
 * - `acmeSniCallback` answers an `acme-tls/1` handshake with the RFC 8737 challenge certificate:
 *   from the snapshot, else asked of the control plane (another process may have written it); a CA
 *   validating an IP address sends its reverse-DNS name (RFC 8738 §6); such handshakes never start
 *   on-demand questions;
 * - `misdirected` tells whether the certificate a connection's SNI picked covers a request's host (421);
 * - listeners attached here serve the no-SNI certificate (IP clients) and the shared session-ticket key.
 */
import tls from 'node:tls';
import type { Logger } from '../log.js';
import { CertStore, tlsOptions, type CertPems } from './cert-store.js';
import { ipFromReverseName, orderableName } from './names.js';
import { OnDemandHandshakes } from './on-demand.js';
import { keyTypeOf } from './key-types.js';
import { TicketKeys } from './ticket-keys.js';

/** Pems is a certificate chain and its key. */
export interface Pems {
  cert: string;
  key: string;
}

/**
 * ChallengeLookup is how the data plane asks its control plane for an ACME challenge answer that is
 * not in its snapshot (written by another process sharing the storage, or newer than the snapshot).
 */
export interface ChallengeLookup {
  httpToken(token: string): Promise<string | null>;
  alpnCertificate(name: string): Promise<Pems | null>;
  /** on-demand TLS: the certificate for a name no route lists (obtained if the ask endpoint approves); null when none */
  onDemandCertificate?(name: string): Promise<Pems | null>;
}

/** SniSnapshot is the part of a snapshot the TLS side serves. */
export interface SniSnapshot {
  minVersion: tls.SecureVersion;
  certificates: readonly CertPems[];
  defaultCertificate: Pems;
  /** served to clients that send no SNI */
  noSniCertificate: Pems;
  /** routed names whose handshakes fail */
  refusedNames: readonly string[];
  /** RFC 8737 challenge certificates by name */
  alpn: ReadonlyMap<string, Pems>;
  /** the session-ticket key (base64; '' = none yet) */
  ticketKey: string;
  /** on-demand TLS is on (names without a certificate ask the control plane) */
  onDemand?: boolean;
}

type Callback = (err: Error | null, ctx?: tls.SecureContext) => void;

/** ALPN_CACHE: challenge contexts kept (a CA validates a few names at a time). */
const ALPN_CACHE = 64;

/** Sni holds the certificates of one data plane and answers its listeners' SNI callbacks. */
export class Sni {
  private certs: CertStore | null = null;
  private minVersion: tls.SecureVersion | null = null;
  private refused: ReadonlySet<string> = new Set();
  private alpn: ReadonlyMap<string, Pems> = new Map();
  private readonly alpnContexts = new Map<string, { cert: string; ctx: tls.SecureContext }>();
  private onDemandOn = false;
  private rsaByCert = new Map<string, boolean>();
  /** on-demand handshakes (null when the control plane cannot be asked) */
  readonly onDemand: OnDemandHandshakes | null;
  /** the listeners' own settings: no-SNI certificate and ticket key */
  readonly listeners = new TicketKeys();

  constructor(
    private readonly log: Logger,
    private readonly challenges: ChallengeLookup | null,
  ) {
    const ask = challenges?.onDemandCertificate?.bind(challenges);
    this.onDemand = ask === undefined ? null : new OnDemandHandshakes(ask);
  }

  /** apply installs a snapshot's certificates (contexts of unchanged certificates are reused). */
  apply(s: SniSnapshot): void {
    if (this.certs === null || this.minVersion !== s.minVersion) {
      this.certs = new CertStore(s.defaultCertificate, { minVersion: s.minVersion });
      this.minVersion = s.minVersion;
    }
    this.certs.replace(s.certificates, s.defaultCertificate);
    this.refused = new Set(s.refusedNames);
    this.alpn = s.alpn;
    if (this.onDemandOn !== (s.onDemand === true)) this.onDemand?.clear();
    this.onDemandOn = s.onDemand === true;
    this.listeners.setRenew(this.anyRsa([s.noSniCertificate, ...s.certificates]));
    this.listeners.setNoSni(s.noSniCertificate, s.minVersion);
    this.listeners.setTicketKey(s.ticketKey);
  }

  /** anyRsa: some certificate's key is RSA (each certificate parsed once: snapshots repeat them). */
  private anyRsa(certs: readonly { cert: string }[]): boolean {
    const known = new Map<string, boolean>();
    for (const { cert } of certs) known.set(cert, this.rsaByCert.get(cert) ?? keyTypeOf(cert) === 'rsa');
    this.rsaByCert = known;
    return [...known.values()].some(Boolean);
  }

  /** sniCallback picks the certificate for a handshake; refused names fail it (unrecognized_name). */
  readonly sniCallback = (servername: string, cb: Callback): void => {
    const certs = this.certs;
    if (certs === null) return cb(new Error('no certificates loaded'));
    if (servername && this.refused.has(servername.toLowerCase())) return cb(new Error(`no certificate for ${servername}`));
    const ctx = certs.lookup(servername);
    if (ctx !== certs.defaultContext || !this.onDemandOn || this.onDemand === null || !servername) return cb(null, ctx);
    const name = servername.toLowerCase();
    if (!orderableName(name)) return cb(null, ctx);
    this.onDemand.get(
      name,
      (p) => cb(null, p === null ? this.certs!.defaultContext : this.certs!.add(name, p)),
      (n, p) => this.certs!.add(n, p),
    );
  };

  /** misdirected: the certificate SNI picked for a connection does not cover `host` (→ 421). */
  misdirected(servername: string, host: string): boolean {
    const certs = this.certs;
    return certs !== null && !certs.covers(servername, host);
  }

  /** acmeSniCallback picks the RFC 8737 certificate for an acme-tls/1 handshake; no challenge → the handshake fails. */
  readonly acmeSniCallback = (servername: string, cb: Callback): void => {
    const sni = (servername ?? '').toLowerCase();
    const name = ipFromReverseName(sni) ?? sni;
    const pems = this.alpn.get(name);
    if (pems !== undefined) return this.answerAlpn(name, pems, 'snapshot', cb);
    if (this.challenges === null) return this.answerAlpn(name, null, '', cb);
    this.challenges.alpnCertificate(sni).then((p) => this.answerAlpn(name, p, 'storage', cb), (err: Error) => cb(err));
  };

  private answerAlpn(name: string, p: Pems | null, source: string, cb: Callback): void {
    if (p === null) return cb(new Error(`no ACME tls-alpn-01 challenge for ${name}`));
    let ctx: tls.SecureContext;
    try {
      ctx = this.alpnContext(name, p);
    } catch (err) {
      // a bad challenge certificate (from storage) fails this handshake, never the process
      this.log.error({ name, source, err: (err as Error).message }, 'acme tls-alpn-01 challenge certificate unusable');
      return cb(err as Error);
    }
    this.log.info({ name, source }, 'acme tls-alpn-01 challenge answered');
    cb(null, ctx);
  }

  private alpnContext(name: string, p: Pems): tls.SecureContext {
    const cached = this.alpnContexts.get(name);
    if (cached !== undefined && cached.cert === p.cert) return cached.ctx;
    const ctx = tls.createSecureContext({ cert: p.cert, key: p.key, ...tlsOptions('TLSv1.2') });
    this.alpnContexts.set(name, { cert: p.cert, ctx });
    if (this.alpnContexts.size > ALPN_CACHE) this.alpnContexts.delete(this.alpnContexts.keys().next().value!);
    return ctx;
  }
}
