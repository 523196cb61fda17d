/**
 * PROXY protocol on a listener (`server.proxy_protocol`, DESIGN §4/§7): connections from the listed
 * balancers must start with a PROXY v1/v2 header (within the header timeout), whose source address
 * then is the connection's client address for everything after it — forwarding headers, the access
 * log, `trusted_proxies`, `admin.write_from` — because it replaces the socket's own `remoteAddress`,
 * `remotePort` and `remoteFamily`. A connection from a listed peer without a valid header is closed;
 * one from any other peer is served as is (a header from it fails the TLS handshake, or is refused
 * without an answer by the HTTP listeners' client-error handler: `looksLikeProxyHeader`).
 *
 * The admin listener watches with `optional`: there a listed peer may also connect without a header
 * and is then judged as itself (Kubernetes probes the admin port from the node's address, and the
 * `portico` CLI on a balancer's machine connects from it too; neither speaks PROXY). A header it does
 * send is read as on the other listeners.
 *
 * With an empty list nothing is installed: the listener's own `connection` handling runs as if this
 * module did not exist (no check per connection). `setProxyProtocol` installs, updates (reload) or
 * removes it.
 */
import type net from 'node:net';
import { isIPv6, type BlockList } from 'node:net';
import type tls from 'node:tls';
import type { Logger } from '../log.js';
import { blockListOf } from '../proxy/data-plane.js';
import { unwrapIp } from '../proxy/passes.js';
import { couldBeProxyHeader, parseProxyHeader, type ProxyClient } from './proxy-header.js';

/** ProxyProtocolSettings: the balancers' CIDRs ([] = off) and how long a header may take (ms). */
export interface ProxyProtocolSettings {
  from: readonly string[];
  timeoutMs: number;
}

type ConnectionListener = (this: net.Server, socket: net.Socket) => void;

interface State {
  log: Logger;
  /** the listener's own `connection` listeners (TLS wrapping, HTTP parsing), run after the header */
  own: ConnectionListener[] | null;
  key: string;
  from: BlockList | null;
  timeoutMs: number;
  /** a listed peer may send no header (the admin listener; see the file comment) */
  optional: boolean;
  /** connections still sending their header (cut with the listener's other connections at shutdown) */
  pending: Set<net.Socket>;
}

const STATE = new WeakMap<net.Server, State>();
/** the client a header named, on the raw socket (a TLS socket finds it on its `_parent`) */
const kClient = Symbol('portico.proxyClient');

/**
 * watchProxyProtocol registers a listener (and the logger for refused connections) before its first
 * setProxyProtocol; `optional`: a listed peer may connect without a header (the admin listener).
 */
export function watchProxyProtocol(server: net.Server, log: Logger, o: { optional?: boolean } = {}): void {
  if (!STATE.has(server)) STATE.set(server, { log, own: null, key: '[]', from: null, timeoutMs: 10_000, optional: o.optional === true, pending: new Set() });
}

/** setProxyProtocol applies settings to a listener (see the file comment); same settings change nothing. */
export function setProxyProtocol(server: net.Server, s: ProxyProtocolSettings): void {
  const st = STATE.get(server);
  if (st === undefined) throw new Error('portico bug: setProxyProtocol on a listener not watched');
  st.timeoutMs = s.timeoutMs;
  const key = JSON.stringify(s.from);
  if (key === st.key) return;
  st.key = key;
  st.from = blockListOf(s.from);
  if (st.from !== null && st.own === null) install(server, st);
  else if (st.from === null && st.own !== null) uninstall(server, st);
}

function install(server: net.Server, st: State): void {
  st.own = server.listeners('connection') as ConnectionListener[];
  server.removeAllListeners('connection');
  server.on('connection', onConnection);
  // a TLS listener: the TLS socket takes the client from the raw socket it wraps, before anything reads it
  if (isTls(server)) server.prependListener('secureConnection', adoptFromParent);
}

function uninstall(server: net.Server, st: State): void {
  server.removeListener('connection', onConnection);
  for (const l of st.own!) server.on('connection', l);
  st.own = null;
  if (isTls(server)) server.removeListener('secureConnection', adoptFromParent);
}

const isTls = (server: net.Server): boolean => typeof (server as tls.Server).setTicketKeys === 'function';

function handOver(server: net.Server, st: State, socket: net.Socket): void {
  for (const l of st.own!) l.call(server, socket);
}

/** onConnection: a listed peer must send a header first; anyone else goes straight to the listener. */
function onConnection(this: net.Server, socket: net.Socket): void {
  const st = STATE.get(this)!;
  const peer = unwrapIp(socket.remoteAddress);
  if (peer === '') {
    socket.destroy(); // already gone
    return;
  }
  if (st.own === null || st.from === null || !st.from.check(peer, isIPv6(peer) ? 'ipv6' : 'ipv4')) {
    if (st.own !== null) handOver(this, st, socket);
    return;
  }
  readHeader(this, st, socket, peer);
}

/** readHeader waits for the header; then the rest of the bytes go back to the socket and the listener takes it. */
function readHeader(server: net.Server, st: State, socket: net.Socket, peer: string): void {
  let buf: Buffer = Buffer.alloc(0);
  const refuse = (reason: string) => {
    cleanup();
    st.log.warn({ client_ip: peer, reason }, 'connection refused: no valid PROXY protocol header from a server.proxy_protocol peer');
    socket.destroy();
  };
  const timer = setTimeout(() => refuse(`no complete header within ${st.timeoutMs}ms`), st.timeoutMs);
  const onError = () => (cleanup(), socket.destroy());
  const onEnd = () => refuse('closed before a complete header');
  const onReadable = () => {
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (st.optional && !couldBeProxyHeader(buf)) {
        cleanup();
        socket.unshift(buf);
        if (st.own === null) return void socket.destroy();
        return handOver(server, st, socket); // no header: the peer is the client
      }
      const r = parseProxyHeader(buf);
      if (r.kind === 'more') continue;
      if (r.kind === 'bad') return refuse(r.reason);
      cleanup();
      if (r.length < buf.length) socket.unshift(buf.subarray(r.length));
      if (r.client !== null) adopt(socket, r.client);
      if (st.own === null) return void socket.destroy(); // turned off while waiting (reload)
      return handOver(server, st, socket);
    }
  };
  function cleanup(): void {
    st.pending.delete(socket);
    clearTimeout(timer);
    socket.off('readable', onReadable);
    socket.off('error', onError);
    socket.off('end', onEnd);
    socket.off('close', cleanup);
  }
  socket.on('error', onError);
  socket.on('end', onEnd);
  socket.on('readable', onReadable);
  socket.once('close', cleanup);
  st.pending.add(socket);
}

/**
 * dropPendingHeaders cuts the connections of a listener still sending their PROXY header: at the end
 * of a shutdown's grace they are not the HTTP server's yet, so its closeAllConnections misses them.
 */
export function dropPendingHeaders(server: net.Server): void {
  const st = STATE.get(server);
  if (st === undefined) return;
  for (const socket of st.pending) socket.destroy();
  st.pending.clear();
}

/** adopt makes the header's client the socket's peer for every reader of remoteAddress/remotePort/remoteFamily. */
function adopt(socket: net.Socket, c: ProxyClient): void {
  (socket as net.Socket & { [kClient]?: ProxyClient })[kClient] = c;
  Object.defineProperty(socket, 'remoteAddress', { value: c.address, configurable: true });
  Object.defineProperty(socket, 'remotePort', { value: c.port, configurable: true });
  Object.defineProperty(socket, 'remoteFamily', { value: c.family, configurable: true });
}

/**
 * clientAddressOf is a socket's client address for log lines written before a TLS socket adopted the
 * header's client (a failed handshake): the header's address when its raw socket carried one.
 */
export function clientAddressOf(socket: net.Socket): string | undefined {
  const own = (socket as net.Socket & { [kClient]?: ProxyClient })[kClient];
  const parent = (socket as net.Socket & { _parent?: net.Socket & { [kClient]?: ProxyClient } })._parent?.[kClient];
  return (own ?? parent)?.address ?? socket.remoteAddress;
}

/** adoptFromParent gives a TLS socket the client of the raw socket it wraps (Node keeps that one as `_parent`). */
function adoptFromParent(socket: tls.TLSSocket): void {
  const parent = (socket as tls.TLSSocket & { _parent?: net.Socket & { [kClient]?: ProxyClient } })._parent;
  const c = parent?.[kClient];
  if (c !== undefined) adopt(socket, c);
}
