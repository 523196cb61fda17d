// eslint flat config: typescript-eslint's recommended rules over src/, test/ and test-support/, and the
// layering of DESIGN §2 enforced on src/ (a forbidden import fails `npm run lint`, so CI).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * LAYERS: what each part of src/ may import (besides itself and node/npm packages). One-way, top to
 * bottom: cli → main → lifecycle → {server, cluster, acme, cert-sources, health, supervisor} →
 * {proxy, tls, storage} → upstream; config/ is read by lifecycle/ and cli.ts only; errors, log,
 * metrics, version and node-flags are leaves every layer may use.
 */
const LEAVES = ['errors', 'log', 'log-sink', 'metrics', 'version', 'node-flags'];
const LAYERS = {
  upstream: [],
  tls: [...LEAVES],
  storage: [...LEAVES],
  config: ['errors'],
  proxy: ['upstream', 'tls', ...LEAVES],
  'cert-sources': ['tls', ...LEAVES],
  health: ['proxy', 'upstream', ...LEAVES],
  supervisor: ['storage', ...LEAVES],
  acme: ['storage', 'cert-sources', 'tls', ...LEAVES],
  server: ['proxy', 'tls', 'upstream', ...LEAVES],
  cluster: ['server', 'proxy', 'tls', 'upstream', ...LEAVES],
  lifecycle: ['config', 'server', 'cluster', 'acme', 'cert-sources', 'health', 'supervisor', 'proxy', 'tls', 'storage', 'upstream', ...LEAVES],
};
const PARTS = [...Object.keys(LAYERS), ...LEAVES, 'main', 'cli'];

/** restricted lists the import paths a file in `part` may not use (folders as `../x/*`, top-level files as `../x.js`). */
function restricted(part, allowed) {
  const banned = PARTS.filter((p) => p !== part && !allowed.includes(p));
  return banned.flatMap((p) => (p in LAYERS ? [`../${p}/*`] : [`../${p}.js`]));
}

const layerRules = Object.entries(LAYERS).map(([part, allowed]) => ({
  files: [`src/${part}/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', { patterns: [{ group: restricted(part, allowed), message: `src/${part}/ may import only: ${allowed.join(', ') || 'nothing of portico'} (DESIGN §2 layering; eslint.config.js LAYERS)` }] }],
  },
}));

/** The leaves import nothing of portico (log.ts its own sink). */
const leafRules = LEAVES.map((leaf) => ({
  files: [`src/${leaf}.ts`],
  rules: {
    'no-restricted-imports': ['error', { patterns: [{ group: PARTS.filter((p) => p !== leaf && !(leaf === 'log' && p === 'log-sink')).map((p) => (p in LAYERS ? `./${p}/*` : `./${p}.js`)), message: `src/${leaf}.ts is a leaf: it imports nothing of portico (DESIGN §2)` }] }],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/**', '.tap/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  ...layerRules,
  ...leafRules,
  {
    // main.ts only wires signals to the process (lifecycle/); cli.ts is above it
    files: ['src/main.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: PARTS.filter((p) => p !== 'lifecycle' && p !== 'log').map((p) => (p in LAYERS ? `./${p}/*` : `./${p}.js`)), message: 'main.ts imports only lifecycle/ and log (DESIGN §2)' }] }],
    },
  },
  {
    // the dashboard's browser scripts (served as they are; tsconfig.status-page.json type-checks them)
    files: ['src/server/status-page/*.js'],
    languageOptions: { sourceType: 'module', globals: { document: 'readonly', window: 'readonly', fetch: 'readonly', URL: 'readonly', Node: 'readonly', HTMLElement: 'readonly', SVGElement: 'readonly' } },
  },
  {
    files: ['examples/**/*.js', 'examples/**/*.mjs', 'test-support/**/*.mjs', 'eslint.config.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', fetch: 'readonly', AbortSignal: 'readonly' } },
  },
);
