import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { formatDeviceId } from '../../trust-store/device-id.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import { confirmCode, type Decision, decide, type TrustPolicy } from '../../trust-store/policy.ts';
import { idOf, mustOpen } from './helpers.ts';

// The one trust decision: every branch under every policy, and the key change that no policy
// may treat as a new peer.

let dir: string;
let store: PeerStore;

const OWN = idOf('own');
const TRUSTED = idOf('trusted');
const PENDING = idOf('pending');
const BLOCKED = idOf('blocked');
const STRANGER = idOf('stranger');
const IMPOSTOR = idOf('impostor');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-policy-test-'));
  store = await mustOpen(join(dir, 'peers.json'));
  await store.pin({ id: TRUSTED, name: 'stage left', state: 'trusted', role: 'performer' });
  await store.pin({ id: PENDING, name: 'projector', state: 'pending', code: '123456' });
  await store.pin({ id: BLOCKED, name: 'old laptop', state: 'trusted' });
  await store.block(BLOCKED);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const POLICIES: TrustPolicy[] = ['accept-new', 'confirm', 'strict'];

type Expect = Decision['kind'] | `refuse:${string}` | `pin-new:${string}`;

function summary(d: Decision): Expect {
  if (d.kind === 'refuse') return `refuse:${d.reason}`;
  if (d.kind === 'pin-new') return `pin-new:${d.state}`;
  return 'accept';
}

// [case, presented ID, claimed name, expected under accept-new, confirm, strict]
const TABLE: [string, string, string, Expect, Expect, Expect][] = [
  ['our own ID', OWN, 'me', 'refuse:own-id', 'refuse:own-id', 'refuse:own-id'],
  ['our own ID under a pinned name', OWN, 'stage left', 'refuse:own-id', 'refuse:own-id', 'refuse:own-id'],
  ['a blocked peer', BLOCKED, 'old laptop', 'refuse:blocked', 'refuse:blocked', 'refuse:blocked'],
  ['a pending peer', PENDING, 'projector', 'refuse:pending', 'refuse:pending', 'refuse:pending'],
  ['a trusted peer', TRUSTED, 'stage left', 'accept', 'accept', 'accept'],
  ['a trusted peer under a new name', TRUSTED, 'renamed', 'accept', 'accept', 'accept'],
  [
    'a new key under a trusted name',
    IMPOSTOR,
    'stage left',
    'refuse:key-change',
    'refuse:key-change',
    'refuse:key-change',
  ],
  [
    'a new key under a pending name',
    IMPOSTOR,
    'projector',
    'refuse:key-change',
    'refuse:key-change',
    'refuse:key-change',
  ],
  [
    'a new key under a name in other case',
    IMPOSTOR,
    'STAGE LEFT',
    'refuse:key-change',
    'refuse:key-change',
    'refuse:key-change',
  ],
  [
    'a new key under a blocked name',
    STRANGER,
    'old laptop',
    'pin-new:trusted',
    'pin-new:pending',
    'refuse:unknown-strict',
  ],
  ['a stranger', STRANGER, 'new screen', 'pin-new:trusted', 'pin-new:pending', 'refuse:unknown-strict'],
];

describe('decide', () => {
  for (const [what, presentedId, claimedName, ...expected] of TABLE) {
    POLICIES.forEach((policy, i) => {
      it(`${what} under ${policy}: ${expected[i]}`, () => {
        const d = decide({ presentedId, claimedName, ownId: OWN, policy, store });
        assert.equal(summary(d), expected[i]);
      });
    });
  }

  it('names both IDs in a key change, in every policy', () => {
    for (const policy of POLICIES) {
      const d = decide({ presentedId: IMPOSTOR, claimedName: 'stage left', ownId: OWN, policy, store });
      assert.equal(d.kind, 'refuse');
      if (d.kind !== 'refuse') return;
      assert.equal(d.pinnedId, TRUSTED);
      assert.ok(d.detail.includes(TRUSTED) && d.detail.includes(IMPOSTOR), d.detail);
      assert.ok(d.detail.includes('"stage left"'), d.detail);
    }
  });

  it('accepts with the stored peer and compares IDs in any spelling', () => {
    const d = decide({
      presentedId: TRUSTED.toLowerCase().replace(/-/g, ''),
      claimedName: 'stage left',
      ownId: OWN.toLowerCase(),
      policy: 'strict',
      store,
    });
    assert.deepEqual(d, { kind: 'accept', peer: store.get(TRUSTED) });
    const own = decide({
      presentedId: OWN,
      claimedName: 'x',
      ownId: OWN.toLowerCase(),
      policy: 'accept-new',
      store,
    });
    assert.equal(summary(own), 'refuse:own-id');
  });

  it('keeps refusing a held key change until the operator decides', async () => {
    await store.hold({ name: 'stage left', presentedId: IMPOSTOR, pinnedId: TRUSTED });
    const d = decide({
      presentedId: IMPOSTOR,
      claimedName: 'stage left',
      ownId: OWN,
      policy: 'accept-new',
      store,
    });
    assert.equal(summary(d), 'refuse:key-change');
    await store.forget(IMPOSTOR);
  });

  it('escapes the claimed name in the detail', () => {
    const d = decide({
      presentedId: IMPOSTOR,
      claimedName: 'stage left',
      ownId: OWN,
      policy: 'strict',
      store,
    });
    assert.equal(d.kind, 'refuse');
    const odd = decide({
      presentedId: STRANGER,
      claimedName: 'x\u001b[2J',
      ownId: OWN,
      policy: 'strict',
      store,
    });
    assert.ok(odd.kind === 'refuse' && !odd.detail.includes('\u001b'));
  });

  it('throws on an ID that is not a device ID', () => {
    assert.throws(
      () => decide({ presentedId: 'nope', claimedName: 'x', ownId: OWN, policy: 'strict', store }),
      { code: 'invalid-device-id' },
    );
  });
});

describe('confirmCode', () => {
  const binding = Uint8Array.from({ length: 32 }, (_, i) => i);

  it('matches an independently computed vector', () => {
    // Python: sha256(b"hana confirm code v1\0" + low + b"\0" + high + b"\0" + bytes(range(32))),
    // first 8 bytes big-endian mod 10^6.
    assert.equal(confirmCode(idOf('a'), idOf('b'), binding), '060171');
  });

  it('is the same on both sides, and six digits', () => {
    const bytes = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(
      fc.property(bytes, bytes, fc.uint8Array({ minLength: 16, maxLength: 64 }), (a, b, bind) => {
        const [idA, idB] = [formatDeviceId(a), formatDeviceId(b)];
        const code = confirmCode(idA, idB, bind);
        assert.match(code, /^\d{6}$/);
        assert.equal(confirmCode(idB, idA, bind), code);
        assert.equal(confirmCode(idA.toLowerCase(), idB.replace(/-/g, ' '), bind), code);
      }),
    );
  });

  it('changes with the session binding and with either ID', () => {
    const [a, b, c] = [idOf('a'), idOf('b'), idOf('c')];
    const base = confirmCode(a, b, binding);
    const other = Uint8Array.from(binding);
    other[31] = binding[31]! ^ 1;
    assert.notEqual(confirmCode(a, b, other), base);
    assert.notEqual(confirmCode(a, c, binding), base);
    // Over many random bindings the codes spread out rather than repeating.
    const codes = new Set(Array.from({ length: 200 }, () => confirmCode(a, b, randomBytes(32))));
    assert.ok(codes.size > 195, `${codes.size} distinct codes of 200`);
  });

  it('refuses a binding too short to tie the code to a session', () => {
    assert.throws(() => confirmCode(idOf('a'), idOf('b'), new Uint8Array(8)), RangeError);
  });
});
