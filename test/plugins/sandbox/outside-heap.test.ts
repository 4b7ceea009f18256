import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createSandbox, type Sandbox } from '../../../plugins/sandbox/sandbox.ts';
import * as src from '../../fixtures/plugins/sources.ts';
import { disposeSandboxes, frameInput as frame, loadSandbox } from './harness.ts';

// Memory outside the V8 heap that memoryLimit counts: ICU behind Intl and the locale methods,
// and the strings isolated-vm copies into the host when an exception crosses the boundary.
// The attackers here try both; what reaches the host must stay small.

after(disposeSandboxes);

const load = (source: string, extra: Record<string, unknown> = {}): Promise<Sandbox> =>
  loadSandbox(source, extra, {}, 'com.example.heap');

describe('sandbox: memory outside the heap', () => {
  it('has no Intl, and the locale methods answer without ICU (no formatter is ever built)', async () => {
    const s = await load(src.LOCALE_PROBE);
    const o = await s.frame(frame(0));
    if (!o.ok) assert.fail(`${o.code}: ${o.error}`);
    const text = (o.commands[0] as { text: string }).text;
    // A German currency format would be "1.234,50 €", a Turkish upper-case i "İ": neither happens.
    assert.equal(text, ['undefined', '1234.5', '12', 'true', 'I', '-1,1,0', '1.5,2'].join('|'));
  });

  it('the attacker: a plugin building Intl formatters to grow the host outside its heap gets an exception', async () => {
    const s = await load(
      `var plugin = { frame() { const k = []; for (let i = 0; i < 1000; i++) k.push(new Intl.DateTimeFormat('en', { timeZone: 'UTC' })); return []; } };`,
    );
    const o = await s.frame(frame(0));
    assert.equal(o.ok, false);
    if (!o.ok) {
      assert.equal(o.code, 'exception');
      assert.match(o.error, /Intl is not defined/);
    }
  });

  it('the attacker: megabyte errors, every way they can be thrown, reach the host clipped to 500 characters', async () => {
    const s = await load(src.HUGE_ERRORS, { limits: { memoryMb: 64 } });
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < 5; i++) {
      const o = await s.frame(frame(i));
      assert.equal(o.ok, false, `way ${i}`);
      if (!o.ok) {
        assert.ok(['exception', 'invalid-output'].includes(o.code), `way ${i}: ${o.code} ${o.error}`);
        assert.ok(o.error.length <= 501, `way ${i}: ${o.error.length} characters`);
      }
    }
    // The 4 MB strings (8 MB as a message plus its stack) stayed in the isolate.
    assert.ok(process.memoryUsage().rss - rssBefore < 30 * 1024 * 1024);
  });

  it('the attacker: a 50-million-character error thrown by the bundle’s top level stays in the isolate', async () => {
    const rssBefore = process.memoryUsage().rss;
    const r = await createSandbox({
      manifest: src.manifest('com.example.toplevel', { limits: { memoryMb: 256 } }),
      entrySource: src.HUGE_TOP_LEVEL_ERROR,
      width: 10,
      height: 10,
    });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.code, 'exception');
      assert.ok(r.error.length < 600, `${r.error.length} characters`);
      assert.match(r.error, /its top level threw Error: \[50000000 characters\]/);
    }
    // Copied out whole, message and stack were 100 MB in the host (measured: +200 MB of RSS).
    const grew = process.memoryUsage().rss - rssBefore;
    assert.ok(grew < 60 * 1024 * 1024, `the host grew by ${Math.round(grew / 1e6)} MB`);
  });

  it('a display list over the byte cap is refused inside the isolate, before it is copied out', async () => {
    const s = await load(
      `var plugin = { frame() { const t = 'x'.repeat(200); const out = []; for (let i = 0; i < 1400; i++) out.push({ op: 'text', x: 0, y: 0, text: t }); return out; } };`,
      { limits: { cpuMsPerFrame: 50 } },
    );
    const o = await s.frame(frame(0));
    assert.equal(o.ok, false);
    if (!o.ok) {
      assert.equal(o.code, 'invalid-output');
      assert.equal(o.detail, 'too-large');
    }
  });
});
