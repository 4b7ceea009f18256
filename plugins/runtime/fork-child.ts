import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../../daemon/log.ts';
import { CATASTROPHIC_MARKER } from './protocol.ts';

// Starting one plugin host process (child.ts) and reading its stderr: the line the child
// writes before it aborts on a catastrophic isolate error (which names the plugin), and Node's
// own warnings and crash reports, a bounded number of them.

export const CHILD_PATH = join(import.meta.dirname, 'child.ts');

export type Catastrophe = { plugin: string; message: string };

/** With testHooks: a fault this one child is made to have (tests of the host's recovery). */
export type ChildFault =
  | { kind: 'stall' }
  | { kind: 'fail-load'; plugin: string }
  | { kind: 'catastrophic'; plugin: string };

export function forkPluginHost(opts: {
  log: Logger;
  testHooks: boolean;
  fault: ChildFault | undefined;
  onCatastrophe(c: Catastrophe): void;
}): ChildProcess {
  const { log } = opts;
  const proc = fork(CHILD_PATH, [], {
    // Young generation at most 8 MiB (two semispaces of 4): the host allocates a frame's JSON 60
    // times a second and V8 resizes new space with the survival rate, RSS following it (4 -> 8 ->
    // 16 MiB seen; the daemon's cap of 16 allows 32). Measured beside the cap of 16 at the same
    // load: RSS 101-109 MiB against 101-115, the same CPU per frame. Pinning it with
    // --min-semi-space-size does not work here: V8's flags reach the plugins' isolates too, and
    // their young generations grew (RSS 116-136 MiB) past what isolated-vm sizes from memoryMb.
    execArgv: ['--no-node-snapshot', '--max-semi-space-size=4'],
    serialization: 'json',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: {
      // glibc gives each thread that finds the arenas busy a new one (up to 8 per core), and
      // their freed pages stay resident. Measured on one host with the examples: 11 arenas
      // holding 15.7 MiB at start and 17.9 MiB four minutes on; with 2, the second arena held
      // 3.8 -> 5.6 MiB, and with 1 (the main heap only) RSS sat another 4 MiB lower, with the
      // same CPU per frame and no more overruns. A value already set is kept.
      MALLOC_ARENA_MAX: '1',
      ...process.env,
      // Node's module compile cache is off in the host, even if the daemon's environment turns
      // it on (NODE_COMPILE_CACHE, which some set in their shell profile): with it on, a test
      // process that ran a plugin in an isolate aborted at exit in isolated-vm
      // (IsolateEnvironment::GetCurrent, 17 of 25 runs of test/plugins/docs-strobe.test.ts;
      // 0 of 25 with it off). The daemon never turns it on for the host.
      NODE_DISABLE_COMPILE_CACHE: '1',
      HANA_PLUGIN_HOST_TEST_HOOKS: opts.testHooks ? '1' : '0',
      HANA_PLUGIN_HOST_TEST_STALL: opts.testHooks && opts.fault?.kind === 'stall' ? '1' : '0',
      HANA_PLUGIN_HOST_TEST_FAIL_LOAD:
        opts.testHooks && opts.fault?.kind === 'fail-load' ? opts.fault.plugin : '',
      HANA_PLUGIN_HOST_TEST_CATASTROPHIC:
        opts.testHooks && opts.fault?.kind === 'catastrophic' ? opts.fault.plugin : '',
    },
  });
  proc.on('error', (err) => log.warn({ err, event: 'plugin.host-error' }, 'plugin host process error'));
  let stderrLines = 0;
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    if (line.startsWith(CATASTROPHIC_MARKER)) {
      try {
        const c = JSON.parse(line.slice(CATASTROPHIC_MARKER.length)) as { plugin: unknown; message: unknown };
        if (typeof c.plugin === 'string' && typeof c.message === 'string')
          opts.onCatastrophe({ plugin: c.plugin.slice(0, 64), message: c.message.slice(0, 500) });
      } catch {}
      return;
    }
    // Bounded, so a chatty child cannot flood the log.
    if (++stderrLines <= 50)
      log.warn({ event: 'plugin.host-stderr', line: line.slice(0, 500) }, 'plugin host');
  });
  return proc;
}
