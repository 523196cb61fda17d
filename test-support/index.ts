/**
 * Test support (outside test/, so tap never runs these as test files): real servers on port 0,
 * generated certificates, an in-process portico, and a spawned portico process.
 */
export * from './backend.js';
export * from './certs.js';
export * from './proxy.js';
export * from './client.js';
export * from './load.js';
export * from './wait.js';
export * from './acme.js';
export * from './pebble.js';
export * from './fake-acme.js';
export * from './acme-front.js';
export * from './bind.js';
export * from './h2.js';
export * from './recorder.js';
export * from './raw-http.js';
export * from './hostile.js';
export * from './haproxy.js';
export * from './redis.js';
export * from './fleet.js';
