// Session tickets (issue 26), on real TLS 1.3 sockets: Node's own ticket handling gives a resumed
// connection no new ticket, so a client that uses each ticket once (as OpenSSL clients do) resumes
// only every second connection. portico's TicketKeys renews the ticket of every resumed connection
// where Node has the ticket-key callback, accepts the previous key's tickets after a rotation, and
// falls back to setTicketKeys (resumption without renewal) where the callback is missing.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import { makeCertificate } from '../../../src/cert-sources/self-signed.js';
import { newTicketKey, TicketKeys, ticketRenewalSupported } from '../../../src/tls/ticket-keys.js';

/** server starts an https listener with TicketKeys attached (`withoutCallback`: as on a Node lacking it). */
async function server(t: Test, withoutCallback = false): Promise<{ port: number; keys: TicketKeys; listener: https.Server }> {
  const pems = await makeCertificate({ commonName: 'tickets.test', names: ['tickets.test'] });
  const listener = https.createServer({ ...pems, minVersion: 'TLSv1.3' }, (_req, res) => res.end('ok'));
  if (withoutCallback) Object.defineProperty((listener as unknown as { _sharedCreds: { context: object } })._sharedCreds.context, 'enableTicketKeyCallback', { value: undefined });
  const keys = new TicketKeys();
  keys.attach(listener);
  keys.setTicketKey(newTicketKey());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => listener.close(() => resolve())));
  return { port: (listener.address() as AddressInfo).port, keys, listener };
}

/** connect makes one TLS connection offering `session`; it says whether it resumed and which ticket it got (null: none). */
function connect(port: number, session: Buffer | null): Promise<{ resumed: boolean; ticket: Buffer | null }> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | null = null;
    let resumed = false;
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'tickets.test', rejectUnauthorized: false, ...(session ? { session } : {}) });
    s.on('session', (b: Buffer) => (ticket = b));
    s.on('error', reject);
    s.on('secureConnect', () => {
      resumed = s.isSessionReused();
      // tickets arrive after the handshake: one round trip through the server makes sure they are read
      s.write('GET / HTTP/1.1\r\nHost: tickets.test\r\nConnection: close\r\n\r\n');
    });
    s.on('data', () => undefined);
    s.on('close', () => resolve({ resumed, ticket }));
  });
}

/** chain connects `n` times, each offering only the ticket the previous connection got. */
async function chain(port: number, n: number): Promise<boolean[]> {
  const resumed: boolean[] = [];
  let ticket: Buffer | null = null;
  for (let i = 0; i < n; i++) {
    const c = await connect(port, ticket);
    resumed.push(c.resumed);
    ticket = c.ticket;
  }
  return resumed;
}

t.test('this Node has the ticket-key callback (Node 20 and 26 do; the fallback is tested below)', async (t) => {
  const s = await server(t);
  t.ok(ticketRenewalSupported(s.listener));
});

t.test('renewal: every resumed connection gets a new ticket, so a client using each once keeps resuming', async (t) => {
  const s = await server(t);
  t.same(await chain(s.port, 5), [false, true, true, true, true]);
});

t.test('without the callback (fallback: setTicketKeys): resumption works, every second connection', async (t) => {
  const s = await server(t, true);
  t.notOk(ticketRenewalSupported(s.listener));
  t.same(await chain(s.port, 5), [false, true, false, true, false], 'the resumed connection got no ticket (Node\'s own handling)');
});

t.test('rotation: tickets of the previous key still resume (renewed under the new key); older ones do not', async (t) => {
  const s = await server(t);
  const first = await connect(s.port, null);
  t.ok(first.ticket, 'a ticket from the first key');
  s.keys.setTicketKey(newTicketKey());
  const second = await connect(s.port, first.ticket);
  t.ok(second.resumed, 'the previous key\'s ticket resumes');
  s.keys.setTicketKey(newTicketKey());
  t.ok((await connect(s.port, second.ticket)).resumed, 'the renewed ticket (second key) resumes after one more rotation');
  s.keys.setTicketKey(newTicketKey());
  t.notOk((await connect(s.port, first.ticket)).resumed, 'a ticket three keys old: a full handshake');
});

t.test('a new default context (the no-SNI certificate changed) keeps renewing', async (t) => {
  const s = await server(t);
  const other = await makeCertificate({ commonName: 'other.test', names: ['other.test'] });
  s.keys.setNoSni(other, 'TLSv1.3');
  t.same(await chain(s.port, 3), [false, true, true]);
});

t.test('setRenew(false) (P-256 certificates only): Node\'s own handling; on again: renewing', async (t) => {
  const s = await server(t);
  s.keys.setNoSni(await makeCertificate({ commonName: 'tickets.test', names: ['tickets.test'] }), 'TLSv1.3');
  s.keys.setRenew(false);
  t.same(await chain(s.port, 5), [false, true, false, true, false], 'the resumed connection got no ticket');
  const first = await connect(s.port, null);
  s.keys.setTicketKey(newTicketKey());
  t.notOk((await connect(s.port, first.ticket)).resumed, 'one key only: a rotation ends the tickets of the previous one');
  s.keys.setRenew(true);
  t.same(await chain(s.port, 4), [false, true, true, true], 'renewing again');
});
