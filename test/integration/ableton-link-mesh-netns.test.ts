import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CLOCK_TIGHT_MS } from '../../daemon/sync/peer-sync.ts';
import { control, eventually, type TestDaemon } from '../helpers/daemon.ts';
import {
  buildLinkPeer,
  type LineChild,
  linkInteropUnavailable,
  type PeerStatus,
  peerSamples,
  phaseErrorsMs,
  spawnLines,
  waitPeer,
} from '../helpers/link-interop.ts';
import { type Mesh, meshUnavailable, startMesh } from '../helpers/mesh.ts';

// Two hana laptops with Ableton Link on and a real Link peer (Debian's ableton-link-dev) on one
// switch, each in its own namespace: one Link session, and the two laptops agree with it and
// with each other on tempo and beat (hana's shared beat, the one the visuals use).

const skip = linkInteropUnavailable() ?? meshUnavailable();
const QUANTUM = 4;

type Samples = { samples: Array<[number, number]>; tempo: number };

describe('two hana laptops and a Link peer in one Link session', { skip, timeout: 300_000 }, () => {
  let mesh: Mesh;
  let peer: LineChild;
  const peerWait = (f: (p: PeerStatus) => boolean, ms?: number) => waitPeer(peer, f, ms);
  const tempoOf = async (d: TestDaemon) => (await d.values('/tempo'))['/tempo'] as number;
  const linkOf = async (d: TestDaemon) => {
    const s = (await d.status()).abletonLink;
    assert.ok(s.enabled);
    return s;
  };

  before(async () => {
    const bin = await buildLinkPeer();
    mesh = await startMesh({ count: 2, spare: 1, config: () => ({ abletonLink: { enabled: true } }) });
    peer = spawnLines(['ip', 'netns', 'exec', mesh.spare[0]!, bin, String(QUANTUM), '120']);
    for (const d of mesh.daemons) {
      assert.ok(
        await eventually(async () => (await d.status()).sync.links === 1, 300, 100),
        'hana laptops linked',
      );
      assert.ok(await eventually(async () => (await linkOf(d)).peers === 2, 300, 100), 'two Link peers seen');
    }
    assert.ok(await peerWait((p) => p.peers === 2, 20_000), 'the Link peer sees both laptops');
  });

  after(async () => {
    await peer?.stop();
    await mesh?.close();
  });

  it('both follow a tempo the Link peer proposes, and the Link peer follows either', async () => {
    const [a, b] = mesh.daemons as [TestDaemon, TestDaemon];
    peer.write('tempo 140');
    for (const d of [a, b])
      assert.ok(await eventually(async () => Math.abs((await tempoOf(d)) - 140) < 0.001));
    const r = await b.cli('set', '/tempo', '111');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await peerWait((p) => Math.abs(p.tempo - 111) < 0.001), peer.lines.at(-1));
    assert.ok(await eventually(async () => Math.abs((await tempoOf(a)) - 111) < 0.001));
  });

  it('agree with the Link peer on phase, and with each other on the beat, within 1 ms', async (t) => {
    const [a, b] = mesh.daemons as [TestDaemon, TestDaemon];
    await new Promise((r) => setTimeout(r, 2000)); // let follow settle after the tempo change
    // The laptop that does not lead reads the beat through its clock offset to the one that
    // does, so the claim holds once that offset is known well: wait (bounded) until both say
    // their error bound is within CLOCK_TIGHT_MS. On a loaded machine the first seconds of a
    // link may not get there sooner; a bound that never does is the failure to report.
    const tight = async (d: TestDaemon) => {
      const c = (await d.status()).sync.clock;
      return c.errorMs !== null && c.errorMs <= CLOCK_TIGHT_MS;
    };
    for (const d of [a, b]) {
      assert.ok(
        await eventually(() => tight(d), 300, 100),
        `clock bound never within ${CLOCK_TIGHT_MS} ms: ${JSON.stringify((await d.status()).sync.clock)}`,
      );
    }
    const from = peer.lines.length;
    peer.write('sample 200');
    const [sa, sb] = (await Promise.all([
      control(a, 'clock.samples', { count: 200 }),
      control(b, 'clock.samples', { count: 200 }),
    ])) as [Samples, Samples];
    assert.ok(await peer.waitLine((l) => l === 'sampled', 20_000, from));
    const theirs = peerSamples(peer, from);
    const worst = (errs: number[]) => Math.max(...errs.map(Math.abs));
    const aLink = worst(phaseErrorsMs(sa.samples, theirs, sa.tempo, QUANTUM));
    const bLink = worst(phaseErrorsMs(sb.samples, theirs, sb.tempo, QUANTUM));
    // Between the laptops, the whole beat: they share one count, not only the phase.
    const ab = worst(phaseErrorsMs(sa.samples, sb.samples, sa.tempo, 1e9));
    t.diagnostic(
      `worst: laptop A vs Link ${aLink.toFixed(3)} ms, B vs Link ${bLink.toFixed(3)} ms, A vs B ${ab.toFixed(3)} ms`,
    );
    // On a failure, which laptop led and how well each knew its offset say which part erred.
    const clocks = async () =>
      JSON.stringify(
        await Promise.all(
          [a, b].map(async (d) => {
            const { basis, errorMs, leader } = (await d.status()).sync.clock;
            return { basis, errorMs, leader };
          }),
        ),
      );
    assert.ok(
      aLink < 1 && bLink < 1 && ab < 1,
      `A-Link ${aLink}, B-Link ${bLink}, A-B ${ab} ms; clocks ${await clocks()}`,
    );
  });
});
