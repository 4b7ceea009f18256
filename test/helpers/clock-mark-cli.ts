// A process that only stamps, for SIGKILL tests of the clock mark: opens the mark in <home>
// with the wall clock moved by <offsetMs>, prints `floor <n>`, then stamps as fast as it can
// (yielding every 50 stamps, so writes ahead land as they would in a daemon) and reports the
// highest stamp issued every <every> stamps with a synchronous write to stdout: whatever line
// the parent has read, that stamp was issued. Runs until killed.
//   node clock-mark-cli.ts <home> <offsetMs> <every>
import { writeSync } from 'node:fs';
import { pino } from 'pino';
import { openClockMark } from '../../daemon/state/clock-mark.ts';
import { createHlc } from '../../daemon/state/hlc.ts';

const [home, offsetArg, everyArg] = process.argv.slice(2);
if (!home) {
  process.stderr.write('usage: clock-mark-cli.ts <home> <offsetMs> <every>\n');
  process.exit(2);
}
/** writeSync to stdout, a pipe the parent may read slowly on a busy machine: waits out EAGAIN. */
const pause = new Int32Array(new SharedArrayBuffer(4));
function say(line: string): void {
  for (let i = 0; ; i++) {
    try {
      writeSync(1, line);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || i >= 10_000) throw err;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}
const offset = Number(offsetArg ?? 0);
const every = Math.max(1, Number(everyArg ?? 100));
const now = () => Date.now() + offset;
const log = pino({ level: 'silent' });
const mark = openClockMark({ home, maxDriftMs: 2000, log, now });
const hlc = createHlc({ node: 'kill-test', now, maxDriftMs: 2000, mark });
say(`floor ${mark.floor}\n`);
for (let n = 1; ; n++) {
  const s = hlc.tick();
  if (n % every === 0) say(`stamp ${s.t} ${s.c}\n`);
  if (n % 50 === 0) await new Promise((r) => setImmediate(r));
}
