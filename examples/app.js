// The demo app: a tiny HTTP server standing in for the user's app workers (FastAPI, Express, Rails…).
// It binds HOST:PORT (default 127.0.0.1:3001) and answers every path with who served it, so you can
// watch portico round-robin between workers. No dependencies.
import http from 'node:http';

const port = Number(process.env.PORT ?? 3001);
const host = process.env.HOST ?? '127.0.0.1';
const worker = process.env.PORTICO_WORKER_INDEX ?? String(port);

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  const body = JSON.stringify({
    message: 'hello from the demo app behind portico',
    worker,
    pid: process.pid,
    port,
    method: req.method,
    path: req.url,
    host: req.headers.host,
    client: req.headers['x-forwarded-for'] ?? null,
    proto: req.headers['x-forwarded-proto'] ?? null,
  }, null, 2) + '\n';
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
});
server.keepAliveTimeout = 5000;
server.listen(port, host, () => console.log(`demo app worker ${worker} pid ${process.pid} listening on http://${host}:${port}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
