import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { unknownFields } from './keys.ts';
import { Config, type ConfigInput } from './schema.ts';

export type ConfigResult = { ok: true; config: Config; source: string } | { ok: false; error: string };

/** Validates already-parsed JSON; `source` names where it came from in error messages. */
export function parseConfig(input: unknown, source: string): ConfigResult {
  const parsed = Config.safeParse(input, {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? unknownFields(iss.path ?? [], iss.keys, iss.input) : undefined,
  });
  if (!parsed.success) {
    return { ok: false, error: `invalid config in ${source}:\n${z.prettifyError(parsed.error)}` };
  }
  return { ok: true, config: parsed.data, source };
}

/**
 * Reads the config file if one is named or present in the home; otherwise the embedded defaults.
 * `overrides` are command-line flags, applied on top before validation so they are checked too.
 */
export async function loadConfig(
  file: string | undefined,
  overrides: (input: ConfigInput) => ConfigInput = (i) => i,
): Promise<ConfigResult> {
  if (file === undefined) return parseConfig(overrides({}), 'embedded defaults');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { ok: false, error: `cannot read config file ${file}: ${(err as Error).message}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `config file ${file} is not valid JSON: ${(err as Error).message}` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, error: `config file ${file} must hold a JSON object` };
  }
  return parseConfig(overrides(json as ConfigInput), file);
}
