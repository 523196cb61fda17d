/**
 * The config module: config.toml → validated, normalised, deep-frozen Config (DESIGN §4).
 * Read only by lifecycle (and the CLI's `check`); other modules take their own option types.
 */

export { loadConfig, parseConfig } from './load.js';
export type { LoadConfigOptions, ParseConfigOptions } from './load.js';
export { validateConfig } from './validate.js';
export type { ValidateOptions } from './validate.js';
export { DEFAULTS, deepFreeze } from './defaults.js';
export { parseAddress, parseCidr, parseDuration, parseHost, parseSize, parseUpstream } from './grammar.js';
export type { UpstreamResult } from './grammar.js';
export type * from './types.js';
