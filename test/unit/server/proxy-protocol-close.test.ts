/**
 * A listener's shutdown cuts connections still sending their PROXY header at its deadline, like its
 * other connections: they are not the HTTP server's yet (its closeAllConnections does not see them),
 * so without this a balancer's half-sent header kept the listener open until the header timeout.
 */
import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { closeServer } from '../../../src/server/listeners.js';
import { setProxyProtocol, watchProxyProtocol } from '../../../src/server/proxy-protocol.js';
import { createLogger } from '../../../src/log.js';

t.test('closeServer cuts a connection whose PROXY header is incomplete at the deadline', async (t) => {
  const server = http.createServer((_req, res) => res.end('ok'));
  watchProxyProtocol(server, createLogger({ level: 'silent', format: 'json' }));
  // a header timeout far beyond the test's own: only the shutdown can end this connection
  setProxyProtocol(server, { from: ['127.0.0.1/32'], timeoutMs: 600_000 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect({ host: '127.0.0.1', port });
  await new Promise((r) => client.once('connect', r));
  client.write('PROXY TCP4 1.2.3.4');
  const closed = new Promise((r) => client.once('close', r));
  client.on('error', () => {});
  await new Promise((r) => setTimeout(r, 50));
  await closeServer(server, 100);
  await closed;
  t.equal(server.listening, false, 'the listener closed');
  t.equal(client.destroyed, true, 'the half-sent header was cut');
});
