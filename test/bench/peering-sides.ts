// What peering.bench.ts times: one daemon's link side (fresh peers.json in a temp dir, a real
// DTLS endpoint on loopback, a link manager), with the moments it turned pending and trusted.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { LinkConfig } from '../../daemon/config/link-schema.ts';
import { createLinkManager, type LinkManager } from '../../daemon/link/manager.ts';
import { type DtlsEndpoint, type DtlsRejectCode, openDtlsEndpoint } from '../../protocols/dtls/endpoint.ts';
import type { Identity } from '../../trust-store/identity.ts';
import { openPeerStore } from '../../trust-store/peers.ts';
import { now } from './peer-link-common.ts';

/**
 * This bench's own tallies (peer-link-common's are shared with peer-link.bench, which runs
 * first), split by whether a timed span was running: teardown (one side closed, the other's
 * goodbye still in flight) draws `not-client-hello` rejections that cost no sample anything.
 */
export const rejected = {
  timed: new Map<DtlsRejectCode, number>(),
  teardown: new Map<DtlsRejectCode, number>(),
};
export const span = { timing: false };
export const warned: string[] = [];
export const onReject = (code: DtlsRejectCode) => {
  const tally = span.timing ? rejected.timed : rejected.teardown;
  tally.set(code, (tally.get(code) ?? 0) + 1);
};

export type Side = {
  manager: LinkManager;
  endpoint: DtlsEndpoint;
  /** The manager judged the peer unpaired (policy pair): its `peer.unpaired` line was written. */
  pendingAt: Promise<number>;
  /** The manager's onTrusted fired: sync would attach here. */
  trustedAt: Promise<number>;
  close(): Promise<void>;
};

export type Policy = 'pair' | 'accept-new';

function deferred(): { promise: Promise<number>; resolve: (t: number) => void } {
  let resolve!: (t: number) => void;
  const promise = new Promise<number>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export async function openSide(identity: Identity, name: string, policy: Policy): Promise<Side> {
  const dir = await mkdtemp(join(tmpdir(), 'hana-bench-peering-'));
  const closers: (() => unknown)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const opened = await openPeerStore(join(dir, 'peers.json'));
    if (!opened.ok) throw new Error(opened.error);
    const pending = deferred();
    const trusted = deferred();
    // Info level, as a daemon logs: the manager has no pending callback, and its `peer.unpaired`
    // line is written synchronously at the moment the link turns pending, so it is the probe
    // (polling stats() would add its interval to the figure and its CPU to the CPU column).
    const log = pino(
      { level: 'info' },
      {
        write: (line: string) => {
          const entry = JSON.parse(line) as { event?: string; level: number };
          if (entry.event === 'peer.unpaired') pending.resolve(now());
          if (entry.level >= 40) warned.push(line);
        },
      },
    );
    let manager: LinkManager | undefined;
    const endpoint = await openDtlsEndpoint({
      host: '127.0.0.1',
      port: 0,
      credentials: identity,
      onSession: (s) => (manager ? manager.onSession(s) : s.close()),
      onReject,
    });
    closers.unshift(() => endpoint.close());
    const m = createLinkManager({
      config: LinkConfig.parse({ bind: '127.0.0.1', discovery: false, policy }),
      identity,
      name,
      store: opened.store,
      log,
      security: log.child({ security: true }),
      dial: (remote) => endpoint.connect(remote),
      onTrusted: () => trusted.resolve(now()),
    });
    manager = m;
    closers.unshift(() => m.close());
    return {
      manager: m,
      endpoint,
      pendingAt: pending.promise,
      trustedAt: trusted.promise,
      close: async () => {
        for (const close of closers) await close();
      },
    };
  } catch (err) {
    for (const close of closers) await close();
    throw err;
  }
}
