import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { pino } from 'pino';
import { LinkConfig } from '../../daemon/config/link-schema.ts';
import { createLinkManager, type LinkManager, type LinkManagerInit } from '../../daemon/link/manager.ts';
import type { Identity } from '../../trust-store/identity.ts';
import { openPeerStore, type PeerStore } from '../../trust-store/peers.ts';
import type { FakeClock } from './fake-timers.ts';

// One link manager for socket-free tests: its own peer store in a temp dir (removed when the
// file's tests are done), its log lines captured, time and timers from a fake clock, and no
// dialling (sessions are handed in, e.g. from link-sessions.ts).

export type ManagerSide = {
  m: LinkManager;
  store: PeerStore;
  id: Identity;
  /** The temp dir holding peers.json. */
  dir: string;
  /** Every log line, security ones with `security: true`. */
  lines: Record<string, unknown>[];
};

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

export async function managerSide(o: {
  identity: Identity;
  name: string;
  clock: FakeClock;
  /** Link config fields (LinkConfig defaults otherwise: policy pair). */
  config?: object;
  /** Further init fields (e.g. rotation hooks). */
  init?: Partial<LinkManagerInit>;
}): Promise<ManagerSide> {
  const dir = await mkdtemp(join(tmpdir(), 'hana-link-'));
  dirs.push(dir);
  const opened = await openPeerStore(join(dir, 'peers.json'));
  assert.ok(opened.ok);
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const m = createLinkManager({
    config: LinkConfig.parse(o.config ?? {}),
    identity: o.identity,
    name: o.name,
    store: opened.store,
    log,
    security: log.child({ security: true }),
    dial: () => Promise.reject(new Error('no dialling here')),
    now: o.clock.now,
    timers: o.clock.timers,
    ...o.init,
  });
  return { m, store: opened.store, id: o.identity, dir, lines };
}
