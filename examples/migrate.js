// The demo app's pre-start step (stands in for database migrations): portico runs it once, to
// success, before any demo worker starts, and not again until the app's definition changes.
// It records each run in $DATA_DIR/demo-migrations.log (default: the current directory).
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.DATA_DIR ?? '.';
mkdirSync(dir, { recursive: true });
appendFileSync(join(dir, 'demo-migrations.log'), `${new Date().toISOString()} migrated (pid ${process.pid})\n`);
console.log(`demo migrations applied; recorded in ${join(dir, 'demo-migrations.log')}`);
