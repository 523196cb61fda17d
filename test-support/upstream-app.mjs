// A tiny upstream app process for chaos and supervisor tests: HTTP on $HOST:$PORT (default
// 127.0.0.1), answers every request with 200 and `x-upstream: $NAME` (default worker-$PORTICO_WORKER_INDEX)
// and `x-pid`. Knobs (env): DELAY_MS (answer delay), EXIT_CODE (exit at once with it),
// GRANDCHILD=1|stubborn (start a `sleep` child, or one ignoring SIGTERM, and print "grandchild PID"),
// START_DELAY_MS (listen only after this), STDERR_LINES (written to stderr once listening, "|" between lines).
// Argument `--port N` is the port to bind instead of $PORT (answered as `x-argv-port`). GET /alloc?mb=N keeps N MiB.
// Plain JS so it runs without a loader.
import { spawn } from 'node:child_process';
import http from 'node:http';

if (process.env.EXIT_CODE !== undefined) process.exit(Number(process.env.EXIT_CODE));
const name = process.env.NAME ?? `worker-${process.env.PORTICO_WORKER_INDEX ?? '?'}`;
const delay = Number(process.env.DELAY_MS ?? 0);
const argvPort = process.argv.includes('--port') ? process.argv[process.argv.indexOf('--port') + 1] : undefined;
const kept = [];
if (process.env.GRANDCHILD === '1' || process.env.GRANDCHILD === 'stubborn') {
  // "stubborn": a child that ignores SIGTERM (only its group's SIGKILL ends it)
  const argv = process.env.GRANDCHILD === 'stubborn' ? ['sh', ['-c', 'trap "" TERM; sleep 600 & wait']] : ['sleep', ['600']];
  const g = spawn(argv[0], argv[1], { stdio: 'ignore' });
  process.stdout.write(`grandchild ${g.pid}\n`);
}
const server = http.createServer((req, res) => {
  req.resume();
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/alloc') {
    const mb = Number(url.searchParams.get('mb') ?? 0);
    for (let i = 0; i < mb; i++) kept.push(Buffer.alloc(1024 * 1024, i % 251));
  }
  const answer = () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name, 'x-pid': String(process.pid), 'x-argv-port': String(argvPort) });
    res.end(`${name}\n`);
  };
  if (delay > 0) setTimeout(answer, delay);
  else answer();
});
server.keepAliveTimeout = 5000;
const listen = () =>
  server.listen(Number(argvPort ?? process.env.PORT), process.env.HOST ?? '127.0.0.1', () => {
    process.stdout.write(`listening ${name}\n`);
    if (process.env.STDERR_LINES) process.stderr.write(process.env.STDERR_LINES.split('|').join('\n') + '\n');
  });
setTimeout(listen, Number(process.env.START_DELAY_MS ?? 0));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
