/**
 * The stored certificate is one unit (issue 27): a reader in any process sharing the storage sees the
 * old pair or the new one, never a new key with the old certificate (the key and the certificate used
 * to be two writes, and a load between them found a mismatch and ordered again). Also: the older
 * two-file form is still read, and replaced by the bundle on the next save.
 */
import { writeFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { storagePrefix } from '../../../src/acme/manager.js';
import { CertFiles } from '../../../src/acme/stored.js';
import { FileStorage } from '../../../src/storage/file.js';
import { makeCA } from '../../../test-support/index.js';
import { testDir } from '../../../test-support/wait.js';

const PREFIX = storagePrefix('https://ca.test/directory');

t.test('loads while saving never see a mismatched pair', async (t) => {
  const storage = new FileStorage(testDir(t));
  const ca = await makeCA();
  const pairs = await Promise.all([ca.issue(['a.test']), ca.issue(['a.test'])]);
  const corrupt: string[] = [];
  const files = new CertFiles(storage, PREFIX, (path, reason) => corrupt.push(reason));
  await files.save('a.test', pairs[0]!);
  let saving = true;
  let loads = 0;
  const reader = (async () => {
    while (saving) {
      const c = await files.load('a.test');
      loads++;
      if (c === null) corrupt.push('nothing loaded');
    }
  })();
  for (let i = 0; i < 150; i++) await files.save('a.test', pairs[i % 2]!);
  saving = false;
  await reader;
  t.ok(loads > 50, `${loads} loads ran during the saves`);
  t.strictSame(corrupt, [], 'every load found a matching pair');
});

t.test('the two-file form of older versions is read, and replaced by the bundle on save', async (t) => {
  const dir = testDir(t);
  const storage = new FileStorage(dir);
  const ca = await makeCA();
  const old = await ca.issue(['b.test']);
  const certs = join(dir, PREFIX, 'certs');
  await mkdir(certs, { recursive: true });
  await writeFile(join(certs, 'b.test.crt'), old.cert);
  await writeFile(join(certs, 'b.test.key'), old.key);
  const files = new CertFiles(storage, PREFIX, () => t.fail('not corrupt'));
  const loaded = await files.load('b.test');
  t.equal(loaded?.cert, old.cert, 'read from .crt + .key');
  await files.save('b.test', await ca.issue(['b.test']));
  t.strictSame(await readdir(certs), ['b.test.pem'], 'one file now');
  t.not((await files.load('b.test'))?.cert, old.cert, 'the new one');
});

t.test('a change notice of the key a save writes is a new certificate (replicas adopt it from storage.watch)', async (t) => {
  const storage = new FileStorage(testDir(t));
  const written: string[] = [];
  const watched = Object.assign(Object.create(storage) as FileStorage, {
    write: (key: string, data: string | Buffer) => (written.push(key), storage.write(key, data)),
  });
  const files = new CertFiles(watched, PREFIX, () => {});
  const ca = await makeCA();
  await files.save('*.a.test', await ca.issue(['*.a.test']));
  t.equal(written.length, 1, 'one write');
  t.ok(files.isCertKey('*.a.test', written[0]!), `${written[0]} names the host's certificate`);
  t.ok(files.isCertKey('*.a.test', written[0]!.replace(/\.pem$/, '.crt')), "an older replica's certificate file too");
  t.notOk(files.isCertKey('*.a.test', written[0]!.replace(/\.pem$/, '.key')), 'not its key alone (written before its certificate)');
  t.notOk(files.isCertKey('b.test', written[0]!), 'not another host');
});
