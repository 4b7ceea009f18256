import { z } from 'zod';

// At-rest storage (persisted state, scenes) and the audit log. Kept beside schema.ts so the
// storage code and its docs read one place.

// One object rather than a union of two, so the reference documents every field; the
// refinement keeps each field with its kind.
export const StorageKey = z
  .object({
    kind: z
      .enum(['keyfile', 'passphrase'])
      .default('keyfile')
      .describe('`keyfile`: a 32-byte key in a file; `passphrase`: a passphrase stretched with scrypt.'),
    path: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(
        'keyfile: 32 raw bytes or 64 hex characters, mode 0600; relative to the home. Default `storage.key` in the home, created on first start.',
      ),
    env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
      .max(128)
      .default('HANA_PASSPHRASE')
      .describe('passphrase: the environment variable holding it, when `file` is not set.'),
    file: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(
        'passphrase: a file holding it (one trailing newline ignored), mode 0600; relative to the home.',
      ),
  })
  .strict()
  .superRefine((k, ctx) => {
    if (k.kind === 'keyfile' && k.file !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['file'],
        message: 'storage.key.file goes with kind "passphrase"',
      });
    }
    if (k.kind === 'passphrase' && k.path !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: 'storage.key.path goes with kind "keyfile"' });
    }
  });
export type StorageKey = z.infer<typeof StorageKey>;

export const StorageConfig = z
  .object({
    key: StorageKey.prefault({}).describe(
      'Where the key sealing state and scenes (AES-256-GCM) comes from. A daemon cannot prompt: a missing passphrase stops it at start.',
    ),
    persist: z
      .boolean()
      .default(true)
      .describe(
        'Save parameter values (with their clock stamps) to `state.sealed` and restore them at start.',
      ),
    saveDelayMs: z
      .number()
      .int()
      .min(0)
      .max(60000)
      .default(250)
      .describe(
        'A change is saved this long after it happens; changes within the delay share one save. While changes keep coming, saves are spaced 4× this apart (1 s by default: what a kill can lose in a stream); saves are also spaced to 4× the time one takes (with a passphrase, scrypt makes a save ≈0.1–0.2 s).',
      ),
  })
  .strict();
export type StorageConfig = z.infer<typeof StorageConfig>;

/** A writer is named by its source: `cli`, `ui`, `scene:<name>`, `peer:<id>`, `osc:udp:<addr>:<port>`, `midi:<port>`, `plugin:<id>`. */
const SourcePrefix = z
  .string()
  .min(1)
  .max(128)
  .regex(/^(\*|[a-z]+(:.*)?)$/, 'a writer prefix such as "peer", "cli", "osc:udp" or "*"');

export const AuditConfig = z
  .object({
    enabled: z.boolean().default(true).describe('Record applied changes in `audit/` in the home.'),
    sources: z
      .array(SourcePrefix)
      .max(64)
      .default(['peer', 'cli', 'ui', 'scene', 'sync:correction'])
      .describe(
        'Writers whose changes are recorded, by prefix of their source (`osc`, `osc:udp`, `midi`, `peer`, `cli`, `ui` (the console), `scene`, `plugin`, or `*` for all). OSC, MIDI and plugins are off by default: faders and plugins (an LFO) write many times a second.',
      ),
    maxFileBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(4 * 1024 * 1024)
      .describe('A file that reaches this size is closed and a new one started.'),
    fileHours: z
      .number()
      .positive()
      .max(24 * 365)
      .default(6)
      .describe(
        'A file older than this is closed and a new one started, so old records can be pruned on time.',
      ),
    maxAgeHours: z
      .number()
      .positive()
      .max(24 * 3650)
      .default(48)
      .describe('Files whose newest record is older than this are deleted.'),
    maxFiles: z
      .number()
      .int()
      .min(1)
      .max(10000)
      .default(16)
      .describe('At most this many audit files are kept; the oldest go first.'),
    queueLimit: z
      .number()
      .int()
      .min(16)
      .max(1000000)
      .default(10000)
      .describe('Records waiting to be written, at most; beyond it records are dropped and counted.'),
    coalesceMs: z
      .number()
      .int()
      .min(0)
      .max(3_600_000)
      .default(1000)
      .describe(
        "For plugins and peers (whose writes may be their plugins'), per writer and parameter: the first change is recorded at once and the ones after it within this window become one record (the last value, with their count), so an LFO writing 20 times a second costs two records a second, not twenty. Other writers are recorded one change each. 0: one record per change.",
      ),
  })
  .strict();
export type AuditConfig = z.infer<typeof AuditConfig>;
