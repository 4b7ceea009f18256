// Scenario: the cost of verifying every handshake ourselves (protocols/dtls/verify-handshake.ts).
// The same mutual handshake on loopback, interleaved round by round:
//  - through the endpoint with the checks (what the daemon runs);
//  - through the endpoint with `unverifiedForBenchmark` (baseline: same record routing, no checks);
//  - two werift sockets on a bare dgram pair (reference: nothing of ours at all).
// Then the checks alone: verifyHandshake on evidence read from live werift sockets, called where
// and as often as the endpoint calls it (after each handshake message while handshaking, and once
// at open).
import { type DtlsEndpoint, type DtlsSession, openDtlsEndpoint } from '../../protocols/dtls/endpoint.ts';
import type { Identity } from '../../trust-store/identity.ts';
import { ascending, now, onReject, percentile, type Report, within } from './peer-link-common.ts';
import { type Checks, weriftPair } from './peer-link-werift.ts';

const HANDSHAKES = 100;
const WARMUP = 5;
const CHECKED = 50;

type Server = { endpoint: DtlsEndpoint; opened(port: number): Promise<number>; closeAll(): void };

async function server(identity: Identity, unverified: boolean): Promise<Server> {
  const openedAt = new Map<number, number>();
  const waiting = new Map<number, (t: number) => void>();
  const sessions: DtlsSession[] = [];
  const endpoint = await openDtlsEndpoint({
    host: '127.0.0.1',
    port: 0,
    credentials: identity,
    unverifiedForBenchmark: unverified,
    // Every dialler comes from 127.0.0.2: admission's 5 handshakes/s per source would throttle
    // the run, and admission is not what this scenario measures.
    handshakesPerSecond: 1_000_000,
    onSession: (s) => {
      const t = now();
      sessions.push(s);
      openedAt.set(s.remote.port, t);
      waiting.get(s.remote.port)?.(t);
    },
    onReject,
  });
  return {
    endpoint,
    opened: (port) =>
      new Promise<number>((r) => {
        const t = openedAt.get(port);
        if (t !== undefined) r(t);
        else waiting.set(port, r);
      }),
    // Closed after each round, not in onSession: the server is open once it sent its last flight,
    // but closing it there would leave nothing to answer a retransmitted client flight.
    closeAll: () => {
      for (const s of sessions.splice(0)) s.close();
      openedAt.clear();
      waiting.clear();
    },
  };
}

/**
 * A fresh dialling endpoint (created outside the timing) for one handshake; connect → both open.
 * The server opens first (it sends its last flight, then verifies), so this is, in practice,
 * the dialler's connect() resolving.
 */
async function endpointHandshake(
  identity: Identity,
  srv: Server,
  unverified: boolean,
): Promise<{ ms: number; cpuMs: number }> {
  const dialler = await openDtlsEndpoint({
    host: '127.0.0.2',
    port: 0,
    credentials: identity,
    unverifiedForBenchmark: unverified,
    onSession: () => {},
    onReject,
  });
  try {
    const cpu0 = process.cpuUsage();
    const t0 = now();
    const serverOpen = srv.opened(dialler.port);
    await within(dialler.connect({ address: '127.0.0.1', port: srv.endpoint.port }), 10_000, 'handshake');
    const client = now();
    const serverAt = await within(serverOpen, 10_000, 'server side of the handshake');
    const cpu = process.cpuUsage(cpu0);
    return { ms: Math.max(client, serverAt) - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
  } finally {
    await dialler.close();
    srv.closeAll();
  }
}

export async function handshakeChecks(report: Report, client: Identity, serverId: Identity): Promise<void> {
  const checked = await server(serverId, false);
  const unchecked = await server(serverId, true);
  const kinds = ['werift', 'off', 'on'] as const;
  const both = { werift: [] as number[], off: [] as number[], on: [] as number[] };
  const cpu = { werift: [] as number[], off: [] as number[], on: [] as number[] };
  try {
    for (let i = 0; i < WARMUP + HANDSHAKES; i++) {
      // Rotate which variant goes first, so none always runs on a just-warmed path.
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(i + k) % kinds.length]!;
        let r: { ms: number; cpuMs: number };
        if (kind === 'werift') {
          const pair = await weriftPair(client, serverId);
          r = { ms: pair.bothMs, cpuMs: pair.cpuMs };
          pair.close();
        } else {
          r = await endpointHandshake(client, kind === 'on' ? checked : unchecked, kind === 'off');
        }
        if (i < WARMUP) continue;
        both[kind].push(r.ms);
        cpu[kind].push(r.cpuMs);
      }
    }
  } finally {
    await checked.endpoint.close();
    await unchecked.endpoint.close();
  }

  // The checks alone, both sides of each handshake (a daemon runs one side, its peer the other).
  const checks: Checks[] = [];
  for (let i = 0; i < WARMUP + CHECKED; i++) {
    const pair = await weriftPair(client, serverId, true);
    pair.close();
    if (i >= WARMUP) checks.push(pair.checks);
  }

  const p = (xs: number[], q: number) => percentile(ascending(xs), q);
  const ms = (x: number) => `${x.toFixed(2)} ms`.padStart(9);
  const ratio = (x: number) => x.toFixed(2).padStart(5);
  const base = { p50: p(both.off, 50), p99: p(both.off, 99), cpu: p(cpu.off, 50) };
  report(
    `handshake with and without our checks: mutual, loopback, connect → both sides open` +
      ` (${HANDSHAKES} per variant, interleaved, ${WARMUP} warm-up rounds not counted)`,
  );
  report('                                        p50        p99  ratio p50  p99    CPU p50  ratio');
  const row = (label: string, wall: number[], cpuMs: number[] | undefined) => {
    const [w50, w99] = [p(wall, 50), p(wall, 99)];
    const c50 = cpuMs ? p(cpuMs, 50) : Number.NaN;
    const ratios = cpuMs
      ? `${ratio(w50 / base.p50)} ${ratio(w99 / base.p99)}`
      : `${ratio(w50 / base.p50)}      `;
    report(
      `  ${label.padEnd(32)} ${ms(w50)}  ${ms(w99)}   ${ratios}  ${cpuMs ? ms(c50) : '         '}  ${ratio((cpuMs ? c50 : w50) / base.cpu)}`,
    );
  };
  row('werift on a bare dgram pair', both.werift, cpu.werift);
  row('endpoint, checks off (baseline)', both.off, cpu.off);
  row('endpoint, checks on', both.on, cpu.on);
  report(
    `    on − off at p50: ${(p(both.on, 50) - base.p50).toFixed(2)} ms, CPU ${(p(cpu.on, 50) - base.cpu).toFixed(2)} ms`,
  );
  const calls = ascending(checks.map((c) => c.partialCalls));
  const n = calls[0] === calls.at(-1) ? `${calls[0]}` : `${calls[0]}–${calls.at(-1)}`;
  report(
    `  the checks alone, both sides (${CHECKED} handshakes, timed where the endpoint calls verifyHandshake;` +
      ' ratios: share of the baseline)',
  );
  row(
    `  partial, per message (${n}×)`,
    checks.map((c) => c.partialMs),
    undefined,
  );
  row(
    '  complete, at open (2×)',
    checks.map((c) => c.completeMs),
    undefined,
  );
  row(
    '  total',
    checks.map((c) => c.partialMs + c.completeMs),
    undefined,
  );
  const refused = checks.reduce((k, c) => k + c.refused, 0);
  if (refused > 0) report(`    ${refused} checks REFUSED a genuine handshake: the figures above are void`);
}
