import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { displayWidth, printable, table } from '../../../daemon/cli/format.ts';

// Tables are padded by terminal columns, and no cell can move the cursor, end the row or
// reorder the columns after it.

describe('displayWidth', () => {
  it('counts East Asian wide and fullwidth characters as two columns', () => {
    assert.equal(displayWidth('舞台'), 4);
    assert.equal(displayWidth('ｓｃｅｎｅ'), 10);
    assert.equal(displayWidth('한글'), 4);
    assert.equal(displayWidth('シーン1'), 7);
  });

  it('counts combining marks and zero-width characters as nothing', () => {
    assert.equal(displayWidth('e\u0301te\u0301'), 3, 'été with é as e + combining acute');
    assert.equal(displayWidth('a\u200bb'), 2, 'zero-width space');
    assert.equal(displayWidth('\u200d'), 0);
  });

  it('counts an emoji (with modifiers, ZWJ sequences or VS16) as two columns', () => {
    assert.equal(displayWidth('🎛'), 1, 'text presentation without VS16');
    assert.equal(displayWidth('🎛\ufe0f'), 2);
    assert.equal(displayWidth('🔥'), 2);
    assert.equal(displayWidth('👍🏽'), 2);
    assert.equal(displayWidth('👩‍🎤'), 2);
    assert.equal(displayWidth('🇯🇵'), 2);
  });

  it('counts plain ASCII by its length', () => {
    assert.equal(displayWidth('verse-2'), 7);
  });
});

describe('printable', () => {
  it('escapes controls, line breaks and bidi overrides, and keeps everything else', () => {
    assert.equal(printable('a\nb'), 'a\\u{a}b');
    assert.equal(printable('\x1b[31mred'), '\\u{1b}[31mred');
    assert.equal(printable('evil\u202etxt.exe'), 'evil\\u{202e}txt.exe');
    assert.equal(printable('\u0085next'), '\\u{85}next', 'a C1 control');
    assert.equal(printable('舞台 é 🔥'), '舞台 é 🔥');
  });
});

describe('table', () => {
  it('lines up every column by display width, whatever the cells hold', () => {
    const rows = [
      ['NAME', 'SAVED', 'SIZE'],
      ['verse', '2026-01-01', '1 kB'],
      ['舞台', '2026-01-02', '2 kB'],
      ['cafe\u0301', '2026-01-03', '3 kB'],
      ['🔥 drop', '2026-01-04', '4 kB'],
      ['bad\nname\u202e', 'x', '5 kB'],
    ];
    const lines = table(rows).split('\n');
    assert.equal(lines.length, rows.length, 'a newline in a cell does not add a row');
    for (const col of [1, 2]) {
      // The display column where the col-th cell starts: cells are apart by two spaces or more.
      const starts = lines.map((l) => {
        const gaps = [...l.matchAll(/ {2,}/g)];
        const gap = gaps[col - 1]!;
        return displayWidth(l.slice(0, gap.index + gap[0].length));
      });
      assert.equal(new Set(starts).size, 1, `column ${col} starts at one place:\n${lines.join('\n')}`);
    }
  });
});
