import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SyncConfig } from '../../../daemon/config/sync-schema.ts';
import { createPermissions, type Permissions, type Verdict } from '../../../daemon/sync/permissions.ts';
import { shortId } from '../../../trust-store/device-id.ts';
import type { PeerStore } from '../../../trust-store/peers.ts';
import { idOf, mustOpen } from '../../trust-store/helpers.ts';

// Who may change what, judged by a write's ORIGIN (the daemon that signed it) against a real
// peer store on disk: pin states, roles, and write scopes by full device ID and by short ID.
// The link a write came on plays no part here (gate.test.ts covers relays).

const SELF = idOf('self');
const PERFORMER = idOf('performer');
const OTHER = idOf('other performer');
const OBSERVER = idOf('observer');
const SCOPED = idOf('scoped by full id');
const SHORT_SCOPED = idOf('scoped by short id');
const PENDING = idOf('pending');
const BLOCKED = idOf('blocked');
const BLOCKED_PERFORMER = idOf('blocked performer');
const STRANGER = idOf('stranger');

let dir: string;
let peers: PeerStore;
let perms: Permissions;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-permissions-'));
  peers = await mustOpen(join(dir, 'peers.json'));
  const trusted = (id: string, name: string, role: 'performer' | 'observer') =>
    peers.pin({ id, name, state: 'trusted', role });
  await trusted(PERFORMER, 'performer', 'performer');
  await trusted(OTHER, 'other', 'performer');
  await trusted(OBSERVER, 'observer', 'observer');
  await trusted(SCOPED, 'scoped', 'performer');
  await trusted(SHORT_SCOPED, 'short-scoped', 'performer');
  await trusted(BLOCKED_PERFORMER, 'turncoat', 'performer');
  await peers.block(BLOCKED_PERFORMER);
  await peers.pin({ id: PENDING, name: 'pending', state: 'pending', role: 'performer' });
  await peers.block(BLOCKED);
  assert.notEqual(shortId(SHORT_SCOPED), shortId(SCOPED));
  const config = SyncConfig.parse({
    scopes: { [SCOPED]: ['/layer/2/*'], [shortId(SHORT_SCOPED)]: ['/fx/{a,b}', '/tempo'] },
  });
  perms = createPermissions(config, peers, (id) => id === SELF);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const refused = (v: Verdict, code: string) => {
  assert.equal(v.ok, false, `expected ${code}`);
  if (!v.ok) {
    assert.equal(v.code, code);
    assert.equal(typeof v.message, 'string');
    assert.ok(v.message.length > 0);
  }
};

describe('sync permissions', () => {
  it('a trusted performer without a scope may write any path', () => {
    for (const path of ['/tempo', '/layer/1/opacity', '/anything/at/all']) {
      assert.deepEqual(perms.judge(PERFORMER, path), { ok: true });
      assert.deepEqual(perms.judge(OTHER, path), { ok: true });
    }
  });

  it('this daemon’s own writes (relayed back to it) are always its own to make', () => {
    assert.deepEqual(perms.judge(SELF, '/tempo'), { ok: true });
  });

  it('an observer may not write', () => {
    refused(perms.judge(OBSERVER, '/tempo'), 'observer-write');
  });

  it('a scope given by full device ID admits its paths and refuses the rest', () => {
    assert.deepEqual(perms.judge(SCOPED, '/layer/2/hue'), { ok: true });
    assert.deepEqual(perms.judge(SCOPED, '/layer/2/opacity'), { ok: true });
    refused(perms.judge(SCOPED, '/layer/1/hue'), 'out-of-scope');
    refused(perms.judge(SCOPED, '/layer/2'), 'out-of-scope');
    refused(perms.judge(SCOPED, '/tempo'), 'out-of-scope');
  });

  it('a scope given by the short ID (first group) admits its paths and refuses the rest', () => {
    assert.deepEqual(perms.judge(SHORT_SCOPED, '/fx/a'), { ok: true });
    assert.deepEqual(perms.judge(SHORT_SCOPED, '/tempo'), { ok: true });
    refused(perms.judge(SHORT_SCOPED, '/fx/c'), 'out-of-scope');
    refused(perms.judge(SHORT_SCOPED, '/layer/2/hue'), 'out-of-scope');
  });

  it('a blocked origin is refused, whatever role it had', () => {
    refused(perms.judge(BLOCKED, '/tempo'), 'origin-blocked');
    refused(perms.judge(BLOCKED_PERFORMER, '/tempo'), 'origin-blocked');
  });

  it('a pending or unknown origin is not refused but held (unknown-origin)', () => {
    refused(perms.judge(PENDING, '/tempo'), 'unknown-origin');
    refused(perms.judge(STRANGER, '/tempo'), 'unknown-origin');
    assert.match((perms.judge(STRANGER, '/tempo') as { message: string }).message, /held until it is/);
  });

  it('sees role and pin changes at once (reads the live store)', async () => {
    const id = idOf('promoted later');
    refused(perms.judge(id, '/tempo'), 'unknown-origin');
    await peers.pin({ id, name: 'later', state: 'pending' });
    refused(perms.judge(id, '/tempo'), 'unknown-origin');
    await peers.allow(id, 'observer');
    refused(perms.judge(id, '/tempo'), 'observer-write');
    await peers.allow(id, 'performer');
    assert.deepEqual(perms.judge(id, '/tempo'), { ok: true });
    await peers.block(id);
    refused(perms.judge(id, '/tempo'), 'origin-blocked');
    await peers.forget(id);
    refused(perms.judge(id, '/tempo'), 'unknown-origin');
  });

  it('an origin that is not a device ID is refused, not thrown', () => {
    // A relayed batch's origin comes off the wire: any string of 1 to 64 bytes, from any
    // trusted peer (an observer too). The verdict must be a typed refusal; an exception here
    // escapes the service's receive path into the link's datagram handler.
    for (const origin of [
      'garbage',
      'x'.repeat(64),
      `${OTHER}x`,
      shortId(PERFORMER),
      '__proto__',
      'constructor',
    ]) {
      let verdict: Verdict | undefined;
      assert.doesNotThrow(
        () => {
          verdict = perms.judge(origin, '/tempo');
        },
        `origin ${JSON.stringify(origin.slice(0, 20))}`,
      );
      assert.equal(verdict?.ok, false, `origin ${JSON.stringify(origin.slice(0, 20))} is refused`);
    }
  });
});
