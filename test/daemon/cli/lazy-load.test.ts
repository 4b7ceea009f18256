import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { type CliResult, ROOT, runCli, startDaemon, type TestDaemon } from '../../helpers/daemon.ts';

// `hana status`, `get` and `set` must answer fast (issue 15, part 7), and most of a slow answer
// was loading modules they never use: the daemon behind `start`, zod, pino, werift,
// isolated-vm. This checks which modules each command loads, not how long it takes (timings are
// `npm run bench -- cli`): the binary runs in a process of its own with a preload that records
// every module it resolves.

const RECORDER = pathToFileURL(join(ROOT, 'test', 'helpers', 'record-modules.ts')).href;

/** Modules a client command must not load: each is the daemon's or heavy to load. */
const FORBIDDEN: readonly [RegExp, string][] = [
  [/\/node_modules\//, 'a package (zod, pino, werift, isolated-vm…): the client needs none'],
  [/\/daemon\/daemon\.ts$/, 'the daemon itself'],
  [/\/daemon\/(config|state|sync|link|output|plugins|persist|audit|console)\//, 'a part of the daemon'],
  [/\/(plugins|protocols)\//, 'the plugin runtime or a protocol'],
  [/^node:crypto$/, 'node:crypto (about 20 ms to load, and nothing to sign or hash here)'],
];

let daemon: TestDaemon;
before(async () => {
  daemon = await startDaemon();
});
after(async () => {
  await daemon?.stop();
});

type Run = CliResult & { modules: string[] };

let runs = 0;
/** `hana <args>` as its own process, with the modules it resolved. */
async function runRecorded(args: readonly string[]): Promise<Run> {
  const record = join(daemon.home, `modules-${++runs}.txt`);
  const r = await runCli(args, undefined, {
    args: ['--import', RECORDER],
    env: { HANA_RECORD_MODULES: record },
  });
  return { ...r, modules: (await readFile(record, 'utf8')).split('\n').filter(Boolean) };
}

function assertLean(r: Run, command: string): void {
  for (const url of r.modules) {
    for (const [pattern, what] of FORBIDDEN) {
      assert.ok(!pattern.test(url), `hana ${command} loaded ${url}: ${what}`);
    }
  }
}

describe('the client commands load the client, not the daemon', () => {
  it('hana status', async () => {
    const r = await runRecorded(['status', '--home', daemon.home]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hana \S+ ".*" \(pid \d+/);
    // Not vacuous: the command's own module ran in that process.
    assert.ok(
      r.modules.some((u) => u.endsWith('/daemon/cli/client-commands.ts')),
      r.modules.join('\n'),
    );
    assertLean(r, 'status');
  });

  it('hana set and hana get', async () => {
    const set = await runRecorded(['set', '/tempo', '123', '--home', daemon.home]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^\/tempo = 123/);
    assertLean(set, 'set');
    const get = await runRecorded(['get', '/tempo', '--json', '--home', daemon.home]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal((JSON.parse(get.stdout) as { value: unknown }[])[0]!.value, 123);
    assertLean(get, 'get');
  });

  it('hana --version loads no command at all', async () => {
    const r = await runRecorded(['--version']);
    assert.equal(r.code, 0, r.stderr);
    const ours = r.modules.filter((u) => u.startsWith('file:') && !u.endsWith('record-modules.ts'));
    assert.deepEqual(ours.map((u) => u.slice(u.lastIndexOf('/daemon/'))).sort(), [
      '/daemon/cli/args.ts',
      '/daemon/cli/bin.js',
      '/daemon/cli/command-specs.ts',
      '/daemon/cli/main.ts',
      '/daemon/version.ts',
    ]);
  });
});
