import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { prng } from '../../helpers/prng.ts';

// The clock mark against a crasher: a real process stamping flat out, its mark written ahead in
// the background as in a daemon, SIGKILLed at random moments, restarted on the same home with
// its wall clock stepped 10 s further back each time. Each life must start above every stamp
// the one before reported, which without the mark it would not (its clock is behind them).

const CLI = join(import.meta.dirname, '..', '..', 'helpers', 'clock-mark-cli.ts');
const LIVES = 6;
const homes: string[] = [];
after(async () => {
  for (const h of homes) await rm(h, { recursive: true, force: true });
});

type Life = { floor: number; first?: { t: number; c: number }; last?: { t: number; c: number } };

/** One life: starts the stamper, lets it report until `stamps` lines or `killAfterMs`, SIGKILLs it. */
async function life(home: string, offsetMs: number, killAfterLines: number): Promise<Life> {
  const child = spawn(process.execPath, ['--no-node-snapshot', CLI, home, String(offsetMs), '200'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out: Life = { floor: -1 };
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    let lines = 0;
    for await (const line of createInterface({ input: child.stdout! })) {
      const [what, a, b] = line.split(' ');
      if (what === 'floor') out.floor = Number(a);
      else {
        const s = { t: Number(a), c: Number(b) };
        out.first ??= s;
        out.last = s;
        if (++lines >= killAfterLines) child.kill('SIGKILL');
      }
    }
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
  }
  return out;
}

const above = (a: { t: number; c: number }, b: { t: number; c: number }) =>
  a.t > b.t || (a.t === b.t && a.c > b.c);

describe('the clock mark against SIGKILL', () => {
  it(`${LIVES} lives killed at random moments, each with its clock 10 s further back, never stamp below the life before`, async () => {
    const home = await mkdtemp(join(tmpdir(), 'hana-clock-kill-'));
    homes.push(home);
    const random = prng(0x5eed);
    let before: Life | undefined;
    for (let i = 0; i < LIVES; i++) {
      // 200 stamps a line: a life of 5–200 lines issues 1,000–40,000 stamps, some within the
      // first lease, some many leases in.
      const l = await life(home, -10_000 * i, 5 + Math.floor(random() * 195));
      assert.ok(l.first && l.last, `life ${i} reported no stamp`);
      if (before) {
        assert.ok(l.floor > before.last!.t, `life ${i} starts at ${l.floor}, not above ${before.last!.t}`);
        assert.ok(above(l.first!, before.last!), `life ${i}'s first stamp is below the life before`);
      }
      before = l;
    }
  });
});
