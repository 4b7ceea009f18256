import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { shortId } from '../../trust-store/device-id.ts';
import { loadPreviousIdentity } from '../../trust-store/previous-identity.ts';
import {
  type HomeBinding,
  readSealed,
  type SealKey,
  sealedVersion,
  writeSealedAtomic,
} from '../../trust-store/sealed-file.ts';

// <home>/storage.check: a small file sealed with the storage key, opened first at every start.
// It proves the key before anything else is read, so a wrong passphrase is refused at start
// whatever other files the home holds (before it, a home with scenes but no state.sealed took
// any passphrase and failed only at `hana scene load`). It also says which sealed files are
// this home's: the device IDs the home has had (a key rotation adds one), the fingerprints of
// the files sealed before files named their device, and the secret the audit log is sealed with.

export const CHECK_FILE = 'storage.check';

const KEY_B64 = /^[A-Za-z0-9_-]{43}$/;
const CheckFile = z
  .object({
    format: z.literal('hana-storage-check'),
    version: z.literal(1),
    createdAt: z.string(),
    devices: z.array(z.string().min(1).max(255)).min(1).max(1000),
    /** 32 random bytes, base64url: the audit log's key material (daemon/audit/crypto.ts). */
    auditKey: z.string().regex(KEY_B64),
    /** Format-1 files present when the home was upgraded, by SHA-256 of their bytes. */
    legacy: z
      .array(z.object({ file: z.string().max(4096), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict())
      .max(100_000),
  })
  .strict();
type CheckFile = z.infer<typeof CheckFile>;

export type CheckCode = 'wrong-key' | 'other-device' | 'check-missing' | 'bad-check';

export type HomeCheck = {
  readonly path: string;
  readonly binding: HomeBinding;
  readonly auditKey: Uint8Array;
  /** 'created' on a new home, 'upgraded' on a home sealed before this file existed. */
  readonly opened: 'existing' | 'created' | 'upgraded';
  /** Format-1 files accepted as they are (re-sealed with the device at their next save). */
  readonly legacy: number;
  /** Adds a device this home is about to become (a key rotation), before identity.json changes. */
  addDevice(id: string): Promise<void>;
};

export type CheckInit = {
  home: string;
  key: SealKey;
  /** Where the key came from, to say which one is wrong: `$HANA_PASSPHRASE`, a file path. */
  keyOrigin: string;
  device: () => string;
  /** The home's sealed files (state, scenes): a new check must prove the key against them. */
  sealedFiles: () => Promise<string[]>;
  auditDir: string;
};

export type OpenCheck = { ok: true; check: HomeCheck } | { ok: false; code: CheckCode; error: string };

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const fail = (code: CheckCode, error: string): OpenCheck => ({ ok: false, code, error });

function wrongKey(init: CheckInit, path: string, what: string): string {
  const which =
    init.key.kind === 'passphrase'
      ? `the passphrase from ${init.keyOrigin} is not the one this home was set up with`
      : `the key file ${init.keyOrigin} is not the one this home was set up with`;
  const fix =
    init.key.kind === 'passphrase'
      ? 'start again with the right passphrase'
      : 'put back the key file from your backup (storage.key)';
  return `${which} (it does not open ${what}): ${fix}; if you are sure it is right, ${path} was damaged: restore it from a backup`;
}

function handle(init: CheckInit, path: string, file: CheckFile, opened: HomeCheck['opened']): HomeCheck {
  const devices = new Set(file.devices);
  const legacy = new Set(file.legacy.map((l) => l.sha256));
  const auditKey = new Uint8Array(Buffer.from(file.auditKey, 'base64url'));
  let writing: Promise<void> = Promise.resolve();
  return {
    path,
    auditKey,
    opened,
    legacy: file.legacy.length,
    binding: {
      get device() {
        return init.device();
      },
      knows: (d) => devices.has(d),
      knowsLegacy: (data) => legacy.size > 0 && legacy.has(sha256(data)),
    },
    addDevice(id) {
      // Writes are chained: two rotations must not race their renames.
      writing = writing.then(async () => {
        if (devices.has(id)) return;
        file.devices.push(id);
        await writeSealedAtomic(path, encode(file), init.key, init.device());
        devices.add(id);
      });
      return writing;
    },
  };
}

const encode = (file: CheckFile) => new TextEncoder().encode(JSON.stringify(file));

/** The sealed audit files (their key lives in the check, so they need it as much as scenes do). */
async function sealedAuditFiles(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.sealed'));
}

/** A home without storage.check: a new home, or one sealed by an older hana (upgraded here). */
async function create(init: CheckInit, path: string): Promise<OpenCheck> {
  const legacy: CheckFile['legacy'] = [];
  for (const file of await init.sealedFiles()) {
    if (file === path) continue;
    const data = await readFile(file).catch(() => undefined);
    const version = data && sealedVersion(data);
    if (version === undefined) continue;
    if (version !== 1) {
      // Written since storage.check existed: the check is lost, not yet to be made.
      return fail(
        'check-missing',
        `${path} is missing but ${file} was sealed alongside it: restore ${path} from your backup (or move the sealed files away to start afresh)`,
      );
    }
    legacy.push({ file: relative(init.home, file), sha256: sha256(data!) });
  }
  const audit = await sealedAuditFiles(init.auditDir);
  if (audit.length > 0) {
    return fail(
      'check-missing',
      `${path} is missing but the audit log in ${init.auditDir} was sealed with it: restore ${path} from your backup (or move ${init.auditDir} away to start a new log)`,
    );
  }
  if (legacy.length > 0) {
    // Never write a check under an unproven key: it would lock the real one out of every file.
    let proven = false;
    for (const l of legacy) {
      if ((await readSealed(join(init.home, l.file), init.key)).ok) {
        proven = true;
        break;
      }
    }
    if (!proven) {
      const what = `any of this home's ${legacy.length} sealed file(s), such as ${join(init.home, legacy[0]!.file)}`;
      return fail('wrong-key', wrongKey(init, join(init.home, legacy[0]!.file), what));
    }
  }
  const file: CheckFile = {
    format: 'hana-storage-check',
    version: 1,
    createdAt: new Date().toISOString(),
    devices: [init.device()],
    auditKey: randomBytes(32).toString('base64url'),
    legacy,
  };
  await writeSealedAtomic(path, encode(file), init.key, init.device());
  return { ok: true, check: handle(init, path, file, legacy.length > 0 ? 'upgraded' : 'created') };
}

/** Opens (or on a first start creates) the check; every refusal is one sentence that says what to do. */
export async function openHomeCheck(init: CheckInit): Promise<OpenCheck> {
  const path = join(init.home, CHECK_FILE);
  const read = await readSealed(path, init.key);
  if (!read.ok) {
    if (read.code === 'unreadable' && read.missing) return create(init, path);
    if (read.code === 'wrong-key-or-tampered') return fail('wrong-key', wrongKey(init, path, path));
    return fail('bad-check', `${read.error}; restore ${path} from your backup`);
  }
  let file: CheckFile;
  try {
    const parsed = CheckFile.safeParse(JSON.parse(new TextDecoder().decode(read.plaintext)));
    if (!parsed.success || read.device === null) throw new Error('not a storage check');
    file = parsed.data;
  } catch {
    return fail('bad-check', `${path} decrypts but is not a hana storage check: restore it from your backup`);
  }
  const current = init.device();
  if (!file.devices.includes(current)) {
    // A rotation that reached identity.json but not this file (a crash in between): the old
    // identity's record names the new one.
    const prev = await loadPreviousIdentity(init.home);
    const rotated =
      prev.ok &&
      prev.previous !== undefined &&
      prev.previous.next === current &&
      file.devices.includes(prev.previous.identity.deviceId);
    if (!rotated) {
      return fail(
        'other-device',
        `${path} was written by device ${shortId(read.device)}, not this one (${shortId(current)}): this home's sealed files come from another laptop; put back this laptop's own ${path}, or move it away with state.sealed, scenes/ and audit/ to start afresh`,
      );
    }
    const check = handle(init, path, file, 'existing');
    await check.addDevice(current);
    return { ok: true, check };
  }
  return { ok: true, check: handle(init, path, file, 'existing') };
}
