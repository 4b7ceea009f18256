import type { Identity } from '../../trust-store/identity.ts';
import {
  loadPreviousIdentity,
  previousIdentityPath,
  removePreviousIdentity,
  savePreviousIdentity,
} from '../../trust-store/previous-identity.ts';
import { signRotation } from '../link/binding.ts';
import type { PendingRotation } from '../link/rotation-acks.ts';
import type { Logger } from '../log.ts';

// Where this daemon's own rotation lives between the link layer (which tells it until each
// pinned peer acks: daemon/link/rotation-acks.ts) and the home (which keeps the old key until
// then: trust-store/previous-identity.ts).

/** The rotation from `previous` to `next`, owed to every peer pinned trusted now. */
export function newRotation(previous: Identity, next: Identity, pending: readonly string[]): PendingRotation {
  return {
    previous,
    nextId: next.deviceId,
    nextCertDer: next.certDer,
    sig: signRotation(previous.keyPem, previous.certDer, next.certDer),
    rotatedAt: new Date().toISOString(),
    pending,
  };
}

export function rotationSaver(home: string) {
  return async (p: PendingRotation | undefined): Promise<void> => {
    if (p === undefined) {
      await removePreviousIdentity(home);
      return;
    }
    await savePreviousIdentity(home, {
      identity: p.previous,
      next: p.nextId,
      rotatedAt: p.rotatedAt,
      pending: p.pending,
    });
  };
}

/**
 * The rotation a previous run left unfinished, to resume announcing. A file about another
 * identity is not resumed: the old key of the current identity (a crash between writing it
 * and the new identity.json) is deleted, anything else left for the operator.
 */
export async function keptRotation(o: {
  home: string;
  current: Identity;
  log: Logger;
  security: Logger;
}): Promise<PendingRotation | undefined> {
  const path = previousIdentityPath(o.home);
  const loaded = await loadPreviousIdentity(o.home);
  if (!loaded.ok) {
    o.security.error(
      { event: 'identity.previous-unusable', path },
      `${loaded.error}; peers that missed the last rotation will see a key change until it is fixed`,
    );
    return undefined;
  }
  const kept = loaded.previous;
  if (kept === undefined) return undefined;
  if (kept.identity.deviceId === o.current.deviceId) {
    await removePreviousIdentity(o.home);
    o.log.warn(
      { event: 'identity.previous-stale', deviceId: kept.identity.deviceId },
      `${path} held the current identity (a rotation that did not finish): removed`,
    );
    return undefined;
  }
  if (kept.next !== o.current.deviceId) {
    o.security.warn(
      { event: 'identity.previous-mismatch', next: kept.next, deviceId: o.current.deviceId },
      `${path} is about a rotation to ${kept.next}, but this daemon is ${o.current.deviceId}: not announced; move it away if it is not needed`,
    );
    return undefined;
  }
  return { ...newRotation(kept.identity, o.current, kept.pending), rotatedAt: kept.rotatedAt };
}
