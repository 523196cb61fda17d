/**
 * FileStorage: Storage on a local (or shared, mounted) directory. Writes are atomic: a temporary
 * file in the same directory is written, fsynced and renamed over the target, then the directory is
 * fsynced, so a crash leaves the old or the new value, never a torn file. Every file is created
 * 0600 and every directory 0700 (certificate keys and the ACME account key live here).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { acquireFileLock, type LockEvents } from './lock.js';
import { checkKey, safeSegment, type Lock, type LockOptions, type Storage } from './storage.js';

/** FileStorage keeps keys as files under `root`. */
export class FileStorage implements Storage {
  constructor(readonly root: string, private readonly events: LockEvents = {}) {}

  describe(key: string): string {
    return join(this.root, checkKey(key));
  }

  async read(key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.describe(key));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw err;
    }
  }

  async write(key: string, data: string | Buffer): Promise<void> {
    const path = this.describe(key);
    const dir = dirname(path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } catch (err) {
      await fh.close();
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    try {
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await syncDir(dir);
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.describe(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    try {
      const names = await readdir(this.describe(prefix));
      return names.filter((n) => !n.startsWith('.')).sort().map((n) => `${prefix}/${n}`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw err;
    }
  }

  async lock(name: string, opts?: LockOptions): Promise<Lock> {
    const dir = join(this.root, 'locks');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return acquireFileLock(join(dir, `${safeSegment(name)}.lock`), opts, this.events);
  }
}

/** syncDir makes a rename durable (fsync on the directory; skipped where the platform refuses). */
async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // some file systems (and Windows) do not allow fsync on a directory; the rename still happened
  } finally {
    await fh?.close();
  }
}
