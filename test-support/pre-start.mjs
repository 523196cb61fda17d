// A pre-start step for supervisor tests: appends one line to $PRESTART_LOG, then exits with
// $PRESTART_EXIT (default 0) after $PRESTART_SLEEP_MS (default 0).
import { appendFileSync } from 'node:fs';

appendFileSync(process.env.PRESTART_LOG, `ran ${process.pid} ${new Date().toISOString()}\n`);
process.stdout.write('pre-start: migrating\n');
setTimeout(() => process.exit(Number(process.env.PRESTART_EXIT ?? 0)), Number(process.env.PRESTART_SLEEP_MS ?? 0));
