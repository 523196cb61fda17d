/**
 * The V8 flags every portico process runs with, and how they get there.
 *
 * `--max-semi-space-size=4` (MiB) caps V8's young generation. Left alone, V8 grows it under
 * proxy load (seen at 47-64 MiB on Node 26), resident memory a proxy never needs: its per-request
 * garbage (headers, chunk wrappers) dies young at any size. Measured with bench/ab.sh (interleaved,
 * 2026-12-04, docs/performance.md "Memory"): peak RSS under 50 keep-alive clients 165 → 116 MiB and
 * under `Connection: close` clients 197 → 154 MiB on Node 26, 1 MiB bodies 162 → 147 MiB on Node 20;
 * CPU per request 0.99-1.06x (within the runs' noise; 8-cycle runs 0.99-1.03x). 1 MiB semi-spaces
 * cost +28 % CPU (scavenges too often). `v8.setFlagsFromString` after start-up does not resize the
 * heap already laid out, and NODE_OPTIONS would leak into the supervised app workers, so the flag
 * is given on node's command line: the CLI's shebang (`env -S`), the image's ENTRYPOINT,
 * `npm start`, and the execArgv of forked data-plane workers (missingFlags).
 * test/unit/node-flags.test.ts keeps those four in step with V8_FLAGS.
 */

export const V8_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/** missingFlags returns the V8_FLAGS that execArgv does not set (by flag name, so an operator's own value wins). */
export function missingFlags(execArgv: readonly string[]): string[] {
  const name = (f: string): string => (f.split('=')[0] ?? f).replace(/_/g, '-');
  const have = new Set(execArgv.map(name));
  return V8_FLAGS.filter((f) => !have.has(name(f)));
}
