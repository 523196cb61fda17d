// App lines are logged at the level they start with, else info (issue 24: uvicorn and gunicorn write
// their INFO lines to stderr, which used to be logged at warn).
import t from 'tap';
import { appLineLevel } from '../../../src/supervisor/app-log.js';

t.test('the level word servers and loggers start their lines with', async (t) => {
  const cases: Array<[string, string]> = [
    ['INFO:     Started server process [42]', 'info'], // uvicorn
    ['INFO:     127.0.0.1:50000 - "GET / HTTP/1.1" 200 OK', 'info'],
    ['WARNING:  Invalid HTTP request received.', 'warn'],
    ['ERROR:    Exception in ASGI application', 'error'],
    ['DEBUG:    = connection is CONNECTING', 'debug'],
    ['[2026-12-01 10:00:00 +0000] [42] [INFO] Booting worker with pid: 42', 'info'], // gunicorn
    ['[2026-12-01 10:00:00 +0000] [42] [CRITICAL] WORKER TIMEOUT (pid:43)', 'error'],
    ['WARNING:root:disk almost full', 'warn'], // Python logging's default format
    ['CRITICAL:app:cannot continue', 'error'],
    ['Error: Cannot find module \'x\'', 'error'], // Node's uncaught exception
    ['error: something failed', 'error'],
    ['Warning: deprecated', 'warn'],
    ['[warn] slow request', 'warn'],
    ['ERROR    something', 'error'], // loguru-like, capitals and spaces
    ['TRACE entering', 'trace'],
  ];
  for (const [line, level] of cases) t.equal(appLineLevel(line), level, line);
});

t.test('any other line is info, whatever stream it came on', async (t) => {
  for (const line of ['Listening on 3001', 'Info about the weather', 'Errors: 0', 'Traceback (most recent call last):', '', '   at foo (x.js:1:1)', 'INFORMATION follows', '[a] [b] [c] [d] [ERROR] too deep']) {
    t.equal(appLineLevel(line), 'info', JSON.stringify(line));
  }
});
