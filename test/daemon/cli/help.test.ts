import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMANDS, helpFor, main } from '../../../daemon/cli/main.ts';

// Every command and subcommand in the parser's own table answers --help with its usage and
// exit 0, in-process (no daemon needed); the table and the usage text name the same commands.

async function run(argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, { stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s) });
  return { code, stdout: stdout.join(''), stderr: stderr.join('') };
}

/** The synopsis lines of a help text (its description columns cut off). */
const synopses = (help: string) =>
  help
    .split('\n')
    .filter((l) => /^ {2}[a-z]/.test(l))
    .map((l) => l.trim().split(/\s{2,}/)[0]!);

/** Whether a synopsis ("trust allow <id> | trust block <id>") offers a subcommand. */
const mentions = (synopsis: string, name: string, sub: string) =>
  new RegExp(`(^|[\\s|])${sub.replace(' ', '\\s+')}(?=[\\s|]|$)`).test(synopsis.slice(name.length));

describe('hana <command> [subcommand] --help', () => {
  for (const [name, cmd] of Object.entries(COMMANDS)) {
    it(`${name} --help prints its usage and exits 0`, async () => {
      for (const flag of ['--help', '-h']) {
        const r = await run([name, flag]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, '');
        assert.match(r.stdout, new RegExp(`^ {2}${name}( |$)`, 'm'), `the usage names ${name}`);
      }
    });
    for (const sub of cmd.subcommands ?? []) {
      it(`${name} ${sub} --help prints the lines of that subcommand and exits 0`, async () => {
        const r = await run([name, ...sub.split(' '), '--help']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, '');
        const lines = synopses(r.stdout);
        assert.ok(lines.length > 0);
        assert.ok(
          lines.every((l) => mentions(l, name, sub)),
          `every line shown for ${name} ${sub} is about it:\n${r.stdout}`,
        );
      });
    }
  }

  it('the usage text and the command table name the same commands', () => {
    const usage = synopses(helpFor('no-such-command')).map((l) => l.split(' ')[0]!);
    assert.deepEqual([...new Set(usage)].sort(), Object.keys(COMMANDS).sort());
  });

  it('flags before the subcommand do not hide it', async () => {
    const r = await run(['trust', '--home', '/nowhere', 'block', '--help']);
    assert.equal(r.code, 0);
    assert.ok(
      synopses(r.stdout).every((l) => /trust block/.test(l)),
      r.stdout,
    );
  });

  it('an unknown command is a usage error, --help or not', async () => {
    const bad = await run(['frobnicate', '--help']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^hana: unknown command "frobnicate"; see `hana --help`\.\n$/);
  });

  it('a command with subcommands refuses one it does not have, in one line, with exit 2', async () => {
    for (const [name, cmd] of Object.entries(COMMANDS)) {
      if (!cmd.subcommands) continue;
      const r = await run([name, 'no-such-subcommand', '--home', '/nonexistent/hana-home']);
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.equal(r.stderr.split('\n').length, 2, `${name} says it in one line: ${r.stderr}`);
    }
  });
});
