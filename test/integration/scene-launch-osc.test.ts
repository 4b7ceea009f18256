import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DaemonStatus } from '../../daemon/daemon.ts';
import type { FadeViewStatus } from '../../daemon/scenes/fade-view.ts';
import { oscMessage } from '../../protocols/osc/codec.ts';
import { control, eventually, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { type OscSender, oscSender } from '../helpers/osc-client.ts';

// `/hana/scene/load` and `hana scene load --fade --at` on one real daemon: the OSC form launches
// like the CLI, and every bad request is refused with its reason code, never a crash.

const s = (value: string) => ({ type: 's' as const, value });
const status = async (d: TestDaemon) => (await control(d, 'status')) as DaemonStatus;
const launches = async (d: TestDaemon) => ((await control(d, 'scene.status')) as FadeViewStatus).launches;
const refused = async (d: TestDaemon, code: string) => (await status(d)).rejected[code] ?? 0;

describe('quantized scene loads on one daemon', () => {
  let d: TestDaemon;
  let osc: OscSender;
  before(async () => {
    d = await startDaemon();
    osc = await oscSender(d.udpPort);
  });
  after(async () => {
    osc?.close();
    await d?.stop();
  });

  it('the CLI refuses bad words and a quantized launch before any beat, in one sentence', async () => {
    assert.equal((await d.cli('scene', 'save', 'chorus')).code, 0);
    const fade = await d.cli('scene', 'load', 'chorus', '--fade', '2');
    assert.equal(fade.code, 2);
    assert.match(
      fade.stderr,
      /"2" is not a fade: a fade is seconds \(2s, 0.5s, 500ms\) or beats \(4b\), or 0/,
    );
    const at = await d.cli('scene', 'load', 'chorus', '--at', 'soon');
    assert.equal(at.code, 2);
    assert.match(at.stderr, /"soon" is not a launch point: use bar, beat or now/);
    const early = await d.cli('scene', 'load', 'chorus', '--at', 'bar');
    assert.equal(early.code, 1);
    assert.match(early.stderr, /no shared beat yet.*hana set \/tempo 120/);
    const missing = await d.cli('scene', 'load', 'nope', '--fade', '1s');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no scene "nope"/);
  });

  it('launches on the next beat from OSC, and shows it in hana scene status and hana status --json', async () => {
    assert.equal((await d.cli('set', '/tempo', '120')).code, 0);
    await d.cli('set', '/layer/1/opacity', '0');
    await osc.send(oscMessage('/hana/scene/load', [s('chorus'), s('2b'), s('beat')]));
    assert.ok(
      await eventually(async () => (await launches(d)).length === 1, 100, 20),
      'the OSC message launched the scene',
    );
    const [l] = await launches(d);
    assert.equal((await status(d)).sceneLaunches.launches[0]?.scene, 'chorus', 'hana status --json has it');
    assert.equal(l!.scene, 'chorus');
    assert.equal(l!.fade, '2b');
    assert.equal(Number.isInteger(l!.startBeat), true, 'on a beat');
    const text = await d.cli('scene', 'status');
    assert.match(text.stdout, /^chorus from \S+ on beat \d+\.00, fade 2b: (waiting|fading|done)/);
    assert.ok(await eventually(async () => (await launches(d))[0]!.state === 'done', 200, 20));
    assert.equal(
      ((await control(d, 'get', { pattern: '/layer/1/opacity' })) as { params: { value: number }[] })
        .params[0]!.value,
      1,
    );
  });

  it('refuses bad OSC requests by reason', async () => {
    const cases: Array<[string, ReturnType<typeof s>[] | { type: 'i'; value: number }[]]> = [
      ['scene-bad-request', []],
      ['scene-bad-request', [{ type: 'i', value: 3 }]],
      ['scene-bad-fade', [s('chorus'), s('2')]],
      ['scene-bad-at', [s('chorus'), s('1s'), s('later')]],
      ['scene-unknown', [s('nope')]],
    ];
    for (const [code, args] of cases) {
      const before = await refused(d, code);
      await osc.send(oscMessage('/hana/scene/load', args));
      assert.ok(
        await eventually(async () => (await refused(d, code)) > before, 100, 20),
        `${code} for ${JSON.stringify(args)}`,
      );
    }
    assert.equal((await status(d)).pid, d.proc.pid, 'still the same daemon');
  });
});
