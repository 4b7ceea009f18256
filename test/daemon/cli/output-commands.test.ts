import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseCommandArgs, UsageError } from '../../../daemon/cli/args.ts';
import { OUTPUT_FLAGS } from '../../../daemon/cli/command-specs.ts';
import { outputCommand } from '../../../daemon/cli/output-commands.ts';
import { outputHandlers } from '../../../daemon/control/output-handlers.ts';
import { type ControlServer, openControlServer } from '../../../daemon/control/server.ts';
import { controlSocketPath } from '../../../daemon/home.ts';
import { securityLogger } from '../../../daemon/log.ts';
import { startOutputServer } from '../../../daemon/output/server.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

// `hana output` against a real control socket answered by the real handler and output server.

const homes: string[] = [];
const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of closers.reverse()) await c();
  for (const h of homes) await rm(h, { recursive: true, force: true });
});

async function home(): Promise<string> {
  const h = await mkdtemp(join(tmpdir(), 'hana-output-cli-'));
  homes.push(h);
  return h;
}

function capture() {
  const o = { out: '', err: '' };
  return { o, out: { stdout: (s: string) => (o.out += s), stderr: (s: string) => (o.err += s) } };
}

const run = (argv: string[], out: ReturnType<typeof capture>['out']) =>
  outputCommand(parseCommandArgs(argv, OUTPUT_FLAGS), out);

test('hana output prints the page URL with its token, and --json the counters too', async () => {
  const h = await home();
  const { log } = captureLogger();
  const server = await startOutputServer({ bind: '127.0.0.1', port: 0, log, security: securityLogger(log) });
  closers.push(() => server.close());
  const control: ControlServer = await openControlServer(controlSocketPath(h), outputHandlers(server));
  closers.push(() => control.close());

  const text = capture();
  assert.equal(await run(['--home', h], text.out), 0);
  assert.equal(text.o.out.split('\n')[0], server.url);
  assert.match(text.o.out, /press f .*full screen/);
  assert.equal(text.o.err, '');

  const json = capture();
  assert.equal(await run(['--home', h, '--json'], json.out), 0);
  const r = JSON.parse(json.o.out);
  assert.equal(r.url, server.url);
  assert.equal(r.port, server.port);
  assert.equal(r.clients, 0);
});

test('hana output says how to turn the page on when it is off, and exits 1', async () => {
  const h = await home();
  const control = await openControlServer(controlSocketPath(h), outputHandlers(undefined));
  closers.push(() => control.close());
  const c = capture();
  assert.equal(await run(['--home', h], c.out), 1);
  assert.equal(c.o.out, '');
  assert.match(c.o.err, /^hana: the output page is off: set output\.enabled to true/);
});

test('hana output with no daemon exits 1 and says how to start one; extra words are a usage error', async () => {
  const h = await home();
  const c = capture();
  assert.equal(await run(['--home', h], c.out), 1);
  assert.match(c.o.err, /no daemon is running/);
  await assert.rejects(run(['--home', h, 'extra'], c.out), UsageError);
});
