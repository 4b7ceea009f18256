// What the clock's persisted mark costs the stamp path: batches of stamps at a show's pace
// (10 stamps every millisecond for 4 s, as OSC ingest issues them) with no mark (baseline),
// with the mark written synchronously at each lease, and with the mark written ahead in the
// background (daemon/state/clock-mark.ts). The figure that matters is the worst batch: a
// synchronous fsync holds every message behind it.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openClockMark } from '../../daemon/state/clock-mark.ts';
import { createHlc, type HlcMark } from '../../daemon/state/hlc.ts';
import { captureLogger } from '../helpers/log-capture.ts';

const RUN_MS = 4000;
const PER_BATCH = 10;

async function batches(mark: HlcMark | undefined): Promise<number[]> {
  const hlc = createHlc({ node: 'bench', maxDriftMs: 60_000, ...(mark && { mark }) });
  hlc.tick(); // a run's first stamp (the daemon writes its first mark ahead at start)
  await new Promise((r) => setTimeout(r, 50));
  const times: number[] = [];
  const end = performance.now() + RUN_MS;
  while (performance.now() < end) {
    const t0 = performance.now();
    for (let i = 0; i < PER_BATCH; i++) hlc.tick();
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 1));
  }
  return times.sort((a, b) => a - b);
}

const at = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export async function run(report: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hana-bench-mark-'));
  try {
    const { log } = captureLogger();
    const open = (name: string) => openClockMark({ home: join(dir, name), maxDriftMs: 60_000, log });
    for (const n of ['sync', 'ahead']) await mkdir(join(dir, n));
    const bare = await batches(undefined);
    const ahead = open('ahead');
    const sync = open('sync');
    // The same mark without its write-ahead hook: what the stamp path did before.
    const synchronous = await batches({ floor: sync.floor, extend: (t) => sync.extend(t) });
    const background = await batches(ahead);
    const f = (ms: number) => `${(ms * 1000).toFixed(1).padStart(8)} µs`;
    const row = (name: string, s: number[]) =>
      report(`  ${name.padEnd(38)} ${f(at(s, 0.5))} ${f(at(s, 0.99))} ${f(at(s, 0.999))} ${f(s.at(-1)!)}`);
    report(
      `  ${PER_BATCH} stamps a batch, one batch a millisecond for ${RUN_MS / 1000} s; p50, p99, p99.9 and worst batch:`,
    );
    row('no mark (baseline)', bare);
    row('mark written at the lease (before)', synchronous);
    row('mark written ahead (now)', background);
    report(
      `  worst batch vs baseline: before ${(synchronous.at(-1)! / bare.at(-1)!).toFixed(1)}×, now ${(background.at(-1)! / bare.at(-1)!).toFixed(1)}×; writes ahead ${ahead.status().background} of ${ahead.status().writes}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
