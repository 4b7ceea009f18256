import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { LinkConfig } from '../../../daemon/config/link-schema.ts';
import { createLinkManager } from '../../../daemon/link/manager.ts';
import type { DtlsSession } from '../../../protocols/dtls/endpoint.ts';
import type { Remote } from '../../../protocols/osc/udp.ts';
import { deviceIdFromCertDer, formatDeviceId } from '../../../trust-store/device-id.ts';
import { createIdentity, type Identity } from '../../../trust-store/identity.ts';
import { openPeerStore, type PeerStore } from '../../../trust-store/peers.ts';

// Dial targets carry a device-ID hint from mDNS, i.e. from anyone on the LAN. Whatever it says,
// it must neither crash the daemon nor stop a dial: only a handshake at that address can.

const log = pino({ level: 'silent' });
const settle = (ms = 320) => new Promise((r) => setTimeout(r, ms)); // > one 250 ms dial tick

let dir: string;
let identity: Identity;
let store: PeerStore;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hana-targets-'));
  identity = await createIdentity();
  const opened = await openPeerStore(join(dir, 'peers.json'));
  assert.ok(opened.ok);
  store = opened.store;
});
after(() => rm(dir, { recursive: true, force: true }));

function setup(presentDer?: Uint8Array) {
  const dials: string[] = [];
  let clock = 1_000_000;
  const links = createLinkManager({
    config: LinkConfig.parse({}),
    identity,
    name: 'me',
    store,
    log,
    security: log,
    now: () => clock,
    dial: (r: Remote) => {
      dials.push(`${r.address}:${r.port}`);
      // A completed handshake (what presented it is all the manager reads) or one that fails.
      return presentDer
        ? Promise.resolve({ peerCertDer: presentDer, remote: r } as unknown as DtlsSession)
        : Promise.reject(new Error('no answer'));
    },
  });
  return {
    links,
    dials,
    advance(ms: number) {
      clock += ms;
    },
  };
}

describe('link targets from unauthenticated hints', () => {
  it('a hint that is not a device ID is ignored, never thrown, and the address is dialled', async () => {
    const { links, dials } = setup();
    try {
      for (const hint of ['NOT-A-DEVICE-ID', '', 'x'.repeat(10_000), 42, null, { toString: 1 }]) {
        assert.doesNotThrow(() => links.addTarget({ address: '127.0.0.1', port: 40001 }, hint as string));
      }
      assert.doesNotThrow(() => links.addTarget({ address: '127.0.0.1', port: 40002 }, 'NOT-A-DEVICE-ID'));
      assert.deepEqual(dials, ['127.0.0.1:40001', '127.0.0.1:40002']);
      await settle();
    } finally {
      await links.close();
    }
  });

  it('a hint naming a blocked device does not stop dialling that address', async () => {
    const blocked = formatDeviceId(randomBytes(32));
    await store.block(blocked);
    const { links, dials } = setup();
    try {
      links.addTarget({ address: '127.0.0.1', port: 40003 }, blocked);
      assert.deepEqual(dials, ['127.0.0.1:40003']);
    } finally {
      await links.close();
    }
  });

  it('an address whose handshake presented a blocked device waits until a new hint or an unblock', async () => {
    const der = randomBytes(64);
    const id = deviceIdFromCertDer(der);
    await store.block(id);
    const { links, dials, advance } = setup(der);
    const at = { address: '127.0.0.1', port: 40004 };
    try {
      links.addTarget(at, id);
      await settle();
      advance(120_000);
      await settle();
      assert.equal(dials.length, 1, 'not redialled while the device it presented stays blocked');
      // Another device may have taken the address; a hint can only make us look, never stop us.
      links.addTarget(at, formatDeviceId(randomBytes(32)));
      advance(120_000);
      await settle();
      assert.equal(dials.length, 2, 'a different hint brings one more dial');
      advance(120_000);
      await settle();
      assert.equal(dials.length, 2);
      await store.allow(id);
      advance(120_000);
      await settle();
      assert.equal(dials.length, 3, 'dialled again once unblocked');
    } finally {
      await links.close();
    }
  });

  it('caps the dial table: a flood of forged addresses evicts strangers, never configured peers', async () => {
    const { links, dials, advance } = setup();
    try {
      links.addTarget({ address: '127.0.0.2', port: 7400 }, undefined, true);
      for (let i = 0; i < 800; i++) links.addTarget({ address: '127.0.0.3', port: 20_000 + i });
      assert.equal(links.stats().targets, 256);
      await settle();
      const configured = () => dials.filter((d) => d === '127.0.0.2:7400').length;
      const first = configured();
      assert.equal(first, 1);
      advance(60_000); // past every backoff: whatever is still in the table is dialled again
      await settle();
      assert.equal(configured(), 2, 'the configured peer survived the flood and is redialled');
      assert.ok(dials.includes('127.0.0.3:20799'), 'the newest forged address got a slot');
    } finally {
      await links.close();
    }
  });

  it('a goodbye (unauthenticated) never removes a configured address', async () => {
    const { links, dials, advance } = setup();
    try {
      links.addTarget({ address: '127.0.0.4', port: 7400 }, undefined, true);
      links.addTarget({ address: '127.0.0.5', port: 7400 });
      await settle();
      links.removeTarget({ address: '127.0.0.4', port: 7400 });
      links.removeTarget({ address: '127.0.0.5', port: 7400 });
      assert.equal(links.stats().targets, 1);
      advance(60_000);
      await settle();
      assert.equal(dials.filter((d) => d === '127.0.0.4:7400').length, 2);
      assert.equal(dials.filter((d) => d === '127.0.0.5:7400').length, 1);
    } finally {
      await links.close();
    }
  });
});
