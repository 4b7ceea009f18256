// Runs the README's `npm test` (or the command given) with every core kept busy by spinning
// child processes, as on a performer's laptop that is rendering a show: a test that passes only
// on an idle machine (it classifies by wall time, polls by count, or spawns a CLI per poll)
// fails here. The spinners run at normal priority and are killed by PID when the suite ends or
// this runner is interrupted; each also exits on its own once its parent is gone, so a SIGKILL
// of this runner leaves no core spinning. The exit code is the suite's.
// Usage: npm run test:loaded [-- --no-tools] [-- --spinners N] [-- <command> <args>...]
//   --no-tools   run the suite through test/without-debian-tools.ts: one run proves both that
//                nothing needs an unlisted Debian tool and that nothing needs an idle machine.
//   --spinners N how many spinners (default: one per core, os.availableParallelism()).
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = join(import.meta.dirname, '..');

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: { 'no-tools': { type: 'boolean', default: false }, spinners: { type: 'string' } },
    allowPositionals: true,
  });
}
try {
  parsed = parse();
} catch (err) {
  console.error(`run-loaded: ${(err as Error).message.split('\n')[0]}`);
  process.exit(2);
}
const { values, positionals } = parsed;
const spinners = values.spinners === undefined ? availableParallelism() : Number(values.spinners);
if (!Number.isInteger(spinners) || spinners < 0 || spinners > 64) {
  console.error(`run-loaded: --spinners takes a whole number from 0 to 64, got ${values.spinners}`);
  process.exit(2);
}
const suite = positionals.length ? positionals : ['npm', 'test'];
const command = values['no-tools']
  ? [process.execPath, join(ROOT, 'test', 'without-debian-tools.ts'), ...suite]
  : suite;

// Checking the parent only every 2^24 turns keeps the loop a pure CPU burner (a few checks a
// second) while still ending it soon after its parent dies without killing it.
// The parent's PID comes as an argument, not from process.ppid at start: under load a spinner's
// Node can take seconds to start, and a runner killed meanwhile would leave it adopted already.
const SPIN =
  'const p=Number(process.argv[1]);for(let i=1;;i++)if((i&0xffffff)===0&&process.ppid!==p)process.exit(0)';
const load: ChildProcess[] = [];
for (let i = 0; i < spinners; i++)
  load.push(spawn(process.execPath, ['-e', SPIN, String(process.pid)], { stdio: 'ignore' }));
const stopLoad = () => {
  for (const p of load) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
};
process.on('exit', stopLoad);

const started = Date.now();
console.error(
  `run-loaded: ${spinners} spinner(s) (PIDs ${load.map((p) => p.pid).join(' ') || 'none'}) while running ${command.join(' ')}`,
);
const child = spawn(command[0]!, command.slice(1), { cwd: ROOT, stdio: 'inherit' });
const forward = (signal: NodeJS.Signals) => {
  stopLoad();
  child.kill(signal);
};
process.on('SIGINT', forward).on('SIGTERM', forward);
child.on('exit', (code, signal) => {
  stopLoad();
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  console.error(`run-loaded: suite exited with ${code ?? signal} after ${secs} s under load`);
  process.exit(code ?? 1);
});
child.on('error', (err) => {
  stopLoad();
  console.error(`run-loaded: ${command[0]}: ${err.message}`);
  process.exit(1);
});
