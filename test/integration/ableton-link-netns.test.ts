import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MULTICAST_GROUP, MULTICAST_PORT } from '../../protocols/link/v1/wire.ts';
import { control, eventually, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import {
  buildLinkPeer,
  type LineChild,
  linkInteropUnavailable,
  type PeerStatus,
  peerSamples,
  phaseErrorsMs,
  spawnLines,
  type VethPair,
  vethPair,
  waitPeer,
} from '../helpers/link-interop.ts';

// `hana start --ableton-link` in one namespace, a real Ableton Link peer (Debian's
// ableton-link-dev, test/fixtures/link/link-peer.cpp) in another, on a veth pair. What an
// operator sees: /tempo follows the Link session, `hana set /tempo` moves it, hana's shared
// beat (the one the visuals use) has Link's phase, start/stop goes both ways, and junk on the
// Link port is refused, counted and logged as a security event.

const skip = linkInteropUnavailable();
const QUANTUM = 4;
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'link');

describe('hana --ableton-link with a real Ableton Link peer (namespaces, veth)', {
  skip,
  timeout: 240_000,
}, () => {
  let net: VethPair;
  let peer: LineChild;
  let hana: TestDaemon;

  const peerWait = (f: (p: PeerStatus) => boolean, ms?: number) => waitPeer(peer, f, ms);
  const link = async () => {
    const s = (await hana.status()).abletonLink;
    assert.ok(s.enabled);
    return s;
  };
  const tempo = async () => (await hana.values('/tempo'))['/tempo'] as number;

  before(async () => {
    const bin = await buildLinkPeer();
    net = await vethPair();
    peer = spawnLines(['ip', 'netns', 'exec', net.b, bin, String(QUANTUM), '120']);
    hana = await startDaemon({ wrap: ['ip', 'netns', 'exec', net.a], args: ['--ableton-link'] });
    assert.ok(await eventually(async () => (await link()).peers === 1), 'hana never saw the Link peer');
    assert.ok(await peerWait((p) => p.peers === 1), 'the Link peer never saw hana');
  });

  after(async () => {
    await hana?.stop();
    await peer?.stop();
    await net?.remove();
  });

  it('/tempo follows a tempo the Link peer proposes', async () => {
    peer.write('tempo 133');
    assert.ok(
      await eventually(async () => Math.abs((await tempo()) - 133) < 0.001),
      `/tempo is ${await tempo()}`,
    );
    const s = await hana.status();
    assert.ok(Math.abs(s.sync.clock.tempo - 133) < 0.001, 'the shared timeline did not follow');
  });

  it('the Link peer follows `hana set /tempo`', async () => {
    const r = await hana.cli('set', '/tempo', '97.5');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await peerWait((p) => Math.abs(p.tempo - 97.5) < 0.001), peer.lines.at(-1));
    assert.ok(await eventually(async () => Math.abs((await link()).tempo - 97.5) < 0.001));
  });

  it("hana's shared beat has the Link peer's phase at the same CLOCK_MONOTONIC instant, within 1 ms", async (t) => {
    // Let the tempo change settle on both sides (follow rewrites the timeline at most once).
    assert.ok(await peerWait((p) => Math.abs(p.tempo - 97.5) < 0.001));
    await new Promise((r) => setTimeout(r, 1500));
    const from = peer.lines.length;
    peer.write('sample 200');
    const ours = (await control(hana, 'clock.samples', { count: 200 })) as {
      samples: Array<[number, number]>;
      tempo: number;
    };
    assert.ok(await peer.waitLine((l) => l === 'sampled', 20_000, from));
    const theirs = peerSamples(peer, from);
    const errs = phaseErrorsMs(ours.samples, theirs, ours.tempo, QUANTUM).sort((a, b) => a - b);
    const worst = Math.max(-errs[0]!, errs.at(-1)!);
    t.diagnostic(
      `hana timeline vs Link peer over ${errs.length} samples: median ${errs[errs.length >> 1]!.toFixed(3)} ms, worst ${worst.toFixed(3)} ms`,
    );
    assert.ok(worst < 1, `phase differs by up to ${worst} ms`);
  });

  it('start/stop goes both ways', async () => {
    const play = await hana.cli('ableton-link', 'play');
    assert.equal(play.code, 0, play.stderr);
    assert.ok(await peerWait((p) => p.playing), 'the Link peer did not start');
    peer.write('stop');
    assert.ok(await eventually(async () => !(await link()).playing), 'hana did not stop');
    peer.write('play');
    assert.ok(await eventually(async () => (await link()).playing), 'hana did not start');
    const st = await hana.cli('status');
    assert.match(st.stdout, /link {6}1 Link peer, [\d.]+ bpm, beat [\d.-]+, phase [\d.]+\/4, playing/);
  });

  it('refuses, counts and logs as security events malformed and oversize Link datagrams', async () => {
    const magic = Buffer.from('_asdp_v\x01', 'latin1').toString('hex');
    const sender = spawnLines([
      'ip',
      'netns',
      'exec',
      net.b,
      process.execPath,
      '--no-node-snapshot',
      join(FIXTURES, 'send-datagrams.ts'),
      MULTICAST_GROUP,
      String(MULTICAST_PORT),
      '1',
      magic + '00'.repeat(600),
      `${magic}01`,
    ]);
    await new Promise((r) => sender.proc.once('exit', r));
    assert.ok(
      await eventually(async () => {
        const r = (await link()).rejected;
        return (r.oversize ?? 0) >= 1 && (r.truncated ?? 0) >= 1;
      }),
      JSON.stringify((await link()).rejected),
    );
    const logged = hana.logs.filter((l) => l.event === 'ableton-link.rejected');
    assert.ok(
      logged.some((l) => l.reason === 'oversize' && l.security === true),
      JSON.stringify(logged),
    );
    assert.equal((await link()).peers, 1);
  });
});

describe('hana ableton-link with Link off (loopback only)', () => {
  it('says Link is off and how to turn it on', async () => {
    const d = await startDaemon();
    try {
      const status = await d.cli('status');
      assert.match(status.stdout, /link {6}off \(`hana start --ableton-link`/);
      const play = await d.cli('ableton-link', 'play');
      assert.equal(play.code, 1);
      assert.match(play.stderr, /Ableton Link is off: start hana with --ableton-link/);
      assert.deepEqual((await d.status()).abletonLink, { enabled: false });
    } finally {
      await d.stop();
    }
  });
});
