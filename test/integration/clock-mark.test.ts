import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ParamView } from '../../daemon/control/handlers.ts';
import type { DaemonStatus } from '../../daemon/daemon.ts';
import { CLOCK_MARK_FILE, LEGACY_MARK_FILE } from '../../daemon/state/clock-mark.ts';
import { highestMark, readMarkFile } from '../../daemon/state/clock-mark-file.ts';
import { control, startDaemon, type TestDaemon } from '../helpers/daemon.ts';

// A real daemon (child process) with `storage.persist: false` keeps its clock's high-water
// mark in <home>/clock.mark anyway, and a restart starts above it: the stamp of its first write
// is above every stamp it issued before, even when the mark is ahead of the wall clock (as it
// is after the clock stepped back). A damaged clock.mark is a warning, not a failed start.

const NO_PERSIST = { storage: { persist: false } };
const PATH = '/layer/1/opacity';

const status = (d: TestDaemon) => control(d, 'status') as Promise<DaemonStatus>;
async function set(d: TestDaemon, value: string): Promise<{ t: number; c: number }> {
  await control(d, 'set', { path: PATH, words: [value] });
  return (await view(d)).stamp;
}
async function view(d: TestDaemon): Promise<ParamView> {
  const { params } = (await control(d, 'get', { pattern: PATH })) as { params: ParamView[] };
  return params[0]!;
}
const above = (a: { t: number; c: number }, b: { t: number; c: number }) =>
  a.t > b.t || (a.t === b.t && a.c > b.c);

describe('the clock high-water mark in a daemon', () => {
  it('with storage.persist false, a restart whose clock is 10 s behind the mark stamps above it', async () => {
    let d = await startDaemon({ config: NO_PERSIST });
    const home = d.home;
    try {
      const first = await set(d, '0.25');
      const s = await status(d);
      assert.equal(s.clockMark.loaded, 'missing', 'a new home has no mark');
      assert.ok(s.clockMark.mark > first.t, 'the mark is ahead of the stamp just issued');
      // One write at the first stamp; a busy machine may reach the next lease before status.
      assert.ok(s.clockMark.writes >= 1, `${s.clockMark.writes} writes`);
      assert.equal(d.logs.find((l) => l.event === 'clock.mark-missing')?.level, 30, 'info: a new identity');
      await d.stop('SIGTERM', { keepHome: true });

      const file = join(home, CLOCK_MARK_FILE);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      // A write ahead may land after the status call, never below it.
      assert.ok(highestMark(readMarkFile(file))! >= s.clockMark.mark);
      // As a run 10 s later, of a hana from before the slots, on a clock that has since stepped
      // back by 10 s would have left it: the upgrade keeps it as the floor.
      const mark = first.t + 10_000;
      await writeFile(join(home, LEGACY_MARK_FILE), JSON.stringify({ version: 1, mark }));

      d = await startDaemon({ config: NO_PERSIST, home });
      const again = await status(d);
      assert.equal(again.clockMark.loaded, 'ok');
      assert.equal(again.clockMark.floor, mark);
      const behind = d.logs.find((l) => l.event === 'clock.behind-mark');
      assert.equal(behind?.level, 40);
      assert.match(String(behind?.msg), /behind the last stamp it issued/);
      assert.notEqual((await view(d)).value, 0.25, 'nothing was persisted, yet the clock remembers');
      const next = await set(d, '0.5');
      assert.ok(above(next, { t: mark, c: 0 }), `${JSON.stringify(next)} above the mark ${mark}`);
      assert.ok(above(next, first));
    } finally {
      await d.stop();
    }
  });

  it('a damaged clock.mark is a warning and the daemon starts, then rewrites it', async () => {
    let d = await startDaemon({ config: NO_PERSIST });
    const home = d.home;
    try {
      await d.stop('SIGTERM', { keepHome: true });
      await writeFile(join(home, CLOCK_MARK_FILE), '{"v":2,"seq":0,"mark":"soon","crc":0}\n');
      d = await startDaemon({ config: NO_PERSIST, home });
      const warned = d.logs.find((l) => l.event === 'clock.mark-unreadable');
      assert.equal(warned?.level, 40);
      assert.match(
        String(warned?.msg),
        /clock\.mark is unreadable \(slot 1: mark: .*\): stamps start from wall time/,
      );
      assert.equal((await status(d)).clockMark.loaded, 'unreadable');
      const stamp = await set(d, '0.75');
      assert.ok(highestMark(readMarkFile(join(home, CLOCK_MARK_FILE)))! > stamp.t);
    } finally {
      await d.stop();
    }
  });
});
