import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fdatasync } from 'node:fs';
import { access, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  CLOCK_MARK_FILE,
  LEGACY_MARK_FILE,
  leaseFor,
  openClockMark,
} from '../../../daemon/state/clock-mark.ts';
import {
  encodeSlot,
  highestMark,
  readMarkFile,
  SLOT_BYTES,
  SLOT_STRIDE,
} from '../../../daemon/state/clock-mark-file.ts';
import { compareStamps, createHlc, type Stamp } from '../../../daemon/state/hlc.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

// The clock's persisted high-water mark with real files in temp homes and an injected wall
// clock: a "restart" is a new mark and a new HLC on the same home, as the daemon builds them.

const homes: string[] = [];
after(async () => {
  for (const h of homes) await rm(h, { recursive: true, force: true });
});
async function home(): Promise<string> {
  const h = await mkdtemp(join(tmpdir(), 'hana-clock-mark-'));
  homes.push(h);
  return h;
}

const MAX_DRIFT = 2000;

/** One daemon run's clock: wall time from `wall`, the mark in `home`. */
function run(h: string, wall: { now: number }) {
  const { log, lines } = captureLogger();
  const now = () => wall.now;
  const mark = openClockMark({ home: h, maxDriftMs: MAX_DRIFT, log, now });
  const hlc = createHlc({ node: 'n1', now, maxDriftMs: MAX_DRIFT, mark });
  return { mark, hlc, lines };
}

/** Waits (bounded) until no write ahead is under way. */
async function settled(mark: ReturnType<typeof openClockMark>): Promise<void> {
  for (let i = 0; i < 500 && mark.status().pending !== null; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(mark.status().pending, null, 'the write ahead did not finish within 5 s');
}

/** The mark a restart would start above: the highest whole slot of the file. */
const onDiskMark = (h: string) => highestMark(readMarkFile(join(h, CLOCK_MARK_FILE)));

/** Waits (bounded) until a file is removed: clock.json goes with an unlink the write does not await. */
async function gone(path: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (
      await access(path).then(
        () => false,
        () => true,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`${path} is still there after 5 s`);
}

const maxOf = (stamps: Stamp[]) => stamps.reduce((a, b) => (compareStamps(a, b) >= 0 ? a : b));
const events = (lines: Record<string, unknown>[]) => lines.map((l) => [l.level, l.event]);

/** A home whose `file` holds `content`: the start warns (`said`), stamps from wall time, and writes clock.mark. */
async function damagedStart(file: string, content: string | Buffer, said: RegExp): Promise<string> {
  const h = await home();
  await writeFile(join(h, file), content, { mode: 0o600 });
  const { log, lines } = captureLogger();
  const mark = openClockMark({ home: h, maxDriftMs: MAX_DRIFT, log, now: () => 77_000 });
  assert.equal(mark.floor, 0);
  assert.equal(mark.status().loaded, 'unreadable');
  assert.deepEqual(events(lines), [[40, 'clock.mark-unreadable']]);
  assert.match(String(lines[0]!.msg), said);
  const hlc = createHlc({ node: 'n1', now: () => 77_000, mark });
  assert.deepEqual(hlc.tick(), { t: 77_000, c: 0, node: 'n1' });
  assert.equal(onDiskMark(h), 77_000 + leaseFor(MAX_DRIFT));
  await mark.close();
  return h;
}

describe('the clock high-water mark', () => {
  it('the lease is a quarter of the drift bound, at most 1 s', () => {
    assert.equal(leaseFor(2000), 500);
    assert.equal(leaseFor(60_000), 1000);
    assert.equal(leaseFor(200), 50);
  });

  it('after a restart with the wall clock 10 s back, every stamp is above every stamp issued before', async () => {
    const h = await home();
    const wall = { now: 1_700_000_000_000 };
    const first = run(h, wall);
    const before: Stamp[] = [];
    for (let i = 0; i < 3000; i++) {
      wall.now += i % 3; // several stamps per millisecond, as a busy show gives
      before.push(first.hlc.tick());
    }
    // A peer's stamp 1.5 s ahead moves the clock; the next local stamps follow it.
    assert.equal(first.hlc.observe({ t: wall.now + 1500, c: 7, node: 'n2' }), true);
    before.push(first.hlc.tick(), first.hlc.tick());
    const last = maxOf(before);

    wall.now -= 10_000;
    const second = run(h, wall);
    assert.equal(second.mark.status().loaded, 'ok');
    assert.ok(second.mark.floor > last.t);
    const after: Stamp[] = [];
    for (let i = 0; i < 3000; i++) {
      if (i % 1000 === 0) wall.now += 1;
      after.push(second.hlc.tick());
    }
    for (const s of after)
      assert.equal(compareStamps(s, last), 1, `${JSON.stringify(s)} after ${JSON.stringify(last)}`);
    assert.deepEqual(events(second.lines), [[40, 'clock.behind-mark']]);
    assert.match(
      String(second.lines[0]!.msg),
      /clock is 1\d\.\d s behind the last stamp it issued .*check NTP/,
    );
  });

  it('writes clock.mark, mode 0600, one slot a write, and leaves no temp file', async () => {
    const h = await home();
    const wall = { now: 5_000_000 };
    const { hlc, mark } = run(h, wall);
    const s = hlc.tick();
    const st = await stat(join(h, CLOCK_MARK_FILE));
    assert.equal(st.mode & 0o777, 0o600);
    const read = readMarkFile(join(h, CLOCK_MARK_FILE));
    assert.ok(read.exists && 'slots' in read);
    const whole = read.slots.filter((x) => x.ok);
    assert.equal(whole.length, 1, 'the first write fills one slot');
    assert.equal(highestMark(read), s.t + leaseFor(MAX_DRIFT));
    assert.equal(mark.status().mark, highestMark(read));
    assert.deepEqual(await readdir(h), [CLOCK_MARK_FILE]);
    await mark.close();
  });

  // A SIGKILL during a write ahead (most of the time under OSC load) left clock.json.<pid>.ahead.tmp
  // in the home for good; the storage SIGKILL test found it beside the state. A home that an
  // older hana wrote may still hold one.
  it("removes the temp files of a killed older daemon's mark at open, not a live writer's", async () => {
    const h = await home();
    const dead = spawnSync('true').pid!;
    const live = process.ppid;
    for (const name of [
      `clock.json.${dead}.ahead.tmp`,
      `clock.json.${dead}.tmp`,
      `clock.json.${live}.ahead.tmp`,
    ])
      await writeFile(join(h, name), '{');
    await run(h, { now: 5_000_000 }).mark.close();
    assert.deepEqual((await readdir(h)).sort(), [`clock.json.${live}.ahead.tmp`, CLOCK_MARK_FILE]);
  });

  it('10,000 ticks over 10 s of wall time write the file about once per lease, not per tick', async () => {
    const h = await home();
    const wall = { now: 9_000_000 };
    const { hlc, mark } = run(h, wall);
    for (let i = 0; i < 10_000; i++) {
      wall.now += 1;
      hlc.tick();
    }
    const { writes, failures } = mark.status();
    // 10 s / 0.5 s lease = 20 leases, plus the first write.
    assert.ok(writes >= 20 && writes <= 21, `${writes} writes`);
    assert.equal(failures, 0);
  });

  // Issue 18's profile of OSC ingest named this: a synchronous fsync on the stamp path once per
  // lease, stalling everything behind it for as long as the disk took.
  it('writes the next lease ahead in the background: at a steady stamp rate no stamp waits on a write', async () => {
    const h = await home();
    const wall = { now: 9_000_000 };
    const { hlc, mark } = run(h, wall);
    hlc.tick(); // the first stamp of a run has nothing ahead of it: one synchronous write
    const synchronous = () => mark.status().writes - mark.status().background;
    assert.equal(synchronous(), 1);
    for (let i = 0; i < 5000; i++) {
      wall.now += 1;
      const s = hlc.tick();
      const onDisk = onDiskMark(h)!;
      assert.ok(s.t < onDisk, `stamp ${s.t} issued under the mark on disk (${onDisk})`);
      // The disk keeps up: what is being written ahead lands before the next stamp.
      if (mark.status().pending !== null) await settled(mark);
    }
    assert.equal(synchronous(), 1, 'no other synchronous write');
    assert.ok(mark.status().background >= 9, `${mark.status().background} writes ahead in 5 s`);
    assert.deepEqual(await readdir(h), [CLOCK_MARK_FILE], 'no temp file left');
  });

  it('a disk slower than half a lease falls back to the synchronous write, and a late write ahead never lowers the mark', async () => {
    const h = await home();
    const wall = { now: 9_000_000 };
    const { hlc, mark } = run(h, wall);
    const issued: Stamp[] = [];
    // No await: the writes ahead cannot finish while 3 s of stamps go by.
    for (let i = 0; i < 3000; i++) {
      wall.now += 1;
      issued.push(hlc.tick());
      const onDisk = onDiskMark(h)!;
      assert.ok(issued.at(-1)!.t < onDisk);
    }
    assert.notEqual(mark.status().pending, null, 'a write ahead is still under way');
    const before = mark.status().writes;
    assert.ok(before >= 6, `${before} synchronous writes`);
    await settled(mark);
    assert.ok(
      onDiskMark(h)! > maxOf(issued).t,
      'the stale write ahead landed in a slot of its own, below the newer mark',
    );
    assert.equal(mark.status().writes, before);
    assert.deepEqual(await readdir(h), [CLOCK_MARK_FILE]);
  });

  it('remote stamps at the drift bound, however many, write no more than once per lease', async () => {
    const h = await home();
    const wall = { now: 9_000_000 };
    const { hlc, mark } = run(h, wall);
    for (let i = 0; i < 10_000; i++) {
      if (i % 10 === 0) wall.now += 1;
      hlc.observe({ t: wall.now + MAX_DRIFT, c: i, node: 'attacker' });
      hlc.tick();
    }
    // 1 s of wall time, the clock held 2 s ahead: about (2 s + 1 s) / 0.5 s leases.
    assert.ok(mark.status().writes <= 8, `${mark.status().writes} writes`);
  });

  it('a first start in a new home logs at info; a missing mark later is a warning; both start from wall time', async () => {
    const fresh = captureLogger();
    const h1 = await home();
    const a = openClockMark({ home: h1, maxDriftMs: MAX_DRIFT, log: fresh.log, firstStart: true });
    assert.equal(a.floor, 0);
    assert.equal(a.status().loaded, 'missing');
    assert.deepEqual(events(fresh.lines), [[30, 'clock.mark-missing']]);

    const later = captureLogger();
    const b = openClockMark({ home: await home(), maxDriftMs: MAX_DRIFT, log: later.log, now: () => 42_000 });
    const hlc = createHlc({ node: 'n1', now: () => 42_000, mark: b });
    assert.deepEqual(hlc.tick(), { t: 42_000, c: 0, node: 'n1' });
    assert.deepEqual(events(later.lines), [[40, 'clock.mark-missing']]);
    assert.match(String(later.lines[0]!.msg), /no clock mark in .*clock\.mark: stamps start from wall time/);
  });

  for (const [what, content] of [
    ['not JSON', '{"version":1,"mark":'],
    ['a negative mark', '{"version":1,"mark":-5}'],
    ['a fractional mark', '{"version":1,"mark":1.5}'],
    ['a mark as a string', '{"version":1,"mark":"9999999999999"}'],
    ['an unknown version', '{"version":2,"mark":1000}'],
    ['an extra field', '{"version":1,"mark":1000,"node":"x"}'],
    ['an empty file', ''],
  ] as const) {
    it(`a clock.json (before slots) with ${what} starts from wall time with a warning, never a crash, and gives way to clock.mark`, async () => {
      const h = await damagedStart(
        LEGACY_MARK_FILE,
        content,
        /clock mark .*clock\.json is unreadable \(.+\): stamps start from wall time/,
      );
      await gone(join(h, LEGACY_MARK_FILE));
    });
  }

  it('a clock.json from before the slots is the floor, then removed once clock.mark holds a mark above it', async () => {
    const h = await home();
    const floor = 1_700_000_050_000;
    await writeFile(join(h, LEGACY_MARK_FILE), JSON.stringify({ version: 1, mark: floor }), { mode: 0o600 });
    const wall = { now: floor - 20 };
    const { hlc, mark, lines } = run(h, wall);
    assert.equal(mark.status().loaded, 'ok');
    assert.equal(mark.floor, floor);
    assert.deepEqual(events(lines), [], 'an upgrade is not a warning');
    const s = hlc.tick();
    assert.ok(s.t >= floor, `${JSON.stringify(s)} above the old mark ${floor}`);
    assert.ok(onDiskMark(h)! > s.t);
    await mark.close();
    await gone(join(h, LEGACY_MARK_FILE));
    assert.deepEqual(await readdir(h), [CLOCK_MARK_FILE]);
  });

  // The slots are what make an in-place write safe: a crash mid-write spoils the slot written.
  it('a slot torn by a crash is a warning: the floor comes from the whole slots, and the torn one is the next written', async () => {
    const h = await home();
    const wall = { now: 3_000_000 };
    const first = run(h, wall);
    const issued: Stamp[] = [];
    for (let i = 0; i < 1500; i++) {
      wall.now += 1;
      issued.push(first.hlc.tick());
      await settled(first.mark);
    }
    await first.mark.close();
    const file = join(h, CLOCK_MARK_FILE);
    const read = readMarkFile(file);
    assert.ok(read.exists && 'slots' in read);
    assert.equal(read.slots.filter((x) => x.ok).length, 3, 'three writes or more fill every slot');
    // The next write goes to the oldest slot (never the one with the highest mark): tear that
    // one, as power lost halfway through that write would.
    const marks = read.slots.map((x) => (x.ok ? x.slot.mark : -1));
    const next = marks.indexOf(Math.min(...marks));
    const torn = encodeSlot({ seq: 999, mark: 9_999_999_999 });
    torn.fill(0x20, 20, 60);
    const fh = await open(file, 'r+');
    await fh.write(torn, 0, SLOT_BYTES, next * SLOT_STRIDE);
    await fh.close();

    const second = run(h, wall);
    assert.equal(second.mark.status().loaded, 'ok');
    assert.equal(second.mark.floor, Math.max(...marks));
    assert.ok(second.mark.floor > maxOf(issued).t, 'the whole slots cover every stamp issued');
    assert.deepEqual(events(second.lines), [[40, 'clock.mark-slot-damaged']]);
    assert.match(String(second.lines[0]!.msg), /damaged copy \(slot \d: .+\).*taken from the whole ones/);
    wall.now = second.mark.floor + 1;
    second.hlc.tick();
    const again = readMarkFile(file);
    assert.ok(again.exists && 'slots' in again);
    assert.equal(again.slots[next]!.ok, true, 'the torn slot was the one rewritten');
    await second.mark.close();
  });

  for (const [what, bytes] of [
    ['its only slot torn', Buffer.concat([encodeSlot({ seq: 1, mark: 5 }).fill(0x7b, 0, 40)])],
    ['random bytes', Buffer.from('\x01\x02garbage that is no mark at all\n')],
    [
      'a wrong checksum',
      Buffer.from(encodeSlot({ seq: 1, mark: 5 }).toString().replace('"mark":5', '"mark":6')),
    ],
  ] as const) {
    it(`a clock.mark with ${what} starts from wall time with a warning, never a crash, and is rewritten`, async () => {
      await damagedStart(
        CLOCK_MARK_FILE,
        bytes,
        /clock mark .*clock\.mark is unreadable \(slot 1: .+\): stamps start/,
      );
    });
  }

  // What makes writing in place safe: a write never takes the slot a write ahead is still
  // writing, nor the slot with the highest mark. Here the write ahead is held back while three
  // synchronous writes go by, then "the power is cut": its slot is torn, as a write that never
  // finished leaves it. Every stamp issued must still be under the floor of the next start.
  it('a synchronous write while a write ahead is under way takes neither its slot nor the top one; a cut write loses no stamp', async () => {
    const h = await home();
    const wall = { now: 4_000_000 };
    const held: number[] = [];
    const { log } = captureLogger();
    const now = () => wall.now;
    const mark = openClockMark({
      home: h,
      maxDriftMs: MAX_DRIFT,
      log,
      now,
      aheadIo: {
        write: ((_fd: number, _b: Buffer, _o: number, _l: number, position: number) => {
          held.push(position / SLOT_STRIDE); // never completes: the write under way at the cut
        }) as unknown as typeof import('node:fs').write,
        fdatasync,
      },
    });
    const hlc = createHlc({ node: 'n1', now, maxDriftMs: MAX_DRIFT, mark });
    const lease = leaseFor(MAX_DRIFT);
    const issued = [hlc.tick()]; // the first lease: a synchronous write
    wall.now = mark.status().mark - lease / 4; // past half the lease: a write ahead starts
    issued.push(hlc.tick());
    assert.equal(held.length, 1, 'a write ahead is under way');
    const inFlight = held[0]!;
    const file = join(h, CLOCK_MARK_FILE);
    for (let i = 0; i < 3; i++) {
      const before = readMarkFile(file);
      assert.ok(before.exists && 'slots' in before);
      const top = before.slots.findIndex((x) => x.ok && x.slot.mark === highestMark(before));
      wall.now = mark.status().mark + 1; // past the lease: the synchronous write
      issued.push(hlc.tick());
      const after = readMarkFile(file);
      assert.ok(after.exists && 'slots' in after);
      const changed = after.slots.findIndex(
        (x, k) => x.ok && JSON.stringify(x) !== JSON.stringify(before.slots[k]),
      );
      assert.notEqual(changed, -1, 'the synchronous write landed');
      assert.notEqual(changed, inFlight, 'not in the slot being written ahead');
      assert.notEqual(changed, top, 'not over the highest mark');
    }
    const torn = encodeSlot({ seq: 7, mark: 1 }).fill(0x41, 10, 50);
    const fh = await open(file, 'r+');
    await fh.write(torn, 0, SLOT_BYTES, inFlight * SLOT_STRIDE);
    await fh.close();
    const next = openClockMark({ home: h, maxDriftMs: MAX_DRIFT, log, now });
    assert.ok(
      next.floor > maxOf(issued).t,
      `floor ${next.floor} above every stamp issued (${maxOf(issued).t})`,
    );
    await next.close();
  });

  // The renamed file of before came back with the next write; a file written in place must too.
  it('a clock.mark deleted while the daemon runs is written again at the next write, with a warning', async () => {
    const h = await home();
    const wall = { now: 6_000_000 };
    const { hlc, mark, lines } = run(h, wall);
    const first = hlc.tick();
    await rm(join(h, CLOCK_MARK_FILE));
    wall.now = mark.status().mark - leaseFor(MAX_DRIFT) / 4; // past half the lease: a write ahead
    const second = hlc.tick();
    await settled(mark);
    assert.ok(onDiskMark(h)! > second.t, 'the mark is on disk again, above the stamps issued');
    assert.ok(second.t >= first.t);
    assert.deepEqual(
      lines.filter((l) => l.event === 'clock.mark-replaced').map((l) => l.level),
      [40],
    );
    await mark.close();
  });

  it('a clock.mark that a start created and never wrote is missing, not damaged', async () => {
    const h = await home();
    await run(h, { now: 5_000 }).mark.close(); // opened, no stamp
    const { log, lines } = captureLogger();
    const again = openClockMark({ home: h, maxDriftMs: MAX_DRIFT, log, now: () => 6_000 });
    assert.equal(again.status().loaded, 'missing');
    assert.deepEqual(events(lines), [[40, 'clock.mark-missing']]);
    await again.close();
  });

  for (const [what, make] of [
    ['a FIFO', (p: string) => spawnSync('mkfifo', [p]).status === 0],
    [
      'a symlink to another file',
      (p: string) => {
        spawnSync('ln', ['-s', `${p}.target`, p]);
        spawnSync('sh', ['-c', `printf untouched > '${p}.target'`]);
        return true;
      },
    ],
  ] as const) {
    it(`${what} in place of clock.mark is unreadable and written around, never followed or waited on`, async () => {
      const h = await home();
      const file = join(h, CLOCK_MARK_FILE);
      assert.ok(make(file), `could not make ${what}`);
      const wall = { now: 8_000 };
      const { hlc, mark, lines } = run(h, wall);
      assert.equal(mark.status().loaded, 'unreadable');
      assert.match(String(lines[0]!.msg), /is not a regular file|ELOOP/);
      hlc.tick();
      assert.equal(mark.status().failures, 1, 'the write fails, is counted and logged');
      assert.equal(lines.filter((l) => l.event === 'clock.mark-write-failed').length, 1);
      if (what !== 'a FIFO') assert.equal(await readFile(`${file}.target`, 'utf8'), 'untouched');
      await mark.close();
    });
  }

  it('a mark that cannot be written is logged once per failing streak and counted; stamps go on', async () => {
    const h = await home();
    // A directory where the file should be: reading fails and so does every write to it.
    await mkdir(join(h, CLOCK_MARK_FILE));
    const wall = { now: 1_000 };
    const { hlc, mark, lines } = run(h, wall);
    assert.equal(mark.status().loaded, 'unreadable');
    const stamps: Stamp[] = [];
    for (let i = 0; i < 5; i++) {
      wall.now += 600; // past the lease every time
      stamps.push(hlc.tick());
    }
    for (let i = 1; i < stamps.length; i++) assert.equal(compareStamps(stamps[i]!, stamps[i - 1]!), 1);
    assert.equal(mark.status().failures, 5);
    assert.equal(mark.status().writes, 0);
    const failed = lines.filter((l) => l.event === 'clock.mark-write-failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.level, 50);
    assert.match(String(failed[0]!.msg), /cannot write the clock mark .*could reuse stamps/);
    assert.deepEqual(
      (await readdir(h)).filter((f) => f !== CLOCK_MARK_FILE),
      [],
      'no temp file left behind',
    );

    // Fixed: the next lease writes, and that is said once.
    await rm(join(h, CLOCK_MARK_FILE), { recursive: true });
    wall.now += 600;
    hlc.tick();
    assert.equal(mark.status().writes, 1);
    assert.equal(lines.filter((l) => l.event === 'clock.mark-written').length, 1);
  });
});
