import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClockReading } from '../../../daemon/clock/session-clock.ts';
import { beatAt, phase, type Timeline } from '../../../daemon/clock/timeline.ts';
import { ParamMap } from '../../../daemon/config/params-schema.ts';
import { createFadeView, type FadeView } from '../../../daemon/scenes/fade-view.ts';
import { LAUNCH_PATH, launchParam } from '../../../daemon/scenes/launch-record.ts';
import type { FadeLength, LaunchAt } from '../../../daemon/scenes/launch-spec.ts';
import { createLauncher, type LaunchResult } from '../../../daemon/scenes/launcher.ts';
import type { Scenes } from '../../../daemon/scenes/scenes.ts';
import { createHlc } from '../../../daemon/state/hlc.ts';
import { createRegistry } from '../../../daemon/state/registry.ts';
import { type Change, createStore, type Write } from '../../../daemon/state/store.ts';

// The launch scheduler against a fake session clock: the fade waits for the next bar or beat,
// glides floats and colours over ms or beats (following a tempo change mid-fade), steps the
// rest at the start, gives way to a write by hand, and renders the same on a second laptop
// whatever order the targets and the record arrive in, or not at all when it is already over.

const PARAMS = ParamMap.parse({
  '/a': { type: 'float', min: 0, max: 10, default: 1 },
  '/b': { type: 'bool' },
  '/c': { type: 'int', min: 0, max: 100 },
  '/s': { type: 'string', maxLength: 16 },
  '/col': { type: 'color' },
});
const T0 = 1_700_000_000_000;
const SCENE: Write[] = [
  { path: '/a', value: 9 },
  { path: '/b', value: true },
  { path: '/c', value: 42 },
  { path: '/s', value: 'chorus' },
  { path: '/col', value: '#ff0000ff' },
];

/** One session clock for every laptop of a test: time moves when the test says. */
function sessionClock() {
  const state: { t: number; tl: Timeline | null } = {
    t: T0,
    tl: { tempo: 120, beatOrigin: 0, timeOrigin: T0 },
  };
  const read = (): ClockReading => {
    const base = { timeMs: state.t, offsetMs: 0, errorMs: 0, estimateAgeMs: null };
    if (!state.tl)
      return {
        ...base,
        basis: 'own-clock',
        errorMs: null,
        tempo: 120,
        timeline: null,
        leader: null,
        leaderLinked: false,
        beat: null,
        phase: null,
      };
    const beat = beatAt(state.tl, state.t);
    return {
      ...base,
      basis: 'self',
      tempo: state.tl.tempo,
      timeline: state.tl,
      leader: 'A',
      leaderLinked: true,
      beat,
      phase: phase(beat, 1),
    };
  };
  return {
    state,
    read,
    toBeat: (b: number) =>
      (state.t = state.tl!.timeOrigin + ((b - state.tl!.beatOrigin) * 60_000) / state.tl!.tempo),
  };
}

function laptop(node: string, clock: ReturnType<typeof sessionClock>) {
  const registry = createRegistry(PARAMS, { [LAUNCH_PATH]: launchParam });
  const hlc = createHlc({ node, now: () => Math.floor(clock.state.t) });
  const store = createStore({ registry: registry.stored, hlc });
  const view = createFadeView({
    store,
    registry: registry.stored,
    clock: clock.read,
    self: () => node,
    autoTick: false,
  });
  const seen: Change[] = [];
  view.subscribe((c) => seen.push(...c));
  const scenes = {
    prepare: async (name: string) => ({
      ok: true,
      name,
      savedAt: '2026-12-05T00:00:00Z',
      writes: SCENE,
      skipped: [],
      clamped: [],
    }),
  } as unknown as Scenes;
  const launcher = createLauncher({ scenes, store, hlc, clock: clock.read, quantum: () => 4 });
  const launch = async (fade: FadeLength, at: LaunchAt): Promise<LaunchResult> => {
    const r = await launcher.launch('chorus', { fade, at });
    await settle();
    return r;
  };
  return { store, view, seen, launch, hlc };
}

const settle = () => new Promise<void>((r) => setImmediate(r));
const v = (view: FadeView, path: string) => view.get(path)!.value;
const ms = (length: number): FadeLength => ({ unit: 'ms', length });
const beats = (length: number): FadeLength => ({ unit: 'beats', length });

describe('a quantized launch on one laptop', () => {
  it('waits for the next bar, steps at the start, glides over 2 s, then shows the store', async () => {
    const clock = sessionClock();
    const A = laptop('A', clock);
    clock.toBeat(1.3);
    const r = await A.launch(ms(2000), 'bar');
    assert.ok(r.ok && r.launch);
    assert.equal(r.ok && r.launch?.startBeat, 4);
    // The store holds the targets at once (they replicate); the view holds the old values.
    assert.equal(A.store.get('/a')!.value, 9);
    assert.equal(v(A.view, '/a'), 1);
    assert.equal(v(A.view, '/b'), false);
    assert.equal(A.seen.filter((c) => c.path !== LAUNCH_PATH).length, 0, 'no target shown early');
    assert.equal(A.view.status().launches[0]!.state, 'pending');
    const wait = A.view.tick();
    assert.ok(wait !== undefined && Math.abs(wait - 1350) < 1e-6, `wakes at the bar, ${wait} ms`);
    clock.toBeat(3.999);
    A.view.tick();
    assert.equal(v(A.view, '/c'), 0, 'still before the bar');
    clock.toBeat(4);
    A.view.tick();
    const l = A.view.status().launches[0]!;
    assert.equal(l.state, 'active');
    assert.equal(l.startedAt?.beat, 4);
    assert.equal(l.startedAt?.sessionMs, T0 + 2000);
    assert.equal(l.startedAt?.fromSessionMs, T0 + 2000);
    assert.equal(l.startedAt?.lateMs, 0);
    assert.equal(v(A.view, '/b'), true, 'bools step at the start');
    assert.equal(v(A.view, '/c'), 42, 'ints step');
    assert.equal(v(A.view, '/s'), 'chorus', 'strings step');
    assert.equal(v(A.view, '/a'), 1, 'floats start from where they were');
    clock.state.t += 500;
    A.view.tick();
    assert.equal(v(A.view, '/a'), 3, 'a quarter of the way');
    assert.equal(v(A.view, '/col'), '#400000ff', 'colours glide per channel');
    clock.state.t += 1500;
    A.view.tick();
    assert.equal(v(A.view, '/a'), 9);
    assert.equal(A.view.status().launches[0]!.state, 'done');
    assert.equal(A.view.tick(), undefined, 'nothing left to wake for');
    const last = A.seen.filter((c) => c.path === '/a').at(-1)!;
    assert.equal(last.value, 9, 'subscribers end on the target');
  });

  it('launches on the next beat, and --at now with a fade starts at once', async () => {
    const clock = sessionClock();
    const A = laptop('A', clock);
    clock.toBeat(5.2);
    const r = await A.launch(ms(0), 'beat');
    assert.equal(r.ok && r.launch?.startBeat, 6);
    clock.toBeat(6);
    A.view.tick();
    assert.equal(v(A.view, '/a'), 9, 'no fade: everything lands on the beat');
    clock.toBeat(7.5);
    const now = await A.launch(ms(1000), 'now');
    assert.ok(now.ok);
    A.view.tick();
    assert.equal(A.view.status().launches.at(-1)!.state, 'active');
  });

  it('takes the bar or beat after when the next one is too close for the others to hear of it', async () => {
    const clock = sessionClock();
    const A = laptop('A', clock);
    clock.toBeat(3.95); // 25 ms before the bar
    const bar = await A.launch(ms(0), 'bar');
    assert.equal(bar.ok && bar.launch?.startBeat, 8);
    clock.toBeat(9.91); // 45 ms before the beat
    const beat = await A.launch(ms(0), 'beat');
    assert.equal(beat.ok && beat.launch?.startBeat, 11);
    clock.toBeat(11.8); // 100 ms before it: enough
    const soon = await A.launch(ms(0), 'beat');
    assert.equal(soon.ok && soon.launch?.startBeat, 12);
    assert.equal(A.view.status().launches.at(-1)!.leadMs, 100);
  });

  it('follows a tempo change in the middle of a fade in beats', async () => {
    const clock = sessionClock();
    const A = laptop('A', clock);
    A.store.apply([{ path: '/a', value: 0 }], 'cli');
    clock.toBeat(3.5);
    await A.launch(beats(4), 'bar');
    clock.toBeat(6); // half way at 120 bpm
    A.view.tick();
    assert.equal(v(A.view, '/a'), 4.5);
    // The shared beat slows to 60 bpm at beat 6: a beat is a second now.
    clock.state.tl = { tempo: 60, beatOrigin: 6, timeOrigin: clock.state.t };
    clock.state.t += 1000;
    A.view.tick();
    assert.equal(v(A.view, '/a'), 6.75, 'three quarters after one more (slower) beat');
    clock.state.t += 1000;
    A.view.tick();
    assert.equal(v(A.view, '/a'), 9);
    assert.equal(A.view.status().launches[0]!.state, 'done');
  });

  it('a write by hand ends that parameter’s fade, the others go on', async () => {
    const clock = sessionClock();
    const A = laptop('A', clock);
    clock.toBeat(0.5);
    await A.launch(ms(2000), 'bar');
    clock.toBeat(4);
    A.view.tick();
    clock.state.t += 1000;
    A.view.tick();
    A.store.apply([{ path: '/a', value: 2 }], 'osc:udp:127.0.0.1:9000');
    await settle();
    assert.equal(v(A.view, '/a'), 2, 'the hand wins at once');
    assert.equal(A.seen.at(-1)?.value, 2);
    clock.state.t += 500;
    A.view.tick();
    assert.equal(v(A.view, '/a'), 2, 'and stays');
    assert.equal(v(A.view, '/col'), '#bf0000ff', 'the colour still fades');
    assert.equal(A.view.status().cancelled, 1);
  });

  it('a later launch takes over a fading parameter from where it shows', async () => {
    const clock = sessionClock();
    const A = laptop('A', clock);
    await A.launch(ms(2000), 'now');
    A.view.tick();
    clock.state.t += 1000;
    assert.equal(v(A.view, '/a'), 5);
    // Same targets, a new fade of 1 s from 5 (not from 1, not a jump to 9).
    await A.launch(ms(1000), 'now');
    A.view.tick();
    assert.equal(v(A.view, '/a'), 5);
    clock.state.t += 500;
    A.view.tick();
    assert.equal(v(A.view, '/a'), 7);
    assert.equal(A.view.status().cancelled, 0, 'a launch is not a hand');
  });

  it('refuses to place a launch without a shared beat, and a plain load stays plain', async () => {
    const clock = sessionClock();
    clock.state.tl = null;
    const A = laptop('A', clock);
    const r = await A.launch(ms(0), 'bar');
    assert.equal(!r.ok && r.code, 'no-beat');
    const b = await A.launch(beats(4), 'now');
    assert.equal(!b.ok && b.code, 'no-beat');
    assert.equal(A.store.get('/a')!.value, 1, 'nothing written');
    const plain = await A.launch(ms(0), 'now');
    assert.ok(plain.ok && plain.launch === null);
    assert.equal(A.store.get(LAUNCH_PATH)!.value, '', 'no record for a plain load');
    assert.equal(v(A.view, '/a'), 9);
    const timed = await A.launch(ms(1000), 'now');
    assert.ok(timed.ok && timed.launch?.startBeat === null, 'a fade in seconds needs no beat');
  });
});

/** Delivers A's current entries to B as the sync layer would, in the given path order. */
function deliver(from: ReturnType<typeof laptop>, to: ReturnType<typeof laptop>, paths: string[]) {
  for (const p of paths) to.store.merge(p, from.store.get(p)!);
}
const TARGETS = SCENE.map((w) => w.path);

describe('the same launch on a second laptop', () => {
  it('starts on the same beat whether the record comes after its targets or before', async () => {
    for (const order of [
      [...TARGETS, LAUNCH_PATH],
      [LAUNCH_PATH, ...TARGETS],
    ]) {
      const clock = sessionClock();
      const A = laptop('A', clock);
      const B = laptop('B', clock);
      clock.toBeat(2.1);
      await A.launch(ms(2000), 'bar');
      deliver(A, B, order);
      await settle();
      assert.equal(v(B.view, '/a'), 1, `${order[0]}: old value until the bar`);
      assert.equal(v(B.view, '/b'), false);
      assert.equal(B.seen.filter((c) => c.path !== LAUNCH_PATH).length, 0, 'no target shown early');
      clock.toBeat(4);
      A.view.tick();
      B.view.tick();
      assert.deepEqual(B.view.status().launches[0]!.startedAt, A.view.status().launches[0]!.startedAt);
      clock.state.t += 1000;
      B.view.tick();
      assert.equal(v(B.view, '/a'), 5);
      assert.equal(v(B.view, '/b'), true);
    }
  });

  it('takes back a target shown before its record arrived in a later datagram', async () => {
    const clock = sessionClock();
    const A = laptop('A', clock);
    const B = laptop('B', clock);
    clock.toBeat(2.1);
    await A.launch(ms(2000), 'bar');
    deliver(A, B, ['/a']);
    await settle();
    assert.equal(v(B.view, '/a'), 9, 'no record yet: a write like any other');
    deliver(A, B, [LAUNCH_PATH, '/b']);
    await settle();
    assert.equal(v(B.view, '/a'), 1);
    assert.equal(B.seen.filter((c) => c.path === '/a').at(-1)!.value, 1, 'subscribers are told');
  });

  it('a late joiner ends on the final values, and a replayed launch does nothing new', async () => {
    const clock = sessionClock();
    const A = laptop('A', clock);
    const B = laptop('B', clock);
    clock.toBeat(2.1);
    await A.launch(ms(2000), 'bar');
    clock.toBeat(9); // long over
    deliver(A, B, [...TARGETS, LAUNCH_PATH]);
    await settle();
    assert.equal(v(B.view, '/a'), 9);
    assert.equal(v(B.view, '/s'), 'chorus');
    assert.equal(B.view.status().launches[0]!.state, 'ignored');
    const before = B.seen.length;
    deliver(A, B, [...TARGETS, LAUNCH_PATH]);
    await settle();
    assert.equal(B.seen.length, before, 'the same writes again change nothing');
    assert.equal(B.view.status().launches.length, 1);
  });
});

describe('while nothing fades', () => {
  it('passes a write’s rank on to the store: a person’s mark given by the caller is kept', () => {
    const clock = sessionClock();
    const A = laptop('A', clock);
    A.view.apply([{ path: '/a', value: 2 }], 'sync:correction', { human: true });
    assert.equal(A.store.get('/a')!.human, true, 'ranked as the caller said (write-order.ts)');
    A.view.apply([{ path: '/b', value: 3 }], 'sync:correction');
    assert.equal(A.store.get('/b')!.human, undefined);
  });

  it('passes a local write on at once, in the writer’s call (no deferral)', () => {
    const clock = sessionClock();
    const A = laptop('A', clock);
    A.store.apply([{ path: '/a', value: 2 }], 'osc:udp:127.0.0.1:9000');
    assert.deepEqual(
      A.seen.map((c) => [c.path, c.value]),
      [['/a', 2]],
      'seen before the writer returned to the event loop',
    );
  });

  it('still holds back another laptop’s write: a record after it may claim it', async () => {
    const clock = sessionClock();
    const A = laptop('A', clock);
    const B = laptop('B', clock);
    clock.toBeat(2.1);
    await A.launch(ms(2000), 'bar');
    deliver(A, B, ['/a']);
    assert.equal(B.seen.length, 0, 'deferred');
    deliver(A, B, [LAUNCH_PATH]);
    await settle();
    assert.equal(v(B.view, '/a'), 1, 'claimed as a target: the old value until the bar');
    assert.equal(B.seen.filter((c) => c.path === '/a').length, 0, 'never shown early');
  });

  it('a write a subscriber makes reaches every subscriber after the batch it was answering', async () => {
    const clock = sessionClock();
    const A = laptop('A', clock);
    const order: string[] = [];
    A.view.subscribe((cs) => {
      for (const c of cs) {
        order.push(`first ${c.path}=${c.value}`);
        if (c.path === '/a') A.store.apply([{ path: '/c', value: 7 }], 'cli');
      }
    });
    A.view.subscribe((cs) => {
      for (const c of cs) order.push(`second ${c.path}=${c.value}`);
    });
    A.store.apply([{ path: '/a', value: 2 }], 'cli');
    await settle();
    assert.deepEqual(order, ['first /a=2', 'second /a=2', 'first /c=7', 'second /c=7']);
  });
});
