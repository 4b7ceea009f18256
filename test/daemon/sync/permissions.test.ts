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

// Who may change what, judged against a real peer store on disk: roles, pin states, write
// scopes by full device ID and by short ID, and the rules for relayed writes.

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
      assert.deepEqual(perms.judge(PERFORMER, PERFORMER, path), { ok: true });
    }
  });

  it('an observer may not write', () => {
    refused(perms.judge(OBSERVER, OBSERVER, '/tempo'), 'observer-write');
    refused(perms.judge(OBSERVER, PERFORMER, '/tempo'), 'observer-write');
  });

  it('a scope given by full device ID admits its paths and refuses the rest', () => {
    assert.deepEqual(perms.judge(SCOPED, SCOPED, '/layer/2/hue'), { ok: true });
    assert.deepEqual(perms.judge(SCOPED, SCOPED, '/layer/2/opacity'), { ok: true });
    refused(perms.judge(SCOPED, SCOPED, '/layer/1/hue'), 'out-of-scope');
    refused(perms.judge(SCOPED, SCOPED, '/layer/2'), 'out-of-scope');
    refused(perms.judge(SCOPED, SCOPED, '/tempo'), 'out-of-scope');
  });

  it('a scope given by the short ID (first group) admits its paths and refuses the rest', () => {
    assert.deepEqual(perms.judge(SHORT_SCOPED, SHORT_SCOPED, '/fx/a'), { ok: true });
    assert.deepEqual(perms.judge(SHORT_SCOPED, SHORT_SCOPED, '/tempo'), { ok: true });
    refused(perms.judge(SHORT_SCOPED, SHORT_SCOPED, '/fx/c'), 'out-of-scope');
    refused(perms.judge(SHORT_SCOPED, SHORT_SCOPED, '/layer/2/hue'), 'out-of-scope');
  });

  it('a scoped performer may not pass on anyone else’s write, even inside its scope', () => {
    refused(perms.judge(SCOPED, PERFORMER, '/layer/2/hue'), 'relay-refused');
    refused(perms.judge(SCOPED, SELF, '/layer/2/hue'), 'relay-refused');
    refused(perms.judge(SHORT_SCOPED, OTHER, '/tempo'), 'relay-refused');
  });

  it('an unscoped performer may relay writes of performers, of unknown daemons and our own', () => {
    assert.deepEqual(perms.judge(PERFORMER, OTHER, '/tempo'), { ok: true });
    assert.deepEqual(perms.judge(PERFORMER, SELF, '/tempo'), { ok: true });
    assert.deepEqual(perms.judge(PERFORMER, STRANGER, '/tempo'), { ok: true });
    // A scoped writer's own write, relayed: the relay rule looks at role and pin state only.
    assert.deepEqual(perms.judge(PERFORMER, SCOPED, '/layer/2/hue'), { ok: true });
  });

  it('a relayed write by a blocked daemon or an observer is refused', () => {
    refused(perms.judge(PERFORMER, BLOCKED, '/tempo'), 'relay-refused');
    refused(perms.judge(PERFORMER, BLOCKED_PERFORMER, '/tempo'), 'relay-refused');
    refused(perms.judge(PERFORMER, OBSERVER, '/tempo'), 'relay-refused');
  });

  it('a sender that is not a trusted peer is refused whatever it sends', () => {
    for (const sender of [PENDING, BLOCKED, BLOCKED_PERFORMER, STRANGER]) {
      refused(perms.judge(sender, sender, '/tempo'), 'not-trusted');
      refused(perms.judge(sender, PERFORMER, '/tempo'), 'not-trusted');
    }
  });

  it('sees role and pin changes at once (reads the live store)', async () => {
    const id = idOf('promoted later');
    await peers.pin({ id, name: 'later', state: 'pending' });
    refused(perms.judge(id, id, '/tempo'), 'not-trusted');
    await peers.allow(id, 'observer');
    refused(perms.judge(id, id, '/tempo'), 'observer-write');
    await peers.allow(id, 'performer');
    assert.deepEqual(perms.judge(id, id, '/tempo'), { ok: true });
    await peers.block(id);
    refused(perms.judge(id, id, '/tempo'), 'not-trusted');
  });

  it('a relayed write whose writer is not a device ID is refused, not thrown', () => {
    // Stamps come off the wire: the writer field is any string up to 255 bytes. The verdict
    // must be a typed refusal; an exception here escapes the whole receive path.
    for (const writer of ['', 'garbage', 'x'.repeat(255), `${OTHER}x`]) {
      let verdict: Verdict | undefined;
      assert.doesNotThrow(
        () => {
          verdict = perms.judge(PERFORMER, writer, '/tempo');
        },
        `writer ${JSON.stringify(writer.slice(0, 20))}`,
      );
      refused(verdict!, 'relay-refused');
    }
  });
});
