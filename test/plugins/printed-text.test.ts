import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../daemon/cli/main.ts';
import { installPlugin } from '../../plugins/install.ts';
import { pluginDir } from '../../plugins/installed.ts';
import { jsonSafe, printable, printableLines, unsafeTextProblem } from '../../plugins/text-safety.ts';
import { createInstallFixture, type InstallFixture } from './install-fixture.ts';

// What a plugin brings reaches the operator's terminal through `hana plugin list` and
// `hana plugin audit`. The attackers here hide a right-to-left override in code ("Trojan
// Source"), and an escape sequence in a file name; what the CLI prints must hold neither raw.

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding raw control characters is the point
const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;

describe('text safety', () => {
  it('escapes what would repaint or reorder a terminal, and nothing else', () => {
    assert.equal(
      printable('a\u202Eb\x1b[2Jc\u200Bd\u0085e\nf'),
      'a\\u{202e}b\\u{1b}[2Jc\\u{200b}d\\u{85}e\\nf',
    );
    assert.equal(printableLines('one\u202E\ntwo'), 'one\\u{202e}\ntwo');
    assert.equal(printable('Ünïcödé ストロボ 🎛'), 'Ünïcödé ストロボ 🎛');
    assert.equal(unsafeTextProblem('ok\nline', { newlines: true }), undefined);
    assert.match(unsafeTextProblem('ok\nline') ?? '', /control character \(U\+000A/);
  });

  it('JSON keeps the same data, escaped: a reader gets the original string back', () => {
    const value = { name: 'x\u202Ey\u0085z\u200B\u{E0041}' };
    const text = jsonSafe(JSON.stringify(value));
    assert.doesNotMatch(text, RAW);
    assert.doesNotMatch(text, /\u{E0041}/u);
    assert.deepEqual(JSON.parse(text), value);
  });
});

describe('hana plugin audit and list print plugin text escaped', () => {
  let fx: InstallFixture;
  before(async () => {
    fx = await createInstallFixture('printed-text');
    await fx.trust(fx.a, 'Publisher A');
  });
  after(() => fx.cleanup());

  async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await main([...argv, '--home', fx.home], {
      stdout: (s) => {
        stdout += s;
      },
      stderr: (s) => {
        stderr += s;
      },
    });
    return { code, stdout, stderr };
  }

  it('the attacker: a right-to-left override in a flagged line of code is shown escaped by audit', async () => {
    // Displayed raw, the override reverses what follows it on the line.
    const trojan = 'export function frame() { eval("1"); return []; } // \u202E ;)"1"(lave\n';
    const dir = await fx.plugin({ entry: trojan });
    const text = await run(['plugin', 'audit', dir]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /eval/);
    assert.doesNotMatch(text.stdout, RAW);
    assert.match(text.stdout, /\\u\{202e\}/);
    const json = await run(['plugin', 'audit', dir, '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.doesNotMatch(json.stdout, RAW);
    const report = JSON.parse(json.stdout) as { flags: { excerpt: string }[] };
    assert.ok(
      report.flags.some((f) => f.excerpt.includes('\u202E')),
      'the JSON still carries the character',
    );
  });

  it('the attacker: a file with an escape sequence in its name, added to an installed plugin, is named escaped by list', async () => {
    const dir = await fx.plugin({ id: 'com.example.named' });
    const r = await installPlugin(fx.home, dir);
    assert.ok(r.ok, r.ok ? '' : r.error);
    await writeFile(join(pluginDir(fx.home, 'com.example.named'), 'x\x1b]0;pwned\x07\u202Egnp.js'), 'x');
    const list = await run(['plugin', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /REFUSED/);
    // The error quotes the name as JSON (controls as \u001b), the bidi override is escaped too.
    assert.match(list.stdout, /x\\u001b\]0;pwned\\u0007\\u\{202e\}gnp\.js/);
    assert.doesNotMatch(list.stdout, RAW);
    const json = await run(['plugin', 'list', '--json']);
    assert.doesNotMatch(json.stdout, RAW);
    assert.match(JSON.parse(json.stdout)[0].check.error, /\u202E/);
  });

  it('a manifest whose name holds a bidi override is refused by audit with the code point named', async () => {
    const dir = await fx.plugin({ manifest: { name: 'Dots\u202Eexe.' }, sign: false });
    const text = await run(['plugin', 'audit', dir]);
    assert.doesNotMatch(text.stdout + text.stderr, RAW);
    assert.match(text.stdout + text.stderr, /U\+202E/);
  });
});
