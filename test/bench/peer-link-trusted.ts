// Scenario 1 of peer-link.bench.ts: dial → trusted link on loopback (DTLS handshake + channel
// binding + trust decision) against the bare DTLS handshake of the same endpoint, in the same run.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinkConfig } from '../../daemon/config/link-schema.ts';
import { createLinkManager, type LinkManager } from '../../daemon/link/manager.ts';
import { type DtlsEndpoint, openDtlsEndpoint } from '../../protocols/dtls/endpoint.ts';
import type { Identity } from '../../trust-store/identity.ts';
import { openPeerStore } from '../../trust-store/peers.ts';
import { ascending, log, now, onReject, percentile, type Report, within } from './peer-link-common.ts';

export const LINKS = 50;
// The first handshakes pay for JIT and lazy crypto set-up; they are run but not counted.
export const WARMUP = 5;

// accept-new: this scenario times dial → trusted on first contact (pairing has its own bench, peering).
const linkConfig = LinkConfig.parse({ bind: '127.0.0.1', discovery: false, policy: 'accept-new' });

// Each dialler gets its own loopback source address, so the server's per-source handshake
// limit (5/s by default) is exercised as in production and never throttles the run.
const diallerAddress = (i: number) => `127.0.0.${10 + i}`;

/**
 * What is timed, on the dialling side: from the manager's call to dial() (endpoint.connect)
 * through the DTLS handshake, the exchange of `bind` messages, verification of the peer's
 * signature over the exporter, the policy decision (accept-new: first contact) and the fsync'd
 * write pinning the peer in a fresh peers.json, to onTrusted. Endpoint creation and identity
 * generation are outside the timing. "Both sides" waits for the server's onTrusted as well.
 */
async function timedLink(
  i: number,
  identity: Identity,
  serverPort: number,
  serverTrusted: (id: string) => Promise<number>,
): Promise<{ dialler: number; both: number; open: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'hana-bench-'));
  let manager: LinkManager | undefined;
  let endpoint: DtlsEndpoint | undefined;
  try {
    const opened = await openPeerStore(join(dir, 'peers.json'));
    if (!opened.ok) throw new Error(opened.error);
    let dialledAt = Number.NaN;
    let openAt = Number.NaN;
    let trusted!: (t: number) => void;
    const trustedAt = new Promise<number>((r) => {
      trusted = r;
    });
    endpoint = await openDtlsEndpoint({
      host: diallerAddress(i),
      port: 0,
      credentials: identity,
      onSession: (s) => (manager ? manager.onSession(s) : s.close()),
      onReject,
    });
    const ep = endpoint;
    manager = createLinkManager({
      config: linkConfig,
      identity,
      name: `bench-dialler-${i}`,
      store: opened.store,
      log,
      security: log,
      dial: (remote) => {
        dialledAt = now();
        return ep.connect(remote).then((s) => {
          openAt = now();
          return s;
        });
      },
      onTrusted: () => trusted(now()),
    });
    manager.addTarget({ address: '127.0.0.1', port: serverPort });
    const mine = await within(trustedAt, 10_000, `link ${i}`);
    const theirs = await within(serverTrusted(identity.deviceId), 10_000, `server side of link ${i}`);
    return { dialler: mine - dialledAt, both: Math.max(mine, theirs) - dialledAt, open: openAt - dialledAt };
  } finally {
    manager?.close();
    await endpoint?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The bare DTLS handshake: endpoint.connect until the session is open on the dialling side. */
async function timedHandshake(i: number, identity: Identity, serverPort: number): Promise<number> {
  const endpoint = await openDtlsEndpoint({
    host: diallerAddress(i),
    port: 0,
    credentials: identity,
    onSession: () => {},
    onReject,
  });
  try {
    const t0 = now();
    await within(endpoint.connect({ address: '127.0.0.1', port: serverPort }), 10_000, `handshake ${i}`);
    return now() - t0;
  } finally {
    await endpoint.close();
  }
}

export async function handshakeToTrusted(report: Report, ids: Identity[], server: Identity): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hana-bench-'));
  const closers: (() => unknown)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const opened = await openPeerStore(join(dir, 'peers.json'));
    if (!opened.ok) throw new Error(opened.error);
    const trustedAt = new Map<string, number>();
    const waiting = new Map<string, (t: number) => void>();
    const serverTrusted = (id: string) =>
      new Promise<number>((r) => {
        const t = trustedAt.get(id);
        if (t !== undefined) r(t);
        else waiting.set(id, r);
      });
    let manager: LinkManager | undefined;
    const linkServer = await openDtlsEndpoint({
      host: '127.0.0.1',
      port: 0,
      credentials: server,
      onSession: (s) => (manager ? manager.onSession(s) : s.close()),
      onReject,
    });
    closers.unshift(() => linkServer.close());
    manager = createLinkManager({
      config: linkConfig,
      identity: server,
      name: 'bench-server',
      store: opened.store,
      log,
      security: log,
      dial: (remote) => linkServer.connect(remote),
      onTrusted: (l) => {
        const t = now();
        trustedAt.set(l.peerId!, t);
        waiting.get(l.peerId!)?.(t);
      },
    });
    const m = manager;
    closers.unshift(() => m.close());
    const bareServer = await openDtlsEndpoint({
      host: '127.0.0.1',
      port: 0,
      credentials: server,
      onSession: () => {},
      onReject,
    });
    closers.unshift(() => bareServer.close());

    const bare: number[] = [];
    const dialler: number[] = [];
    const both: number[] = [];
    const open: number[] = [];
    // Round 0 runs the link first, in a process that has not run DTLS yet: what a daemon pays
    // for its first link after start (compare scenario 2's found→trusted).
    let cold = '';
    for (let i = 0; i < WARMUP + LINKS; i++) {
      const id = ids[i]!;
      // Alternate which goes first so neither always runs on a just-warmed path.
      const linkFirst = i % 2 === 0;
      const h0 = linkFirst ? Number.NaN : await timedHandshake(i, id, bareServer.port);
      const l = await timedLink(i, id, linkServer.port, serverTrusted);
      const h = linkFirst ? await timedHandshake(i, id, bareServer.port) : h0;
      if (i === 0) cold = `trusted ${l.dialler.toFixed(1)} ms (handshake ${l.open.toFixed(1)} ms of it)`;
      if (i < WARMUP) continue;
      bare.push(h);
      dialler.push(l.dialler);
      both.push(l.both);
      open.push(l.open);
    }
    const fmt = (xs: number[]) => {
      const s = ascending(xs);
      return `p50 ${percentile(s, 50).toFixed(1).padStart(5)} ms  p99 ${percentile(s, 99).toFixed(1).padStart(5)} ms`;
    };
    const med = (xs: number[]) => percentile(ascending(xs), 50);
    report(
      `handshake to trusted link on loopback (${LINKS} links, one at a time, ${WARMUP} warm-up not counted)`,
    );
    report(`  bare DTLS handshake (connect → open)           ${fmt(bare)}`);
    report(`  link trusted, dialling side (dial → onTrusted) ${fmt(dialler)}`);
    report(`    of which its handshake (dial → session open) ${fmt(open)}`);
    report(`  link trusted, both sides                       ${fmt(both)}`);
    report(
      `  binding + trust decision over the handshake, p50: +${(med(dialler) - med(bare)).toFixed(1)} ms` +
        ` (p99 of ${LINKS} samples is the slowest one)`,
    );
    report(`  first link in this process (cold, not counted): ${cold}`);
  } finally {
    for (const close of closers) await close();
  }
}
