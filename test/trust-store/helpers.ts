import assert from 'node:assert/strict';
import { deviceIdFromCertDer } from '../../trust-store/device-id.ts';
import { openPeerStore, type PeerStore } from '../../trust-store/peers.ts';

// Shared by the trust-store tests: stable IDs from labels, and a clock the test moves.

export function idOf(label: string): string {
  return deviceIdFromCertDer(new TextEncoder().encode(`test certificate ${label}`));
}

export function fakeClock(start = '2026-11-22T10:00:00.000Z') {
  let t = Date.parse(start);
  return {
    now: () => new Date(t),
    advance: (ms: number) => {
      t += ms;
    },
    iso: () => new Date(t).toISOString(),
  };
}

export async function mustOpen(path: string, now?: () => Date): Promise<PeerStore> {
  const r = await openPeerStore(path, now);
  if (!r.ok) assert.fail(r.error);
  return r.store;
}

export async function rejectsWithCode(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  await assert.rejects(
    async () => (typeof p === 'function' ? p() : p),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, code, err.message);
      return true;
    },
  );
}
