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

export function forkPluginHost(opts: {
  log: Logger;
  testHooks: boolean;
  /** With testHooks: this child hangs before it says `ready`. */
  stall: boolean;
  onCatastrophe(c: Catastrophe): void;
}): ChildProcess {
  const { log } = opts;
  const proc = fork(CHILD_PATH, [], {
    // The young-generation cap of daemon/cli/bin.js: the host allocates a frame's JSON 60 times a second.
    execArgv: ['--no-node-snapshot', '--max-semi-space-size=16'],
    serialization: 'json',
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: {
      // glibc gives each thread that finds the arenas busy a new one (up to 8 per core), and
      // their freed pages stay resident. Measured on one host with the examples: 11 arenas
      // holding 15.7 MiB at start and 17.9 MiB four minutes on; with 2, one arena held 7.2 MiB
      // throughout and the host's RSS sat 8 MiB lower. A value already set is kept.
      MALLOC_ARENA_MAX: '2',
      ...process.env,
      HANA_PLUGIN_HOST_TEST_HOOKS: opts.testHooks ? '1' : '0',
      HANA_PLUGIN_HOST_TEST_STALL: opts.testHooks && opts.stall ? '1' : '0',
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
