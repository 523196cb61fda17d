/**
 * Reading config.toml: text → TOML table (smol-toml, the only importer) → validateConfig →
 * deep-frozen Config. Every failure is a ConfigInvalidError (with every problem) or a
 * ConfigUnreadableError; nothing else is thrown for a bad file.
 */

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { ConfigInvalidError, ConfigUnreadableError } from '../errors.js';
import { deepFreeze } from './defaults.js';
import type { Config } from './types.js';
import { validateConfig } from './validate.js';

/** Options for parseConfig. */
export interface ParseConfigOptions {
  /** Named in errors and stored as `Config.source` (an absolute path, or `"<inline>"`). */
  file: string;
  /** Relative paths in the file resolve against this directory. */
  baseDir: string;
  /** Values for `${NAME}` references (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/** Options for loadConfig. */
export interface LoadConfigOptions {
  /** Values for `${NAME}` references (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/**
 * parseToml parses TOML text; a syntax error becomes a ConfigInvalidError with one problem at
 * smol-toml's line and column (its message without the code excerpt).
 */
function parseToml(text: string, file: string): Record<string, unknown> {
  try {
    return parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const message = err.message.split('\n', 1)[0] ?? err.message;
    throw new ConfigInvalidError(file, [{ path: '', message, line: err.line, column: err.column }]);
  }
}

/**
 * parseConfig parses and validates config.toml text into a deep-frozen Config.
 * Throws ConfigInvalidError listing every problem (or the one TOML syntax error).
 */
export function parseConfig(text: string, opts: ParseConfigOptions): Config {
  const raw = parseToml(text, opts.file);
  const env = opts.env ?? process.env;
  const { config, problems } = validateConfig(raw, { source: opts.file, baseDir: opts.baseDir, env });
  if (problems.length > 0) throw Object.assign(new ConfigInvalidError(opts.file, problems), { partial: deepFreeze(config) });
  return deepFreeze(config);
}

/**
 * loadConfig reads and parses the config file. Relative paths in it resolve against its
 * directory; `source` is its absolute path. Throws ConfigUnreadableError if it cannot be read,
 * ConfigInvalidError if it is not valid.
 */
export async function loadConfig(file: string, opts: LoadConfigOptions = {}): Promise<Config> {
  const abs = resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    throw new ConfigUnreadableError(abs, err);
  }
  return parseConfig(text, { file: abs, baseDir: dirname(abs), env: opts.env });
}
