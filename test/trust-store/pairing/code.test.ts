import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  editDistance,
  generateCode,
  PairingCodeSchema,
  parseCode,
} from '../../../trust-store/pairing/code.ts';
import { WORDS } from '../../../trust-store/pairing/words.ts';

function parsed(text: string) {
  const r = parseCode(text);
  if (!r.ok) assert.fail(`expected ${JSON.stringify(text)} to parse: ${r.error}`);
  return r;
}

function refused(text: string): string {
  const r = parseCode(text);
  if (r.ok) assert.fail(`expected ${JSON.stringify(text)} to be refused, got ${r.code}`);
  return r.error;
}

const word = fc.constantFrom(...WORDS);
const code3 = fc.tuple(word, word, word);

describe('the word list', () => {
  it('has 256 distinct lower-case words of 4-6 letters', () => {
    assert.equal(WORDS.length, 256);
    assert.equal(new Set(WORDS).size, 256);
    for (const w of WORDS) assert.match(w, /^[a-z]{4,6}$/);
  });

  it('gives every word its own first three letters', () => {
    assert.equal(new Set(WORDS.map((w) => w.slice(0, 3))).size, 256);
  });

  it('keeps every two words at least 3 edits apart, so one slip is always correctable', () => {
    for (let i = 0; i < WORDS.length; i++) {
      for (let j = i + 1; j < WORDS.length; j++) {
        const d = editDistance(WORDS[i]!, WORDS[j]!);
        assert.ok(d >= 3, `${WORDS[i]} and ${WORDS[j]} are ${d} edits apart`);
      }
    }
  });

  it('never turns a word with one slip into a prefix of another word', () => {
    const prefixes = new Map<string, string>();
    for (const w of WORDS) for (let n = 3; n <= w.length; n++) prefixes.set(w.slice(0, n), w);
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    for (const w of WORDS) {
      const slips = new Set<string>();
      for (let i = 0; i <= w.length; i++) {
        if (i < w.length) slips.add(w.slice(0, i) + w.slice(i + 1));
        if (i < w.length - 1) slips.add(w.slice(0, i) + w[i + 1] + w[i] + w.slice(i + 2));
        for (const c of letters) {
          slips.add(w.slice(0, i) + c + w.slice(i));
          if (i < w.length) slips.add(w.slice(0, i) + c + w.slice(i + 1));
        }
      }
      for (const s of slips) {
        const other = prefixes.get(s);
        assert.ok(other === undefined || other === w, `'${s}' is ${w} with a slip and a prefix of ${other}`);
      }
    }
  });
});

describe('generateCode', () => {
  it('maps each random byte to one word', () => {
    const { code, prs } = generateCode(() => Uint8Array.of(0, 255, 7));
    assert.equal(code, `${WORDS[0]}-${WORDS[255]}-${WORDS[7]}`);
    assert.equal(Buffer.from(prs).toString('ascii'), code);
  });

  it('uses the system CSPRNG by default and round-trips through parseCode', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const g = generateCode();
      assert.match(g.code, /^[a-z]+-[a-z]+-[a-z]+$/);
      const p = parsed(g.code);
      assert.equal(p.code, g.code);
      assert.deepEqual(p.prs, g.prs);
      assert.equal(p.corrected, false);
      seen.add(g.code);
    }
    assert.ok(seen.size > 45, 'fifty codes from 2^24 should almost never repeat');
  });
});

describe('parseCode tolerance', () => {
  it('property: case, separators and run-together spellings give the same code', () => {
    fc.assert(
      fc.property(
        code3,
        fc.constantFrom(' ', '-', '  ', ' - ', '_', '.', ''),
        fc.boolean(),
        ([a, b, c], sep, upper) => {
          const canonical = `${a}-${b}-${c}`;
          let text = [a, b, c].join(sep);
          if (upper) text = text.toUpperCase();
          const r = parseCode(`  ${text}\n`);
          // Run together, a few word triples could split two ways; those are refused, not guessed.
          if (sep === '' && !r.ok) return;
          assert.ok(r.ok, `${text}: ${r.ok || r.error}`);
          assert.equal(r.code, canonical);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: one slip per word (delete, insert, substitute, swap) is corrected', () => {
    const slip = fc.tuple(word, fc.nat(3), fc.nat(), fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'));
    fc.assert(
      fc.property(fc.tuple(slip, slip, slip), (slips) => {
        const typed = slips.map(([w, kind, at, ch]) => {
          const i = at % w.length;
          if (kind === 0) return w.slice(0, i) + w.slice(i + 1);
          if (kind === 1) return w.slice(0, i) + ch + w.slice(i);
          if (kind === 2) return w.slice(0, i) + ch + w.slice(i + 1);
          const j = Math.min(i, w.length - 2);
          return w.slice(0, j) + w[j + 1] + w[j] + w.slice(j + 2);
        });
        const r = parsed(typed.join('-'));
        assert.equal(r.code, slips.map(([w]) => w).join('-'));
      }),
      { numRuns: 500 },
    );
  });

  it('accepts unique prefixes of three letters or more and says it corrected', () => {
    const r = parsed('amb del oce');
    assert.equal(r.code, 'amber-delta-ocean');
    assert.equal(r.corrected, true);
    assert.equal(parsed('ambr-delta-ocean').code, 'amber-delta-ocean');
    assert.equal(parsed('AMBER DELTA OCEAN').corrected, false);
  });

  it('repeated words are valid codes', () => {
    assert.equal(parsed('zebra zebra zebra').code, 'zebra-zebra-zebra');
  });
});

describe('parseCode errors are one clear sentence', () => {
  it('wrong word count', () => {
    assert.equal(
      refused('ambr-delta'),
      "'ambr-delta' has 2 words; a pairing code has 3, like amber-delta-ocean",
    );
    assert.match(refused('amber delta ocean opal'), /has 4 words; a pairing code has 3/);
    assert.match(refused('xyzzy'), /has 1 word; a pairing code has 3/);
  });

  it('empty and overlong input', () => {
    assert.match(refused(''), /empty/);
    assert.match(refused(' - - '), /empty/);
    assert.match(refused('amber '.repeat(50)), /too long/);
  });

  it('a word that is not on the list, with a suggestion when one is close', () => {
    assert.equal(
      refused('amber-delta-ozean9'),
      "'ozean9' is not a pairing-code word: the words have letters only, like amber-delta-ocean",
    );
    assert.match(refused('amber-delta-ocxxn'), /'ocxxn' is not a pairing-code word \(did you mean ocean\?\)/);
    assert.match(refused('amber-delta-qqqqqq'), /^'qqqqqq' is not a pairing-code word; check it against/);
    assert.match(refused('amber-délta-ocean'), /letters only/);
  });

  it('errors are single sentences without line breaks', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        const r = parseCode(s);
        if (!r.ok) assert.ok(!/[\r\n]/.test(r.error.replace(s.trim(), '')) && r.error.length < 400);
      }),
    );
  });
});

describe('PairingCodeSchema', () => {
  it('turns typed text into the canonical code, or a zod issue with the sentence', () => {
    assert.equal(PairingCodeSchema.parse('Amber delta OCEAN'), 'amber-delta-ocean');
    const r = PairingCodeSchema.safeParse('amber');
    assert.equal(r.success, false);
    assert.match(r.error!.issues[0]!.message, /has 1 word/);
  });
});
