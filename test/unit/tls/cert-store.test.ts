// CertStore name matching and context reuse, with generated certificates.
import t from 'tap';
import { makeCertificate } from '../../../src/cert-sources/self-signed.js';
import { CertStore } from '../../../src/tls/cert-store.js';

t.test('exact, then wildcard, then default; contexts reused across replace()', async (t) => {
  const [def, a, wild] = await Promise.all([
    makeCertificate({ commonName: 'default', names: [] }),
    makeCertificate({ commonName: 'a.test', names: ['a.test'] }),
    makeCertificate({ commonName: '*.b.test', names: ['*.b.test'] }),
  ]);
  const store = new CertStore(def, { minVersion: 'TLSv1.2' });
  store.replace([{ names: ['a.test'], ...a }, { names: ['*.b.test'], ...wild }], def);
  const ctxA = store.lookup('a.test');
  t.not(ctxA, store.defaultContext);
  t.equal(store.lookup('A.TEST'), ctxA, 'case-insensitive');
  t.equal(store.lookup('x.b.test'), store.lookup('y.b.test'), 'wildcard');
  t.not(store.lookup('x.b.test'), store.defaultContext);
  t.equal(store.lookup('x.y.b.test'), store.defaultContext, 'wildcard covers one label only');
  t.equal(store.lookup(undefined), store.defaultContext);
  t.notOk(store.has('nope.test'));
  store.replace([{ names: ['a.test'], ...a }], def);
  t.equal(store.lookup('a.test'), ctxA, 'unchanged certificate keeps its SecureContext');
  t.equal(store.lookup('x.b.test'), store.defaultContext, 'removed certificate is gone');
});
