import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { main } from '../../../daemon/cli/main.ts';

// Every command answers --help with its own usage and exit 0, in-process (no daemon needed).

const COMMANDS = [
  'start',
  'status',
  'params',
  'get',
  'set',
  'id',
  'peers',
  'trust',
  'pair',
  'midi',
  'output',
  'plugin',
  'publisher',
  'scene',
  'audit',
];

async function run(argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, { stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s) });
  return { code, stdout: stdout.join(''), stderr: stderr.join('') };
}

describe('hana <command> --help', () => {
  for (const name of COMMANDS) {
    it(`${name} --help prints its usage and exits 0`, async () => {
      for (const flag of ['--help', '-h']) {
        const r = await run([name, flag]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, '');
        assert.match(r.stdout, new RegExp(`^ {2}${name}( |$)`, 'm'), `the usage names ${name}`);
      }
    });
  }

  it('a subcommand with --help still gets help, and an unknown command is a usage error', async () => {
    assert.equal((await run(['trust', 'allow', '--help'])).code, 0);
    const bad = await run(['frobnicate', '--help']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command "frobnicate"/);
  });
});
