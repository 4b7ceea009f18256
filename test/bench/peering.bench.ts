// Peering (issue 11): how long a new peer takes to become a trusted link, beside the bare DTLS
// handshake measured in the same run, on loopback:
//  - policy pair (the default): A runs `hana pair` (pairOpen), B `hana pair <code> --peer A`
//    (pairJoin), timed from the pairJoin call to both sides trusted; once with the link already
//    pending (CPace + pin alone), once from nothing (dial → pending → paired, the whole command);
//  - policy accept-new: addTarget (the dial) → both sides trusted.
// Every round runs each scenario once, in an order rotated per round, so load falls on all alike.
// Each scenario gets fresh identities, peers.json files and endpoints, created outside the timing.

import { openDtlsEndpoint } from '../../protocols/dtls/endpoint.ts';
import { createIdentity, type Identity } from '../../trust-store/identity.ts';
import { ascending, now, percentile, type Report, within } from './peer-link-common.ts';
import { onReject, openSide, type Policy, rejected, type Side, span, warned } from './peering-sides.ts';

const ROUNDS = 20;
// The first rounds pay for JIT and lazy crypto set-up; they are run but not counted.
const WARMUP = 3;
const LIMIT_MS = 10_000;

type Sample = { ms: number; cpuMs: number; partMs?: number };
type Kind = 'bare' | 'accept' | 'code' | 'whole';
const KINDS: readonly Kind[] = ['bare', 'accept', 'code', 'whole'];

/** Starts a timed span; `end(t1)` closes it with the wall time to t1 and the CPU used so far. */
function startSpan(): { t0: number; end: (t1: number) => { ms: number; cpuMs: number } } {
  span.timing = true;
  const cpu0 = process.cpuUsage();
  const t0 = now();
  return {
    t0,
    end: (t1) => {
      const u = process.cpuUsage(cpu0);
      span.timing = false;
      return { ms: t1 - t0, cpuMs: (u.user + u.system) / 1000 };
    },
  };
}

/** Baseline: connect → open on both endpoints (the server's onSession and the client's connect). */
async function bare(a: Identity, b: Identity): Promise<Sample> {
  let serverOpen!: (t: number) => void;
  const serverOpenAt = new Promise<number>((r) => {
    serverOpen = r;
  });
  // Sessions stay open until the endpoints close after the timing: closing the server's at once
  // would leave nothing to answer a retransmitted client flight.
  const server = await openDtlsEndpoint({
    host: '127.0.0.1',
    port: 0,
    credentials: a,
    onSession: () => serverOpen(now()),
    onReject,
  });
  const client = await openDtlsEndpoint({
    host: '127.0.0.1',
    port: 0,
    credentials: b,
    onSession: () => {},
    onReject,
  });
  try {
    const timed = startSpan();
    const opened = client.connect({ address: '127.0.0.1', port: server.port }).then(() => now());
    const [c, s] = await within(Promise.all([opened, serverOpenAt]), LIMIT_MS, 'bare handshake');
    return timed.end(Math.max(c, s));
  } finally {
    span.timing = false;
    await client.close();
    await server.close();
  }
}

async function sides(a: Identity, b: Identity, policy: Policy): Promise<[Side, Side]> {
  const sa = await openSide(a, 'bench-a', policy);
  try {
    return [sa, await openSide(b, 'bench-b', policy)];
  } catch (err) {
    await sa.close();
    throw err;
  }
}

const both = (sa: Side, sb: Side, what: string) =>
  within(Promise.all([sa.trustedAt, sb.trustedAt]), LIMIT_MS, what).then(([x, y]) => Math.max(x, y));

/** What `hana peers` would show: exactly one linked peer on each side, or the sample is void. */
function checkLinked(sa: Side, sb: Side, what: string): void {
  const [la, lb] = [sa.manager.stats().linked, sb.manager.stats().linked];
  if (la !== 1 || lb !== 1) throw new Error(`${what}: linked ${la}/${lb}, expected 1/1`);
}

/** accept-new: B's addTarget (dials at once) → both onTrusted (bind, decision, fsync'd pin). */
async function acceptNew(a: Identity, b: Identity): Promise<Sample> {
  const [sa, sb] = await sides(a, b, 'accept-new');
  try {
    const timed = startSpan();
    sb.manager.addTarget({ address: '127.0.0.1', port: sa.endpoint.port });
    const sample = timed.end(await both(sa, sb, 'accept-new link'));
    checkLinked(sa, sb, 'accept-new');
    return sample;
  } finally {
    span.timing = false;
    await Promise.all([sa.close(), sb.close()]);
  }
}

/**
 * pair, the link already pending on both sides (B dialled, both bound, both judged the other
 * unpaired): pairJoin → both trusted. partMs: until pairJoin resolved on B.
 */
async function pairPending(a: Identity, b: Identity): Promise<Sample> {
  const [sa, sb] = await sides(a, b, 'pair');
  try {
    const peer = { address: '127.0.0.1', port: sa.endpoint.port };
    const { code } = sa.manager.pairOpen({ role: 'performer', expiresMs: 60_000 });
    sb.manager.addTarget(peer);
    await within(Promise.all([sa.pendingAt, sb.pendingAt]), LIMIT_MS, 'pending link');
    const timed = startSpan();
    const joined = sb.manager.pairJoin(code, { peer, waitMs: LIMIT_MS });
    const [r, t1] = await Promise.all([joined, both(sa, sb, 'paired link')]);
    const sample = timed.end(t1);
    if (!r.ok) throw new Error(`pairJoin: ${r.message}`);
    checkLinked(sa, sb, 'pair');
    return sample;
  } finally {
    span.timing = false;
    await Promise.all([sa.close(), sb.close()]);
  }
}

/** pair from nothing: pairJoin with --peer (it dials) → pending → CPace → both trusted. partMs: to both pending. */
async function pairWhole(a: Identity, b: Identity): Promise<Sample> {
  const [sa, sb] = await sides(a, b, 'pair');
  try {
    const peer = { address: '127.0.0.1', port: sa.endpoint.port };
    const { code } = sa.manager.pairOpen({ role: 'performer', expiresMs: 60_000 });
    const timed = startSpan();
    const joined = sb.manager.pairJoin(code, { peer, waitMs: LIMIT_MS });
    const pendingAt = Promise.all([sa.pendingAt, sb.pendingAt]).then(([x, y]) => Math.max(x, y));
    const [r, t1, tp] = await Promise.all([joined, both(sa, sb, 'paired link'), pendingAt]);
    const sample = { ...timed.end(t1), partMs: tp - timed.t0 };
    if (!r.ok) throw new Error(`pairJoin: ${r.message}`);
    checkLinked(sa, sb, 'pair (whole)');
    return sample;
  } finally {
    span.timing = false;
    await Promise.all([sa.close(), sb.close()]);
  }
}

const SCENARIOS: Record<Kind, (a: Identity, b: Identity) => Promise<Sample>> = {
  bare,
  accept: acceptNew,
  code: pairPending,
  whole: pairWhole,
};

export async function run(report: Report): Promise<void> {
  const samples: Record<Kind, Sample[]> = { bare: [], accept: [], code: [], whole: [] };
  const started = now();
  let idMs = 0;
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    for (let k = 0; k < KINDS.length; k++) {
      const kind = KINDS[(i + k) % KINDS.length]!;
      const g0 = now();
      const [a, b] = await Promise.all([createIdentity(), createIdentity()]);
      idMs += now() - g0;
      const s = await SCENARIOS[kind](a, b);
      if (i >= WARMUP) samples[kind].push(s);
    }
  }

  const p = (xs: number[], q: number) => percentile(ascending(xs), q);
  const ms = (x: number) => `${x.toFixed(1)} ms`.padStart(9);
  const ratio = (x: number) => `${x.toFixed(2)}×`.padStart(7);
  const wall = (k: Kind) => samples[k].map((s) => s.ms);
  const cpu = (k: Kind) => samples[k].map((s) => s.cpuMs);
  const base = { p50: p(wall('bare'), 50), p99: p(wall('bare'), 99), cpu: p(cpu('bare'), 50) };
  report(
    `peering on loopback: ${ROUNDS} rounds, each scenario once per round in rotating order,` +
      ` ${WARMUP} warm-up rounds not counted; ratios against the bare handshake of the same run`,
  );
  report(`${''.padEnd(44)}      p50       p99   ×p50   ×p99    CPU p50   ×CPU`);
  const row = (label: string, w: number[], c?: number[]) => {
    const [w50, w99] = [p(w, 50), p(w, 99)];
    const cpuCols = c ? `${ms(p(c, 50))} ${ratio(p(c, 50) / base.cpu)}` : '';
    report(
      `  ${label.padEnd(42)} ${ms(w50)} ${ms(w99)} ${ratio(w50 / base.p50)} ${ratio(w99 / base.p99)} ${cpuCols}`,
    );
  };
  const part = (k: Kind) => samples[k].map((s) => s.partMs ?? Number.NaN);
  row('bare DTLS handshake, both open (baseline)', wall('bare'), cpu('bare'));
  row('accept-new: dial → both trusted', wall('accept'), cpu('accept'));
  row('pair <code>, link pending: → both trusted', wall('code'), cpu('code'));
  row('pair <code> --peer, from nothing', wall('whole'), cpu('whole'));
  row('  of which dial → both pending', part('whole'));
  report(
    `  (CPU: process.cpuUsage over the timed span, both sides in this process, fsync threads included;` +
      ` p99 of ${ROUNDS} samples is the slowest)`,
  );
  report(
    `  (${((now() - started) / 1000).toFixed(1)} s in all, ${(idMs / 1000).toFixed(1)} s of it` +
      ` generating ${(WARMUP + ROUNDS) * KINDS.length * 2} identities outside every timing)`,
  );
  const tally = (m: Map<string, number>) =>
    m.size === 0 ? 'none' : [...m].map(([c, n]) => `${c} ${n}`).join(', ');
  report(
    `  (endpoint rejections inside timed spans: ${tally(rejected.timed)}; at teardown: ${tally(rejected.teardown)})`,
  );
  if (warned.length > 0) {
    report(`  (${warned.length} warnings logged; first: ${warned[0]!.slice(0, 200).trim()})`);
  }
}
