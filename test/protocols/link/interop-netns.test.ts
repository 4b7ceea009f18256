import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeAnnouncement } from '../../../protocols/link/v1/discovery.ts';
import { encodePing } from '../../../protocols/link/v1/measurement.ts';
import { MULTICAST_GROUP, MULTICAST_PORT } from '../../../protocols/link/v1/wire.ts';
import {
  buildLinkPeer,
  type LineChild,
  linkInteropUnavailable,
  type PeerStatus,
  peerSamples,
  peerStatus,
  phaseErrorsMs,
  spawnLines,
  type VethPair,
  vethPair,
  waitPeer,
} from '../../helpers/link-interop.ts';
import { ip } from '../../helpers/netns.ts';

// hana's Link engine against a real Ableton Link peer (Debian's ableton-link-dev, compiled from
// test/fixtures/link/link-peer.cpp), each in its own namespace on a veth pair: Link needs a
// non-loopback interface with a multicast route, and its multicast stays inside the pair.
// Beat agreement is measured on (CLOCK_MONOTONIC µs, beat) samples both processes take: they
// share the clock, so no wall time is compared.

const skip = linkInteropUnavailable();
const NODE = process.execPath;
const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'link');
const QUANTUM = 4;

type HanaLine = {
  tempo: number;
  peers: number;
  playing: boolean;
  beat: number;
  rejected: Record<string, number>;
  endpoints: Array<{ address: string; port: number }>;
  samples?: Array<[number, number]>;
};

const hanaLine = (l: string): HanaLine | undefined =>
  l.startsWith('{') ? (JSON.parse(l) as HanaLine) : undefined;

describe('Link engine with a real Ableton Link peer (namespaces, veth)', { skip, timeout: 240_000 }, () => {
  let net: VethPair;
  let peer: LineChild;
  let hana: LineChild;

  const hanaWait = (f: (h: HanaLine) => boolean, ms = 10_000) =>
    hana.waitLine(
      (l) => {
        const h = hanaLine(l);
        return h !== undefined && !h.samples && f(h);
      },
      ms,
      hana.lines.length,
    );
  const peerWait = (f: (p: PeerStatus) => boolean, ms?: number) => waitPeer(peer, f, ms);
  const send = (host: string, port: number, repeat: number, ...hex: string[]) =>
    new Promise<void>((resolve, reject) => {
      const c = spawnLines([
        'ip',
        'netns',
        'exec',
        net.b,
        NODE,
        '--no-node-snapshot',
        join(FIXTURES, 'send-datagrams.ts'),
        host,
        String(port),
        String(repeat),
        ...hex,
      ]);
      c.proc.once('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`sender: ${c.lines.join(' ')}`)),
      );
    });

  before(async () => {
    const bin = await buildLinkPeer();
    net = await vethPair();
    peer = spawnLines(['ip', 'netns', 'exec', net.b, bin, String(QUANTUM), '120']);
    hana = spawnLines([
      'ip',
      'netns',
      'exec',
      net.a,
      NODE,
      '--no-node-snapshot',
      join(FIXTURES, 'engine-peer.ts'),
      String(QUANTUM),
      '100',
    ]);
    assert.ok(
      await hanaWait((h) => h.peers === 1, 20_000),
      `hana never saw the Link peer: ${hana.lines.slice(-3)}`,
    );
    assert.ok(
      await peerWait((p) => p.peers === 1, 20_000),
      `the Link peer never saw hana: ${peer.lines.slice(-3)}`,
    );
  });

  after(async () => {
    await hana?.stop();
    await peer?.stop();
    await net?.remove();
  });

  it('joins one session: both show the same tempo', async () => {
    const h = await hanaWait(() => true);
    const p = await peerWait(() => true);
    assert.ok(h && p);
    assert.ok(Math.abs(hanaLine(h)!.tempo - peerStatus(p)!.tempo) < 0.001, `${h} / ${p}`);
  });

  it('follows a tempo the Link peer proposes', async () => {
    peer.write('tempo 133');
    assert.ok(await hanaWait((h) => Math.abs(h.tempo - 133) < 0.001), hana.lines.at(-1));
  });

  it('the Link peer follows a tempo hana proposes', async () => {
    hana.write('tempo 97.5');
    assert.ok(await peerWait((p) => Math.abs(p.tempo - 97.5) < 0.001), peer.lines.at(-1));
  });

  it('agrees with the Link peer on the beat at the same CLOCK_MONOTONIC instant within 1 ms', async (t) => {
    await peerWait((p) => Math.abs(p.tempo - 97.5) < 0.001);
    const from = peer.lines.length;
    peer.write('sample 200');
    hana.write('sample 200');
    assert.ok(await peer.waitLine((l) => l === 'sampled', 20_000, from));
    const line = await hana.waitLine((l) => l.startsWith('{"samples"'), 20_000);
    const ours = hanaLine(line!)!.samples!;
    const theirs = peerSamples(peer, from);
    assert.equal(theirs.length, 200);
    const errs = phaseErrorsMs(ours, theirs, 97.5, QUANTUM).sort((a, b) => a - b);
    const worst = Math.max(-errs[0]!, errs.at(-1)!);
    t.diagnostic(
      `beat agreement over ${errs.length} samples: median ${errs[errs.length >> 1]!.toFixed(3)} ms, worst ${worst.toFixed(3)} ms`,
    );
    assert.ok(worst < 1, `phase differs by up to ${worst} ms`);
  });

  it('start/stop propagates both ways', async () => {
    hana.write('play');
    assert.ok(await peerWait((p) => p.playing), 'the Link peer did not start');
    peer.write('stop');
    assert.ok(await hanaWait((h) => !h.playing), 'hana did not stop');
    peer.write('play');
    assert.ok(await hanaWait((h) => h.playing), 'hana did not start');
    hana.write('stop');
    assert.ok(await peerWait((p) => !p.playing), 'the Link peer did not stop');
  });

  it('refuses and counts malformed and oversize Link datagrams', async () => {
    const magic = Buffer.from('_asdp_v\x01', 'latin1').toString('hex');
    const good = Buffer.from(
      encodeAnnouncement('alive', 5, '00000000000000ee', {
        sessionId: '00000000000000ee',
        timeline: { microsPerBeat: 500000, bpm: 120, beatOrigin: 0, timeOrigin: 0 },
        startStop: null,
        measurement: null,
      }),
    );
    const badTempo = Buffer.from(good);
    badTempo.writeBigInt64BE(10_000n, 28); // 6000 bpm
    await send(
      MULTICAST_GROUP,
      MULTICAST_PORT,
      1,
      magic + '00'.repeat(600), // oversize
      `${magic}01`, // truncated header
      badTempo.toString('hex'),
      Buffer.from('_asdp_v\x07', 'latin1').toString('hex') + '00'.repeat(20), // another version
    );
    const h = await hanaWait((x) =>
      ['oversize', 'truncated', 'bad-tempo', 'bad-magic'].every((c) => (x.rejected[c] ?? 0) >= 1),
    );
    assert.ok(h, `not all refused: ${hana.lines.at(-1)}`);
    // The measurement socket: a ping whose payload would make our pong an amplifier.
    const ep = hanaLine(h)!.endpoints[0]!;
    const bigPing = Buffer.concat([
      Buffer.from(encodePing(1, 2)),
      Buffer.from('7a7a7a7a00000008', 'hex'),
      Buffer.alloc(8),
    ]);
    await send(ep.address, ep.port, 1, bigPing.toString('hex'));
    assert.ok(await hanaWait((x) => (x.rejected.oversize ?? 0) >= 2), hana.lines.at(-1));
    // Still in the session, still on the tempo.
    assert.ok(await hanaWait((x) => x.peers === 1 && Math.abs(x.tempo - 97.5) < 0.001));
  });

  it('finds an interface that comes up after start (rescan), and stays in the session', async () => {
    const extra = net.addrA.replace(/\.1$/, '.7');
    await ip('-n', net.a, 'addr', 'add', `${extra}/24`, 'dev', 'veth0');
    const h = await hanaWait((x) => x.endpoints.some((e) => e.address === extra) && x.peers === 1, 20_000);
    assert.ok(h, `no gateway on ${extra}: ${hana.lines.at(-1)}`);
    await ip('-n', net.a, 'addr', 'del', `${extra}/24`, 'dev', 'veth0');
    assert.ok(await hanaWait((x) => x.endpoints.length === 1 && x.peers === 1, 20_000), hana.lines.at(-1));
  });

  it('counts a flood from one source as flood and stays in the session', async () => {
    await send(
      MULTICAST_GROUP,
      MULTICAST_PORT,
      1500,
      Buffer.from('_asdp_v\x01\x01', 'latin1').toString('hex'),
    );
    assert.ok(await hanaWait((x) => (x.rejected.flood ?? 0) > 0), hana.lines.at(-1));
    assert.ok(await hanaWait((x) => x.peers === 1, 15_000), 'hana lost the Link peer after the flood');
  });
});
