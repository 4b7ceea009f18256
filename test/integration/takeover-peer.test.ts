import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { oscMessage } from '../../protocols/osc/codec.ts';
import { eventually, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { oscSender } from '../helpers/osc-client.ts';

// Two real daemons linked on loopback; B runs the bundled LFO, which writes /layer/2/opacity
// while a peer takes its writes. A performer moves that fader on A over OSC: the write reaches B
// marked as a person's (inside A's signed batch), and B's LFO gives way, so the fader stays where
// the performer put it on both laptops while the LFO keeps running. Before, B's LFO overwrote it
// on its next frame, and the overwrite came back to A. On a loaded machine the performer's write
// can reach B after the LFO wrote again (stamped later); a person's write ranks ahead of a plugin's
// made within a second of it (state/write-order.ts, human-mark.test.ts), so it still wins.

const LFO = 'hana.examples.lfo';
const PATH = '/layer/2/opacity';
// The performer's value: one the LFO never writes (it rounds to thousandths), so seeing it on B
// means the performer's write arrived. With 0.125 the LFO's own pass through 0.125 once made a
// lost write look delivered. Exact in float32, as OSC's `f` carries it.
const MOVE = 127 / 1024;

type PluginsStatus = {
  plugins: Array<{ id: string; frames: number }>;
  writes: { applied: number; refused: number; held: number };
};
const pluginsOf = async (d: TestDaemon) => (await d.status()).plugins as unknown as PluginsStatus;
const lfoFrames = async (d: TestDaemon) =>
  (await pluginsOf(d)).plugins.find((p) => p.id === LFO)?.frames ?? 0;
const faderOn = async (d: TestDaemon) => (await d.values(PATH))[PATH];

describe('takeover across linked laptops', () => {
  it('a performer’s OSC write on A holds off B’s LFO on that parameter', async () => {
    // A hold far longer than the test: what is checked is that the LFO ran and its writes were
    // held, not how long the hold lasted (that is takeover.test.ts, on a stepped clock).
    const b = await startDaemon({ config: { name: 'bee', plugins: { enabled: true, takeoverMs: 600_000 } } });
    const a = await startDaemon({ config: { name: 'ay', peers: { static: [`127.0.0.1:${b.peerPort}`] } } });
    try {
      assert.ok(await eventually(async () => (await a.status()).sync.links >= 1, 600, 100), 'a links');
      assert.ok(await eventually(async () => (await b.status()).sync.links >= 1, 600, 100), 'b links');
      // A linked peer takes the LFO's writes: it runs, and A sees the fader move.
      const first = await faderOn(a);
      assert.ok(
        await eventually(async () => (await faderOn(a)) !== first, 600, 100),
        'B’s LFO moves the fader on A',
      );
      const osc = await oscSender(a.udpPort);
      await osc.send(oscMessage(PATH, [{ type: 'f', value: MOVE }]));
      osc.close();
      assert.ok(
        await eventually(async () => (await faderOn(b)) === MOVE, 600, 50),
        'the performer’s value reaches B',
      );
      const held = (await pluginsOf(b)).writes.held;
      const frames = await lfoFrames(b);
      assert.ok(
        await eventually(async () => (await lfoFrames(b)) >= frames + 10, 600, 100),
        'the LFO keeps running on B',
      );
      assert.equal(await faderOn(b), MOVE, 'B’s LFO did not overwrite the performer on B');
      assert.equal(await faderOn(a), MOVE, 'nor on A');
      const after = (await pluginsOf(b)).writes;
      assert.ok(after.held > held, `its writes were held, and counted: ${held} -> ${JSON.stringify(after)}`);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
