import { createHash } from 'node:crypto';
import { requireDeviceId } from './device-id.ts';
import type { Peer, PeerStore } from './peers.ts';

// The one place a connecting device is judged. Called after the handshake has proven the peer
// holds the private key of the certificate whose hash is `presentedId` (werift-dtls does not
// check that itself; see DESIGN.md §1): this function decides only whether that identity is welcome.

export type TrustPolicy = 'pair' | 'accept-new' | 'confirm' | 'strict';

export type RefuseReason = 'own-id' | 'blocked' | 'pending' | 'unknown-strict' | 'key-change';

export type Decision =
  | { kind: 'accept'; peer: Peer }
  | { kind: 'pin-new'; state: 'trusted' | 'pending' }
  /** Not pinned and not written anywhere: the link waits for a pairing code or the operator. */
  | { kind: 'unpaired' }
  | { kind: 'refuse'; reason: RefuseReason; detail: string; pinnedId?: string };

export function decide(input: {
  presentedId: string;
  claimedName: string;
  ownId: string;
  policy: TrustPolicy;
  store: PeerStore;
}): Decision {
  const presentedId = requireDeviceId(input.presentedId, 'presented device ID');
  const ownId = requireDeviceId(input.ownId, 'own device ID');
  if (presentedId === ownId) {
    return {
      kind: 'refuse',
      reason: 'own-id',
      detail: `${presentedId} is this daemon's own ID: a loop or a stolen key`,
    };
  }
  const known = input.store.get(presentedId);
  if (known !== undefined) {
    if (known.state === 'blocked')
      return {
        kind: 'refuse',
        reason: 'blocked',
        detail: `${presentedId} (${JSON.stringify(known.name)}) is blocked`,
      };
    if (known.state === 'pending') {
      return {
        kind: 'refuse',
        reason: 'pending',
        detail: `${presentedId} (${JSON.stringify(known.name)}) is waiting for the operator to allow it`,
      };
    }
    return { kind: 'accept', peer: known };
  }
  // A new certificate under a pinned name is a key change whatever the policy: accepting it as
  // a new peer is exactly how an impostor would take a trusted device's place.
  const sameName = input.store.findByName(input.claimedName);
  if (sameName !== undefined && sameName.state !== 'blocked' && sameName.id !== presentedId) {
    return {
      kind: 'refuse',
      reason: 'key-change',
      detail: `${JSON.stringify(input.claimedName.slice(0, 64))} is pinned as ${sameName.id} but presented ${presentedId}: held until the operator allows or blocks it`,
      pinnedId: sameName.id,
    };
  }
  switch (input.policy) {
    case 'strict':
      return {
        kind: 'refuse',
        reason: 'unknown-strict',
        detail: `${presentedId} is not pinned and the trust policy is strict`,
      };
    case 'accept-new':
      return { kind: 'pin-new', state: 'trusted' };
    case 'confirm':
      return { kind: 'pin-new', state: 'pending' };
    case 'pair':
      return { kind: 'unpaired' };
    default:
      throw new Error(`unknown trust policy ${JSON.stringify(input.policy satisfies never)}`);
  }
}

const CODE_CONTEXT = new TextEncoder().encode('hana confirm code v1\0');

/**
 * The 6 digits both operators compare before allowing a pending peer. `sessionBinding` must be
 * unique to this session (the DTLS exporter): then a device in the middle, holding two
 * sessions with different bindings, shows codes that match only by a one-in-a-million chance.
 */
export function confirmCode(idA: string, idB: string, sessionBinding: Uint8Array): string {
  if (sessionBinding.length < 16) {
    throw new RangeError(`a session binding needs at least 16 bytes, got ${sessionBinding.length}`);
  }
  const [low, high] = [requireDeviceId(idA, 'device ID'), requireDeviceId(idB, 'device ID')].sort();
  const digest = createHash('sha256')
    .update(CODE_CONTEXT)
    .update(`${low}\0${high}\0`)
    .update(sessionBinding)
    .digest();
  // 2^64 mod 10^6 is negligible next to 2^64, so the digits are uniform for all practical purposes.
  return (digest.readBigUInt64BE(0) % 1_000_000n).toString().padStart(6, '0');
}
