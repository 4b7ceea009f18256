import { z } from 'zod';
import { readOwnFile, writeFileAtomic } from '../../trust-store/secure-file.ts';
import { MidiMapping } from '../config/midi-schema.ts';

// Mappings made with `hana midi learn` live in <home>/midi-mappings.json, beside (not inside)
// the operator's config file, so learning never rewrites a file a person edits. A corrupt file
// stops the daemon with its name: learned mappings are never silently dropped.

const LearnedFile = z.object({ version: z.literal(1), mappings: z.array(MidiMapping).max(4096) }).strict();

export type LoadLearned = { ok: true; mappings: MidiMapping[] } | { ok: false; error: string };

export async function loadLearned(path: string): Promise<LoadLearned> {
  const read = await readOwnFile(path);
  if (!read.ok) return read.missing ? { ok: true, mappings: [] } : { ok: false, error: read.error };
  let json: unknown;
  try {
    json = JSON.parse(read.text);
  } catch (err) {
    return { ok: false, error: `${path} is not valid JSON (${(err as Error).message}); fix or remove it` };
  }
  const parsed = LearnedFile.safeParse(json);
  if (!parsed.success)
    return { ok: false, error: `${path} is not a valid mappings file: ${z.prettifyError(parsed.error)}` };
  return { ok: true, mappings: parsed.data.mappings };
}

export function saveLearned(path: string, mappings: readonly MidiMapping[]): Promise<void> {
  return writeFileAtomic(path, `${JSON.stringify({ version: 1, mappings }, null, 2)}\n`);
}
