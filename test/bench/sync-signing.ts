// What signed writes cost: two sync services in this process (real stores, registries, HLCs,
// peer stores on disk and identities) joined by two real UDP sockets on loopback, no DTLS, so
// the only difference between the two runs is the signing. Each mode runs twice, interleaved
// (unsigned, signed, unsigned, signed), so a machine that gets busier mid-run biases neither.
//   - propagation: a write on A at 1k updates/s → applied on B (p50/p99);
//   - bytes per update: sync bytes A sent / updates it sent (after coalescing);
//   - CPU per 1,000 updates: process CPU (both sides, sending and applying) per 1,000 writes on A.
// A write applied on B is one B saw; values the outbox gave up for a later one (a peer that does
// not keep up, daemon/sync/outbox.ts) never arrive, so "n" and the share that arrived are
// printed beside each run.
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { ParamMap } from '../../daemon/config/params-schema.ts';
import { SyncConfig } from '../../daemon/config/sync-schema.ts';
import { createRejections } from '../../daemon/ingest/rejections.ts';
import { securityLogger } from '../../daemon/log.ts';
import { createHlc } from '../../daemon/state/hlc.ts';
import { createRegistry } from '../../daemon/state/registry.ts';
import { createStore } from '../../daemon/state/store.ts';
import type { KeyDirectory } from '../../daemon/sync/keys.ts';
import { createSyncService, type SyncIdentity } from '../../daemon/sync/service.ts';
import { deviceIdFromCertDer } from '../../trust-store/device-id.ts';
import { createIdentity } from '../../trust-store/identity.ts';
import { openPeerStore } from '../../trust-store/peers.ts';

type Report = (line: string) => void;

const RATE = 1000;
const SAMPLES = 3000;
const PARAMS = ParamMap.parse({ '/fader': { type: 'int', min: 0, max: 1_000_000 } });
const log = pino({ level: 'silent' });

/** The baseline: no signature made (64 zero bytes go out) and none checked. */
const unsigned = {
  signer: { sign: () => new Uint8Array(64) },
  keys: {
    learn: (der: Uint8Array) => ({ ok: true as const, id: deviceIdFromCertDer(der) }),
    has: () => true,
    certOf: () => undefined,
    verify: () => 'ok' as const,
    size: 0,
  } satisfies KeyDirectory,
};

async function bindSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind({ address: '127.0.0.1', port: 0 }, () => r()));
  return s;
}

type Figures = { lat: number[]; bytesPerUpdate: number; cpuPer1k: number; delivered: number };

async function once(dir: string, ids: [SyncIdentity, SyncIdentity], signed: boolean): Promise<Figures> {
  const replicas = await Promise.all(
    ids.map(async (identity, i) => {
      const other = ids[1 - i]!;
      const opened = await openPeerStore(join(dir, `${signed}-${i}-${Date.now()}.json`));
      if (!opened.ok) throw new Error(opened.error);
      await opened.store.pin({
        id: other.deviceId,
        name: `peer${1 - i}`,
        state: 'trusted',
        role: 'performer',
      });
      const registry = createRegistry(PARAMS);
      const hlc = createHlc({ node: identity.deviceId });
      const store = createStore({ registry, hlc });
      const rejections = createRejections({ log, security: securityLogger(log), intervalMs: 1000 });
      const sync = createSyncService({
        identity: () => identity,
        config: SyncConfig.parse({}),
        registry,
        store,
        hlc,
        peers: opened.store,
        rejections,
        log,
        ...(!signed && { crypto: unsigned }),
      });
      return { identity, store, sync, socket: await bindSocket() };
    }),
  );
  const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
  const handles = replicas.map((r, i) => {
    const other = replicas[1 - i]!;
    return r.sync.attach(
      other.identity.deviceId,
      (bytes) => r.socket.send(bytes, other.socket.address().port, '127.0.0.1'),
      other.identity.certDer,
    );
  });
  replicas.forEach((r, i) => {
    r.socket.on('message', (m) => handles[i]!.receive(new Uint8Array(m)));
  });
  await sleep(300); // the first snapshot exchange and clock pings settle

  const sentAt = new Map<number, number>();
  const lat: number[] = [];
  b.store.subscribe((changes) => {
    for (const c of changes) {
      const t = sentAt.get(c.value as number);
      if (t !== undefined) lat.push(performance.now() - t);
    }
  });
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  // Paced by a 1 ms timer, not a spin, so the CPU figure is the work and not the waiting.
  let i = 0;
  await new Promise<void>((done) => {
    const tick = setInterval(() => {
      const due = Math.min(SAMPLES, Math.floor(((performance.now() - start) * RATE) / 1000));
      while (i < due) {
        i++;
        sentAt.set(i, performance.now());
        a.store.apply([{ path: '/fader', value: i }], 'bench');
      }
      if (i >= SAMPLES) {
        clearInterval(tick);
        done();
      }
    }, 1);
  });
  await sleep(200);
  const cpu = process.cpuUsage(cpu0);
  const out = a.sync.linkStats(b.identity.deviceId)!.out;
  for (const h of handles) h.close();
  for (const r of replicas) {
    r.sync.close();
    r.socket.close();
  }
  return {
    lat,
    // The unsigned run still sends the 64-byte signature field (zeros): without it the wire
    // would be that much shorter per datagram, which is the figure to compare.
    bytesPerUpdate: (out.bytes - (signed ? 0 : 64 * out.datagrams)) / Math.max(1, out.updates),
    delivered: lat.length / SAMPLES,
    cpuPer1k: (cpu.user + cpu.system) / 1000 / (SAMPLES / 1000),
  };
}

const pct = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

export async function signing(report: Report): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hana-bench-signing-'));
  try {
    const ids = [await createIdentity(), await createIdentity()] as [SyncIdentity, SyncIdentity];
    const runs: Record<'unsigned' | 'signed', Figures[]> = { unsigned: [], signed: [] };
    for (let round = 0; round < 2; round++) {
      runs.unsigned.push(await once(dir, ids, false));
      runs.signed.push(await once(dir, ids, true));
    }
    const merged = (fs: Figures[]) => {
      const lat = fs.flatMap((f) => f.lat).sort((x, y) => x - y);
      const avg = (k: 'bytesPerUpdate' | 'cpuPer1k' | 'delivered') =>
        fs.reduce((n, f) => n + f[k], 0) / fs.length;
      return {
        p50: pct(lat, 50),
        p99: pct(lat, 99),
        n: lat.length,
        bytes: avg('bytesPerUpdate'),
        cpu: avg('cpuPer1k'),
        got: avg('delivered'),
      };
    };
    const u = merged(runs.unsigned);
    const s = merged(runs.signed);
    const ms = (x: number) => `${x.toFixed(3)} ms`;
    report(
      `  unsigned (baseline)  propagation p50 ${ms(u.p50)}, p99 ${ms(u.p99)} (n=${u.n}, ${(u.got * 100).toFixed(0)} % of values arrived); ${u.bytes.toFixed(1)} bytes/update; CPU ${u.cpu.toFixed(1)} ms per 1,000 updates`,
    );
    report(
      `  signed               propagation p50 ${ms(s.p50)}, p99 ${ms(s.p99)} (n=${s.n}, ${(s.got * 100).toFixed(0)} % of values arrived); ${s.bytes.toFixed(1)} bytes/update; CPU ${s.cpu.toFixed(1)} ms per 1,000 updates`,
    );
    report(
      `  signed / unsigned    p50 ${(s.p50 / u.p50).toFixed(2)}×, p99 ${(s.p99 / u.p99).toFixed(2)}×, bytes ${(s.bytes / u.bytes).toFixed(2)}×, CPU ${(s.cpu / u.cpu).toFixed(2)}×`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
