// A tiny upstream app process for chaos tests: HTTP on 127.0.0.1:$PORT, answers every request with
// 200 and `x-upstream: $NAME` (after $DELAY_MS ms, default 0). Plain JS so it runs without a loader.
import http from 'node:http';

const name = process.env.NAME ?? 'app';
const delay = Number(process.env.DELAY_MS ?? 0);
const server = http.createServer((req, res) => {
  req.resume();
  const answer = () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
    res.end(`${name}\n`);
  };
  if (delay > 0) setTimeout(answer, delay);
  else answer();
});
server.keepAliveTimeout = 5000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write(`listening ${name}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
