// The CPU of ingest's two hottest steps, in this process: decoding (our one-pass v1 decoder
// beside the osc package after validate.ts, what it replaced) and the anti-entropy digest's
// update per write. Each figure is the median of 5 rounds.
import { createStateDigest } from '../../daemon/sync/digest.ts';
import {
  type DecodeLimits,
  decodeOscPacket,
  decodeOscPacketWithPackage,
  encodeOscPacket,
  IMMEDIATE,
  oscMessage,
} from '../../protocols/osc/codec.ts';

const LIMITS: DecodeLimits = { maxBytes: 65536, maxDepth: 8 };

/** ns per call of fn over n calls, median of 5 rounds (after one warm-up round). */
function perCall(n: number, fn: (i: number) => void): number {
  const rounds: number[] = [];
  for (let r = 0; r < 6; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    if (r > 0) rounds.push(Number(process.hrtime.bigint() - t) / n);
  }
  return rounds.sort((a, b) => a - b)[2]!;
}

export async function run(report: (line: string) => void): Promise<void> {
  const fader = Buffer.from(encodeOscPacket(oscMessage('/layer/1/opacity', [{ type: 'f', value: 0.5 }])));
  const bundle = Buffer.from(
    encodeOscPacket({
      kind: 'bundle',
      timetag: IMMEDIATE,
      elements: [1, 2, 3, 4].map((l) =>
        oscMessage(`/layer/${l}/color`, [
          { type: 's', value: '#ff8800ff' },
          { type: 'i', value: l },
          { type: 'T', value: true },
        ]),
      ),
    }),
  );
  report('decode, ns per packet (median of 5 rounds)');
  for (const [name, packet, n] of [
    ['fader message (f)', fader, 200_000],
    ['bundle of 4 messages (s i T)', bundle, 50_000],
  ] as const) {
    let sink = 0;
    const pkg = perCall(n, () => {
      sink += decodeOscPacketWithPackage(packet, LIMITS).ok ? 1 : 0;
    });
    const v1 = perCall(n, () => {
      sink += decodeOscPacket(packet, LIMITS).ok ? 1 : 0;
    });
    report(
      `  ${name.padEnd(30)} osc package ${pkg.toFixed(0).padStart(5)} ns   v1 ${v1.toFixed(0).padStart(5)} ns   ratio ${(v1 / pkg).toFixed(2)}${sink < 0 ? '' : ''}`,
    );
  }

  const node = 'AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-GGGGGGG-HHHHHHH';
  const digest = createStateDigest();
  const paths = ['/layer/1/opacity', '/layer/2/opacity', '/master/opacity', '/tempo'];
  let t = 1_700_000_000_000;
  const active = perCall(500_000, (i) => digest.update(paths[i & 3]!, { t: t++, c: 0, node }, i * 0.001));
  digest.pause();
  const paused = perCall(500_000, (i) => digest.update(paths[i & 3]!, { t: t++, c: 0, node }, i * 0.001));
  report('anti-entropy digest, ns per update (stamp object made by the caller, as the store does)');
  report(`  linked (kept up)   ${active.toFixed(0)} ns`);
  report(`  no peer (paused)   ${paused.toFixed(0)} ns`);
}
