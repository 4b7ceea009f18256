import assert from 'node:assert/strict';
import { verify, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { createKeyDirectory } from '../../../daemon/sync/keys.ts';
import { createSigner } from '../../../daemon/sync/signer.ts';
import {
  encodeEntryList,
  MAX_ENTRY_LIST_BYTES,
  type SyncEntry,
  signedBytes,
} from '../../../daemon/sync/v2/codec.ts';
import { createIdentity } from '../../../trust-store/identity.ts';

// The signer with real identities (ECDSA P-256, device ID = certificate hash). Node's ECDSA
// signatures are randomised, so two signatures of one list are equal only when the second came
// from the cache: that is how these tests tell a cache hit from a fresh signature.

const [first, second] = await Promise.all([createIdentity(), createIdentity()]);

const listOf = (...values: number[]): Uint8Array =>
  encodeEntryList(
    values.map(
      (v, i): SyncEntry => ({
        path: `/p/${i}`,
        value: v,
        stamp: { t: 1_763_800_000_000, c: i, node: first.deviceId },
      }),
    ),
    MAX_ENTRY_LIST_BYTES,
  );

/** Checks a signature straight against the certificate's public key, not through keys.ts. */
function verifiesWith(cert: Uint8Array, origin: string, list: Uint8Array, sig: Uint8Array): boolean {
  const key = new X509Certificate(cert).publicKey;
  return verify('sha256', signedBytes(origin, list), { key, dsaEncoding: 'ieee-p1363' }, sig);
}

describe('signer', () => {
  it('signs with the identity’s key: 64 bytes that verify against its certificate and nothing else', () => {
    const signer = createSigner(() => first);
    const list = listOf(1, 2, 3);
    const sig = signer.sign(list);
    assert.equal(sig.length, 64);
    assert.ok(verifiesWith(first.certDer, first.deviceId, list, sig));
    assert.ok(!verifiesWith(second.certDer, first.deviceId, list, sig), 'another device’s key');
    assert.ok(
      !verifiesWith(first.certDer, second.deviceId, list, sig),
      'the origin is inside what is signed',
    );
    const keys = createKeyDirectory();
    assert.ok(keys.learn(first.certDer).ok);
    assert.equal(keys.verify({ origin: first.deviceId, list, sig }), 'ok');
  });

  it('returns the cached signature for the same list, wherever its bytes sit, and a fresh one for another list', () => {
    const signer = createSigner(() => first);
    const list = listOf(1, 2);
    const sig = signer.sign(list);
    assert.deepEqual(signer.sign(list.slice()), sig, 'the same bytes: one signature for every linked peer');
    // The same bytes inside a larger buffer (as a view on a datagram would be).
    const padded = new Uint8Array(list.length + 10);
    padded.set(list, 5);
    assert.deepEqual(signer.sign(padded.subarray(5, 5 + list.length)), sig);
    const other = listOf(1, 3);
    const otherSig = signer.sign(other);
    assert.notDeepEqual(otherSig, sig);
    assert.ok(verifiesWith(first.certDer, first.deviceId, other, otherSig));
  });

  it('signs again with the new key after the identity changes (a rotation), and the old key’s cache is gone', () => {
    let identity = first;
    const signer = createSigner(() => identity);
    const list = listOf(7);
    const before = signer.sign(list);
    identity = second;
    const after = signer.sign(list);
    assert.notDeepEqual(after, before);
    assert.ok(verifiesWith(second.certDer, second.deviceId, list, after), 'signed as the new device');
    assert.ok(!verifiesWith(first.certDer, first.deviceId, list, after));
    // Back to the first identity: a fresh signature, not one cached before the change.
    identity = first;
    const again = signer.sign(list);
    assert.notDeepEqual(again, before);
    assert.ok(verifiesWith(first.certDer, first.deviceId, list, again));
  });

  it('keeps a bounded cache: the oldest list is signed afresh after 32 others', () => {
    const signer = createSigner(() => first);
    const lists = Array.from({ length: 33 }, (_, i) => listOf(i));
    const sigs = lists.map((l) => signer.sign(l));
    assert.deepEqual(signer.sign(lists[32]!), sigs[32], 'the newest is cached');
    const resigned = signer.sign(lists[0]!);
    assert.notDeepEqual(resigned, sigs[0], 'the oldest was evicted');
    assert.ok(verifiesWith(first.certDer, first.deviceId, lists[0]!, resigned));
  });
});
