import { join } from 'node:path';
import type { z } from 'zod';
import { publicKeyFromBase64, publisherKeyId } from '../plugins/publisher-key.ts';
import { withLock } from './file-lock.ts';
import { readJsonFile, writeJsonFile } from './json-file.ts';
import {
  MAX_PUBLISHERS,
  type Publisher,
  PublisherName,
  PublishersFile,
  RevocationReason,
} from './publishers-schema.ts';

// Trusted plugin publishers, <home>/publishers.json (0600). A plugin runs only if its signature
// verifies under a key listed here and not revoked. The file is read afresh by every command and
// every plugin load (nothing is cached), so a revocation takes effect at the next load; each
// change is a locked read-modify-write, so the CLI and a daemon never lose each other's edits.
//
// Revocation is permanent for a key: `trust` refuses a revoked key unless `force` is given (an
// operator undoing a mistaken revoke), and a revoked entry is never removed, so a later plain
// `trust` of the same key — say, pasted from an old message — cannot quietly bring it back.

export type { Publisher } from './publishers-schema.ts';

export const publishersPath = (home: string) => join(home, 'publishers.json');

const NOT_RESET =
  'trust was not reset: fix or restore the file, or move it aside to start with no trusted publishers';

export type LoadPublishers = { ok: true; file: PublishersFile } | { ok: false; error: string };

export async function loadPublishers(home: string): Promise<LoadPublishers> {
  const r = await readJsonFile(publishersPath(home), {
    schema: PublishersFile,
    empty: { version: 1, publishers: [] },
    what: 'a valid publishers file',
    notReset: NOT_RESET,
  });
  return r.ok ? { ok: true, file: r.value } : r;
}

async function savePublishers(home: string, file: PublishersFile): Promise<void> {
  await writeJsonFile(publishersPath(home), PublishersFile, file, 'publishers file');
}

/** Key ID → base64 public key of every trusted, unrevoked publisher: what verifyPlugin takes. */
export function trustedKeys(file: PublishersFile): Map<string, string> {
  return new Map(file.publishers.filter((p) => !p.revoked).map((p) => [p.keyId, p.publicKey]));
}

export type PublisherStatus =
  | { state: 'trusted'; publisher: Publisher }
  | { state: 'revoked'; publisher: Publisher }
  | { state: 'unknown' };

export function publisherStatus(file: PublishersFile, keyId: string): PublisherStatus {
  const p = file.publishers.find((x) => x.keyId === keyId);
  if (!p) return { state: 'unknown' };
  return p.revoked ? { state: 'revoked', publisher: p } : { state: 'trusted', publisher: p };
}

export type PublisherCode =
  | 'unreadable'
  | 'busy'
  | 'invalid-key'
  | 'invalid-name'
  | 'invalid-reason'
  | 'revoked'
  | 'store-full'
  | 'unknown-publisher';
export type PublisherFailure = { ok: false; code: PublisherCode; error: string };

const failure = (code: PublisherCode, error: string): PublisherFailure => ({ ok: false, code, error });

/** Runs a change under the lock on a freshly loaded file; the change returns what to save, if anything. */
async function change<T extends { ok: true }>(
  home: string,
  fn: (file: PublishersFile) => { result: T | PublisherFailure; save?: PublishersFile },
): Promise<T | PublisherFailure> {
  const locked = await withLock(`${publishersPath(home)}.lock`, async () => {
    const loaded = await loadPublishers(home);
    if (!loaded.ok) return failure('unreadable', loaded.error);
    const { result, save } = fn(loaded.file);
    if (result.ok && save) await savePublishers(home, save);
    return result;
  });
  return locked.ok ? locked.value : failure('busy', locked.error);
}

export type TrustResult =
  | { ok: true; publisher: Publisher; change: 'added' | 'renamed' | 'unchanged' | 're-trusted' }
  | PublisherFailure;

function checked<T>(
  schema: z.ZodType<T>,
  value: unknown,
): { ok: true; value: T } | { ok: false; error: string } {
  const r = schema.safeParse(value);
  return r.success
    ? { ok: true, value: r.data }
    : { ok: false, error: r.error.issues[0]?.message ?? 'invalid' };
}

/**
 * Trusts a publisher's public key (base64 of the raw 32 bytes). Trusting a trusted key again
 * only renames it when a name is given. A revoked key needs `force`.
 */
export async function trustPublisher(
  home: string,
  opts: { publicKey: string; name?: string; force?: boolean },
  now: () => Date = () => new Date(),
): Promise<TrustResult> {
  const publicKey = opts.publicKey.trim();
  if (!publicKeyFromBase64(publicKey)) {
    return failure(
      'invalid-key',
      'not a publisher public key: expected the base64 of a raw 32-byte Ed25519 key (publisher.pub)',
    );
  }
  const keyId = publisherKeyId(Buffer.from(publicKey, 'base64'));
  let name: string | undefined;
  if (opts.name !== undefined) {
    const n = checked(PublisherName, opts.name);
    if (!n.ok) return failure('invalid-name', n.error);
    name = n.value;
  }
  return change<Extract<TrustResult, { ok: true }>>(home, (file) => {
    const i = file.publishers.findIndex((p) => p.keyId === keyId);
    const old = file.publishers[i];
    if (old?.revoked && !opts.force) {
      return {
        result: failure(
          'revoked',
          `publisher key ${keyId} (${old.name}) was revoked at ${old.revoked.at}${old.revoked.reason ? ` (${old.revoked.reason})` : ''}; a revoked key stays revoked: ask the publisher for a new key, or pass --force if the revocation was a mistake`,
        ),
      };
    }
    if (old && !old.revoked) {
      if (name === undefined || name === old.name)
        return { result: { ok: true, publisher: old, change: 'unchanged' } };
      const renamed = { ...old, name };
      return {
        result: { ok: true, publisher: renamed, change: 'renamed' },
        save: { ...file, publishers: file.publishers.map((p, j) => (j === i ? renamed : p)) },
      };
    }
    const fresh: Publisher = {
      keyId,
      publicKey,
      name: name ?? old?.name ?? `publisher ${keyId}`,
      trustedAt: now().toISOString(),
    };
    if (old) {
      return {
        result: { ok: true, publisher: fresh, change: 're-trusted' },
        save: { ...file, publishers: file.publishers.map((p, j) => (j === i ? fresh : p)) },
      };
    }
    if (file.publishers.length >= MAX_PUBLISHERS) {
      return {
        result: failure(
          'store-full',
          `${publishersPath(home)} already lists ${MAX_PUBLISHERS} publishers; revoke or remove some first`,
        ),
      };
    }
    return {
      result: { ok: true, publisher: fresh, change: 'added' },
      save: { ...file, publishers: [...file.publishers, fresh] },
    };
  });
}

export type RevokeResult = { ok: true; publisher: Publisher; already: boolean } | PublisherFailure;

/**
 * Revokes a key given by key ID or by public key. A public key not yet listed is recorded as
 * revoked, so it can never be trusted by accident later (a key ID alone is not enough for that).
 */
export async function revokePublisher(
  home: string,
  opts: { key: string; reason?: string },
  now: () => Date = () => new Date(),
): Promise<RevokeResult> {
  const key = opts.key.trim();
  const reason = checked(RevocationReason, opts.reason ?? '');
  if (!reason.ok) return failure('invalid-reason', reason.error);
  const asPublicKey = publicKeyFromBase64(key) ? key : undefined;
  const keyId = asPublicKey ? publisherKeyId(Buffer.from(asPublicKey, 'base64')) : key.toLowerCase();
  if (!asPublicKey && !/^[0-9a-f]{16}$/.test(keyId)) {
    return failure(
      'invalid-key',
      'give a publisher key ID (16 hex characters, see `hana publisher list`) or its public key',
    );
  }
  return change<Extract<RevokeResult, { ok: true }>>(home, (file) => {
    const i = file.publishers.findIndex((p) => p.keyId === keyId);
    const old = file.publishers[i];
    if (old?.revoked) return { result: { ok: true, publisher: old, already: true } };
    const revoked = { at: now().toISOString(), reason: reason.value };
    if (old) {
      const updated = { ...old, revoked };
      return {
        result: { ok: true, publisher: updated, already: false },
        save: { ...file, publishers: file.publishers.map((p, j) => (j === i ? updated : p)) },
      };
    }
    if (!asPublicKey) {
      return {
        result: failure(
          'unknown-publisher',
          `no publisher with key ID ${keyId} is listed; to revoke a key before it is ever trusted, give its public key`,
        ),
      };
    }
    if (file.publishers.length >= MAX_PUBLISHERS) {
      return {
        result: failure('store-full', `${publishersPath(home)} already lists ${MAX_PUBLISHERS} publishers`),
      };
    }
    const entry: Publisher = {
      keyId,
      publicKey: asPublicKey,
      name: `publisher ${keyId}`,
      trustedAt: revoked.at,
      revoked,
    };
    return {
      result: { ok: true, publisher: entry, already: false },
      save: { ...file, publishers: [...file.publishers, entry] },
    };
  });
}
