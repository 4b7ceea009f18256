import { z } from 'zod';
import { compilePattern } from '../daemon/state/pattern.ts';
import { Shaders } from './isf/manifest-schema.ts';
import { relativePathProblem } from './paths.ts';
import { unsafeTextProblem } from './text-safety.ts';

// plugin.json: what a plugin is, who published it, which file runs, which parameters it may read
// and write, and how much of the machine it may use. It arrives inside a downloaded folder, so
// everything is checked and unknown fields are errors (a typo in a permission must not pass).

// ── Semantic versions (semver.org 2.0.0, without build metadata) ─────────────────────────────

export type Semver = {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Dot-separated pre-release identifiers; numeric ones as numbers. Empty for a release. */
  readonly prerelease: readonly (string | number)[];
};

const MAX_VERSION_LENGTH = 64;
const NUMERIC = /^(0|[1-9][0-9]*)$/;
const ALNUM = /^[0-9A-Za-z-]+$/;
const CORE = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z.-]+))?$/;

/** Parses "MAJOR.MINOR.PATCH[-prerelease]"; undefined if it is not one. */
export function parseSemver(text: string): Semver | undefined {
  if (text.length > MAX_VERSION_LENGTH) return undefined;
  const m = CORE.exec(text);
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (![major, minor, patch].every(Number.isSafeInteger)) return undefined;
  const prerelease: (string | number)[] = [];
  if (m[4] !== undefined) {
    for (const id of m[4].split('.')) {
      if (NUMERIC.test(id)) {
        const n = Number(id);
        if (!Number.isSafeInteger(n)) return undefined;
        prerelease.push(n);
      } else if (ALNUM.test(id) && !/^[0-9]+$/.test(id)) {
        prerelease.push(id);
      } else {
        return undefined; // empty identifier, or numeric with a leading zero
      }
    }
  }
  return { major, minor, patch, prerelease };
}

function toSemver(v: string | Semver): Semver {
  if (typeof v !== 'string') return v;
  const parsed = parseSemver(v);
  if (!parsed) throw new RangeError(`not a semantic version: ${JSON.stringify(v)}`);
  return parsed;
}

const sign = (n: number): -1 | 0 | 1 => (n < 0 ? -1 : n > 0 ? 1 : 0);

/**
 * Semver precedence: -1, 0 or 1. Throws RangeError on a string that is not a version (callers
 * compare versions that already passed the manifest schema).
 */
export function compareSemver(a: string | Semver, b: string | Semver): -1 | 0 | 1 {
  const x = toSemver(a);
  const y = toSemver(b);
  const core = sign(x.major - y.major) || sign(x.minor - y.minor) || sign(x.patch - y.patch);
  if (core !== 0) return core;
  // A pre-release sorts before its release.
  if (x.prerelease.length === 0 || y.prerelease.length === 0) {
    return sign(y.prerelease.length - x.prerelease.length);
  }
  const n = Math.min(x.prerelease.length, y.prerelease.length);
  for (let i = 0; i < n; i++) {
    const p = x.prerelease[i]!;
    const q = y.prerelease[i]!;
    if (p === q) continue;
    if (typeof p === 'number' && typeof q === 'number') return sign(p - q);
    if (typeof p === 'number') return -1; // numeric identifiers sort before alphanumeric ones
    if (typeof q === 'number') return 1;
    return p < q ? -1 : 1; // ASCII order; identifiers are ASCII-only
  }
  return sign(x.prerelease.length - y.prerelease.length);
}

// ── The manifest ─────────────────────────────────────────────────────────────────────────────

/** First 16 hex characters of SHA-256 over the raw 32-byte Ed25519 public key. */
export const PublisherKeyId = z
  .string()
  .regex(/^[0-9a-f]{16}$/, 'a publisher key ID is 16 lowercase hex characters');

// Dot-separated labels, each starting with a letter or digit: "." and ".." are not IDs, because
// an ID will name an install folder.
const PluginId = z
  .string()
  .min(3, 'an id is at least 3 characters')
  .max(64, 'an id is at most 64 characters')
  .regex(
    /^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)*$/,
    'an id is reverse-DNS style: lowercase letters, digits, "-" and "." (e.g. "com.example.strobe")',
  );

// Names and descriptions are shown in the CLI and web UI: no control (C0, C1), bidirectional
// or invisible characters (text-safety.ts); a description may have line breaks.
const ShownText = (what: string, max: number, opts: { newlines?: boolean } = {}) =>
  z
    .string()
    .max(max)
    .superRefine((s, ctx) => {
      const problem = unsafeTextProblem(s, opts);
      if (problem) ctx.addIssue({ code: 'custom', message: `${what} ${problem}` });
    });

const Version = z
  .string()
  .refine((v) => parseSemver(v) !== undefined, 'a version is MAJOR.MINOR.PATCH with an optional -prerelease');

const Entry = z
  .string()
  .superRefine((p, ctx) => {
    const problem = relativePathProblem(p);
    if (problem)
      ctx.addIssue({ code: 'custom', message: `entry ${problem}; it is a path inside the plugin` });
  })
  .refine((p) => /\.m?js$/.test(p), 'entry is the bundled JavaScript file (".js" or ".mjs")');

const AddressPatternText = z.string().superRefine((p, ctx) => {
  const r = compilePattern(p);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: `not an OSC address pattern: ${r.reason}` });
});

const MAX_PATTERNS = 64;
const Patterns = z
  .array(AddressPatternText)
  .max(MAX_PATTERNS, `at most ${MAX_PATTERNS} patterns`)
  .default([]);

const Limits = z
  .object({
    memoryMb: z.number().int().min(8).max(256).default(32).describe('Isolate heap limit in MiB.'),
    cpuMsPerFrame: z.number().int().min(1).max(50).default(8).describe('CPU time allowed per frame, in ms.'),
    fps: z.number().int().min(1).max(120).default(60).describe('Frames per second the plugin is run at.'),
  })
  .strict();

export const PluginManifest = z
  .object({
    id: PluginId,
    name: ShownText('the name', 64).refine((s) => s.trim().length > 0, 'a name is not empty'),
    version: Version,
    publisher: PublisherKeyId,
    entry: Entry,
    reads: Patterns.describe('OSC address patterns of the parameters the plugin may read.'),
    writes: Patterns.describe('OSC address patterns of the parameters the plugin may write.'),
    // prefault, not default: the default {} is itself parsed, so the inner defaults fill in.
    limits: Limits.prefault({}),
    // The mixer channel: the compositor applies /layer/N/opacity, /blend and /deck to this
    // plugin's layer. Without one the layer is drawn as is, over the crossfaded decks.
    layer: z
      .number()
      .int()
      .min(1)
      .max(64)
      .optional()
      .describe('Mixer channel N: the output applies /layer/N/opacity, /layer/N/blend and /layer/N/deck.'),
    shaders: Shaders.optional(),
    description: ShownText('the description', 1024, { newlines: true }).optional(),
  })
  .strict();

export type PluginManifest = z.infer<typeof PluginManifest>;

export type ManifestResult = { ok: true; manifest: PluginManifest } | { ok: false; error: string };

/** Validates an already JSON-parsed plugin.json. Never throws. */
export function parseManifest(json: unknown): ManifestResult {
  const r = PluginManifest.safeParse(json);
  if (r.success) return { ok: true, manifest: r.data };
  return { ok: false, error: z.prettifyError(r.error) };
}
