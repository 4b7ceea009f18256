import { z } from 'zod';

// What `hana scene load NAME --fade … --at …` and `/hana/scene/load` ask for, parsed once for
// the CLI, the control socket and OSC so the three accept exactly the same words.

/** A fade's length in session milliseconds or in beats of the shared timeline. */
export const FadeLength = z
  .object({
    unit: z.enum(['ms', 'beats']),
    // A day of fade or 4096 beats is far past any show; the bound keeps the tick loop finite.
    length: z.number().min(0).max(86_400_000),
  })
  .strict();
export type FadeLength = z.infer<typeof FadeLength>;

/** Where a launch lands: the next bar (quantum beats), the next beat, or at once. */
export const LaunchAt = z.enum(['bar', 'beat', 'now']);
export type LaunchAt = z.infer<typeof LaunchAt>;

export const NO_FADE: FadeLength = { unit: 'ms', length: 0 };
const MAX_BEATS = 4096;

/**
 * Reads "2s", "1.5s", "500ms", "4b" (beats) or "0" into a fade length; undefined for anything
 * else, so the caller can say what it expected.
 */
export function parseFade(text: string): FadeLength | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|b)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2];
  if (unit === 'b') return n <= MAX_BEATS ? { unit: 'beats', length: n } : undefined;
  if (unit === undefined && n !== 0) return undefined; // "2" could mean seconds or beats: say which
  const ms = unit === 's' ? n * 1000 : n;
  const parsed = FadeLength.safeParse({ unit: 'ms', length: ms });
  return parsed.success ? parsed.data : undefined;
}

/** The fade as the CLI and logs print it: "2s", "4b", "none". */
export function formatFade(f: FadeLength): string {
  if (f.length === 0) return 'none';
  return f.unit === 'beats'
    ? `${f.length}b`
    : f.length % 1000 === 0
      ? `${f.length / 1000}s`
      : `${f.length}ms`;
}

export const FADE_HELP = 'a fade is seconds (2s, 0.5s, 500ms) or beats (4b), or 0';

/** `--fade` and `--at` as the CLI, the control socket and OSC take them, or the refusal. */
export function launchOptions(
  fade: string | undefined,
  at: string | undefined,
):
  | { ok: true; fade: FadeLength; at: LaunchAt }
  | { ok: false; code: 'scene-bad-fade' | 'scene-bad-at'; error: string } {
  const f = fade === undefined ? NO_FADE : parseFade(fade);
  if (!f)
    return {
      ok: false,
      code: 'scene-bad-fade',
      error: `"${fade!.slice(0, 32)}" is not a fade: ${FADE_HELP}`,
    };
  const a = LaunchAt.safeParse(at ?? 'now');
  if (!a.success)
    return {
      ok: false,
      code: 'scene-bad-at',
      error: `"${at!.slice(0, 32)}" is not a launch point: use bar, beat or now`,
    };
  return { ok: true, fade: f, at: a.data };
}
