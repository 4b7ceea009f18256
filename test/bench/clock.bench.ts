// The shared beat against other processes at one instant, each figure beside a baseline
// measured in the same run:
//  baseline: a bare UDP ping-pong between two of the namespaces (round trip, p50/p99);
//  1. hana with Ableton Link on vs a real Link peer (Debian's ableton-link-dev): how far apart
//     their beats' phases are at the same CLOCK_MONOTONIC instant, p50/p99 of |error|;
//  2. the same between two hana laptops (the whole beat, not only the phase).
// Sampled once a second for HANA_BENCH_CLOCK_SECONDS (60). Three namespaces on a bridge: two
// hana laptops with Link on, the Link peer in the third; nothing leaves them. Root, ip, nft,
// g++ and the Link headers, or it says why it skipped.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { control, eventually, type TestDaemon } from '../helpers/daemon.ts';
import {
  buildLinkPeer,
  linkInteropUnavailable,
  peerSamples,
  phaseErrorsMs,
  spawnLines,
  waitPeer,
} from '../helpers/link-interop.ts';
import { meshUnavailable, startMesh } from '../helpers/mesh.ts';

type Report = (line: string) => void;
type Samples = { samples: Array<[number, number]>; tempo: number };

const QUANTUM = 4;
const SECONDS = Number(process.env.HANA_BENCH_CLOCK_SECONDS ?? 60);
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'link');
const pct = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const summary = (xs: number[], unit: (x: number) => string) => {
  const s = xs.map(Math.abs).sort((a, b) => a - b);
  return `p50 ${unit(pct(s, 50))}, p99 ${unit(pct(s, 99))} (n=${s.length})`;
};
const usText = (x: number) => `${x.toFixed(0)} µs`;
const msAsUs = (x: number) => `${(x * 1000).toFixed(1)} µs`;

export async function run(report: Report): Promise<void> {
  const skip = linkInteropUnavailable() ?? meshUnavailable();
  if (skip) {
    report(`  skipped: ${skip}`);
    return;
  }
  const bin = await buildLinkPeer();
  const mesh = await startMesh({ count: 2, spare: 1, config: () => ({ abletonLink: { enabled: true } }) });
  const [a, b] = mesh.daemons as [TestDaemon, TestDaemon];
  const linkNs = mesh.spare[0]!;
  const peer = spawnLines(['ip', 'netns', 'exec', linkNs, bin, String(QUANTUM), '120']);
  const node = (ns: string, ...args: string[]) =>
    spawnLines(['ip', 'netns', 'exec', ns, process.execPath, '--no-node-snapshot', ...args]);
  const echo = node(linkNs, join(FIXTURES, 'udp-pingpong.ts'), 'echo', '40999');
  try {
    for (const d of [a, b]) {
      if (!(await eventually(async () => (await d.status()).sync.links === 1, 300, 100)))
        throw new Error('the hana laptops did not link');
      if (
        !(await eventually(
          async () => ((await d.status()).abletonLink as { peers?: number }).peers === 2,
          300,
          100,
        ))
      )
        throw new Error('a hana laptop did not see both Link peers');
    }
    if (!(await waitPeer(peer, (p) => p.peers === 2, 20_000)))
      throw new Error('the Link peer did not see both laptops');
    peer.write('tempo 128');
    await sleep(2000);

    const pinger = node(
      mesh.namespaces[1]!,
      join(FIXTURES, 'udp-pingpong.ts'),
      'ping',
      '10.77.0.3',
      '40999',
      '1000',
    );
    const rtts = (
      JSON.parse((await pinger.waitLine((l) => l.startsWith('{'), 60_000)) ?? '{"rtts":[]}') as {
        rtts: number[];
      }
    ).rtts;
    report(`  baseline bare UDP ping-pong, namespace to namespace   round trip ${summary(rtts, usText)}`);

    const hanaLink: number[] = [];
    const hanaHana: number[] = [];
    for (let i = 0; i < SECONDS; i++) {
      const from = peer.lines.length;
      peer.write('sample 20');
      const [sa, sb] = (await Promise.all([
        control(a, 'clock.samples', { count: 20 }),
        control(b, 'clock.samples', { count: 20 }),
      ])) as [Samples, Samples];
      await peer.waitLine((l) => l === 'sampled', 10_000, from);
      const theirs = peerSamples(peer, from);
      hanaLink.push(...phaseErrorsMs(sa.samples, theirs, sa.tempo, QUANTUM));
      hanaHana.push(...phaseErrorsMs(sa.samples, sb.samples, sa.tempo, 1e9));
      await sleep(1000);
    }
    report(
      `  hana vs Ableton Link peer, beat phase at one instant   ${summary(hanaLink, msAsUs)} over ${SECONDS} s`,
    );
    report(
      `  hana laptop vs hana laptop, beat at one instant       ${summary(hanaHana, msAsUs)} over ${SECONDS} s`,
    );
  } finally {
    await echo.stop();
    await peer.stop();
    await mesh.close();
  }
}
