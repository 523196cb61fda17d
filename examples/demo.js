// `npm start`: runs the demo app as two workers (ports 3001, 3002) and portico in front of them with
// the embedded config/config.toml, then waits. Ctrl-C (SIGINT) or SIGTERM stops portico gracefully
// and then the workers. (When app supervision lands, portico starts the workers itself.)
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const workers = [3001, 3002].map((port, i) =>
  spawn(process.execPath, ['examples/app.js'], { cwd: root, stdio: 'inherit', env: { ...process.env, PORT: String(port), PORTICO_WORKER_INDEX: String(i) } }),
);
const args = ['dist/cli.js', 'run', '--config', process.env.PORTICO_CONFIG ?? 'config/config.toml'];
const portico = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
const stopWorkers = () => { for (const w of workers) w.kill('SIGTERM'); };
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => portico.kill(sig));
portico.on('exit', (code, signal) => {
  stopWorkers();
  process.exitCode = code ?? (signal ? 1 : 0);
});
