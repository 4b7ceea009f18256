import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type AddressPattern, compilePattern, isPattern } from '../../../daemon/state/pattern.ts';

// OSC 1.0 address patterns plus OSC 1.1 `//`. Patterns arrive from the network, so besides the
// syntax we check that adversarial input cannot make matching blow up, and compare the matcher
// with an independent (regex based) reference on random small inputs.

function compile(source: string): AddressPattern {
  const r = compilePattern(source);
  if (!r.ok) assert.fail(`expected ${source} to compile, got: ${r.reason}`);
  return r.pattern;
}

function reject(source: string): string {
  const r = compilePattern(source);
  if (r.ok) assert.fail(`expected ${source} to be rejected`);
  return r.reason;
}

/** Asserts which of `addresses` the pattern matches (the rest must not match). */
function expectMatches(source: string, yes: string[], no: string[]): void {
  const p = compile(source);
  for (const a of yes) assert.equal(p.match(a), true, `${source} should match ${a}`);
  for (const a of no) assert.equal(p.match(a), false, `${source} should not match ${a}`);
}

describe('isPattern', () => {
  it('is false for plain addresses and true for any pattern syntax', () => {
    assert.equal(isPattern('/layer/1/opacity'), false);
    assert.equal(isPattern('/a-b,c!d'), false);
    for (const p of ['/a?', '/a*', '/[ab]', '/a]', '/{a,b}', '/a}', '//a', '/a//b']) {
      assert.equal(isPattern(p), true, p);
    }
  });
});

describe('compilePattern: literal fast path', () => {
  it('marks a plain address literal and matches it exactly', () => {
    const p = compile('/layer/1/opacity');
    assert.equal(p.literal, true);
    assert.equal(p.source, '/layer/1/opacity');
    assert.equal(p.match('/layer/1/opacity'), true);
    assert.equal(p.match('/layer/1/opacity/'), false);
    assert.equal(p.match('/layer/1/opacit'), false);
    assert.equal(p.match('/LAYER/1/opacity'), false);
    assert.equal(p.match('layer/1/opacity'), false);
  });

  it('treats characters that are special only elsewhere (- , !) as literals', () => {
    const p = compile('/a-b/c,d/!e');
    assert.equal(p.literal, true);
    assert.equal(p.match('/a-b/c,d/!e'), true);
    assert.equal(p.match('/a/c/e'), false);
  });

  it('marks patterns as not literal', () => {
    assert.equal(compile('/a*').literal, false);
    assert.equal(compile('//a').literal, false);
  });
});

describe('compilePattern: ? and *', () => {
  it('? matches exactly one character within a part', () => {
    expectMatches('/layer/?/hue', ['/layer/1/hue', '/layer/x/hue'], ['/layer//hue', '/layer/12/hue']);
    expectMatches('/a??', ['/abc', '/a12'], ['/ab', '/abcd']);
  });

  it('? never matches "/"', () => {
    expectMatches('/a?b', ['/axb'], ['/a/b']);
  });

  it('* matches any run of characters (also none) within one part', () => {
    expectMatches('/layer/*', ['/layer/1', '/layer/', '/layer/opacity'], ['/layer', '/layer/1/opacity']);
    expectMatches('/a*b', ['/ab', '/axxb', '/abbb'], ['/a', '/ba', '/a/b']);
    expectMatches('/*/*', ['/a/b', '/x/'], ['/a', '/a/b/c']);
  });

  it('consecutive stars behave like one', () => {
    expectMatches('/a**b', ['/ab', '/a123b'], ['/a1/2b']);
  });

  it('combines ? and *', () => {
    expectMatches('/?*x', ['/ax', '/abcx'], ['/x']);
  });
});

describe('compilePattern: [ ] character sets', () => {
  it('[a-z] matches one character in the range', () => {
    expectMatches(
      '/layer/[1-3]',
      ['/layer/1', '/layer/2', '/layer/3'],
      ['/layer/0', '/layer/4', '/layer/12'],
    );
  });

  it('[!a-z] matches one character outside the range', () => {
    expectMatches('/layer/[!1-3]', ['/layer/0', '/layer/4', '/layer/x'], ['/layer/1', '/layer/3', '/layer/']);
  });

  it('lists single characters and ranges together', () => {
    expectMatches('/[ac-ex]', ['/a', '/c', '/d', '/e', '/x'], ['/b', '/f', '/ac']);
  });

  it('a "-" first or last in the set is literal', () => {
    expectMatches('/[-a]', ['/-', '/a'], ['/b', '/,']);
    expectMatches('/[a-]', ['/-', '/a'], ['/b', '/,']);
    expectMatches('/[!-a]', ['/b', '/,'], ['/-', '/a']);
  });

  it('a reversed range is normalised', () => {
    expectMatches('/[z-a]', ['/a', '/m', '/z'], ['/A', '/0']);
  });

  it('a "]" right after "[" is a member of the set', () => {
    expectMatches('/[]a]', ['/]', '/a'], ['/b']);
  });

  it('a negated set never matches "/" (parts are matched separately)', () => {
    expectMatches('/a[!x]b', ['/ayb'], ['/a/b', '/axb']);
  });
});

describe('compilePattern: { } alternatives', () => {
  it('{a,b} matches one of the listed strings', () => {
    expectMatches(
      '/layer/{1,3}/{opacity,hue}',
      ['/layer/1/opacity', '/layer/3/hue'],
      ['/layer/2/hue', '/layer/1/color', '/layer/13/hue', '/layer/1/opacityhue'],
    );
  });

  it('allows an empty alternative', () => {
    expectMatches('/x{,y}', ['/x', '/xy'], ['/y', '/xyy']);
    expectMatches('/{}x', ['/x'], ['/yx']);
  });

  it('combines braces with ? * and sets in the same part', () => {
    expectMatches('/{ab,cd}*[0-9]?', ['/ab01', '/cdzz9x'], ['/ab0', '/xx01', '/ab/01']);
  });

  it('multiplies several brace groups up to the limit of 32 alternatives', () => {
    expectMatches('/{a,b}{c,d}{e,f}{g,h}{i,j}', ['/acegi', '/bdfhj', '/adehi'], ['/acegk', '/aaaaa']);
  });
});

describe('compilePattern: // (OSC 1.1, any number of levels)', () => {
  it('at the start matches the rest at any depth, including zero levels', () => {
    expectMatches(
      '//opacity',
      ['/opacity', '/master/opacity', '/layer/1/opacity'],
      ['/opacity/x', '/layer/1/hue', '/xopacity'],
    );
  });

  it('in the middle matches zero or more levels between', () => {
    expectMatches(
      '/layer//hue',
      ['/layer/hue', '/layer/1/hue', '/layer/1/2/3/hue'],
      ['/layer', '/hue', '/x/layer/1/hue'],
    );
  });

  it('combines with wildcards in other parts', () => {
    expectMatches(
      '//[12]/{hue,color}',
      ['/layer/1/hue', '/2/color', '/a/b/c/1/hue'],
      ['/layer/3/hue', '/layer/1'],
    );
    expectMatches('/*//b', ['/a/b', '/a/x/y/b'], ['/b', '/a/b/c']);
  });

  it('several slashes in a row act as one //', () => {
    expectMatches('/a///b', ['/a/b', '/a/x/b'], ['/b']);
  });

  it('requires the address to start with "/"', () => {
    expectMatches('//a', ['/a'], ['a', '']);
  });
});

describe('compilePattern: rejections', () => {
  it('rejects patterns longer than 256 characters, accepts exactly 256', () => {
    assert.equal(compilePattern(`/${'a'.repeat(255)}`).ok, true);
    assert.equal(compilePattern(`/${'*'.repeat(255)}`).ok, true);
    assert.equal(reject(`/${'a'.repeat(256)}`), 'longer than 256 characters');
    assert.equal(reject(`/${'*'.repeat(300)}`), 'longer than 256 characters');
  });

  it('rejects a pattern that does not start with "/"', () => {
    assert.equal(reject(''), 'does not start with "/"');
    assert.equal(reject('a/b'), 'does not start with "/"');
    assert.equal(reject('*'), 'does not start with "/"');
  });

  it('rejects a pattern ending with "/"', () => {
    assert.equal(reject('/a*/'), 'ends with "/"');
    assert.equal(reject('/a//'), 'ends with "/"');
    assert.equal(reject('//'), 'ends with "/"');
  });

  it('rejects an unclosed "[" or "{"', () => {
    assert.equal(reject('/a[bc'), 'has "[" without "]"');
    assert.equal(reject('/a[]'), 'has "[" without "]"');
    assert.equal(reject('/a{b,c'), 'has "{" without "}"');
    // The closing bracket must be in the same part.
    assert.equal(reject('/a[b/c]'), 'has "[" without "]"');
    assert.equal(reject('/{a/b}'), 'has "{" without "}"');
  });

  it('rejects a stray "]" or "}"', () => {
    assert.equal(reject('/a]'), 'has "]" without its opening bracket');
    assert.equal(reject('/a}b'), 'has "}" without its opening bracket');
    assert.equal(reject('/{a,b}}'), 'has "}" without its opening bracket');
  });

  it('rejects special characters inside braces', () => {
    for (const p of ['/{a,b*}', '/{a?,b}', '/{a,[b]}', '/{a,{b}', '/{a,b]}']) {
      assert.equal(reject(p), 'has a special character inside "{…}"', p);
    }
  });

  it('rejects more than 32 brace alternatives per part', () => {
    assert.equal(reject('/{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}'), 'has too many "{…}" alternatives');
    assert.equal(
      reject(`/{${Array.from({ length: 33 }, (_, i) => `x${i}`).join(',')}}`),
      'has too many "{…}" alternatives',
    );
    // The limit is per part: 32 in each of two parts is fine.
    const p = compile('/{a,b}{c,d}{e,f}{g,h}{i,j}/{a,b}{c,d}{e,f}{g,h}{i,j}');
    assert.equal(p.match('/acegi/bdfhj'), true);
  });
});

describe('compilePattern: matching cost stays bounded', () => {
  it('many stars against a long non-matching part', () => {
    const p = compile(`/${'*a'.repeat(20)}*b`);
    assert.equal(p.match(`/${'a'.repeat(5000)}`), false);
    assert.equal(p.match(`/${'a'.repeat(5000)}b`), true);
  });

  it('property: adversarial star patterns finish with the right answer', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 4000 }),
        fc.boolean(),
        (k, n, tail) => {
          const p = compile(`/${'*a'.repeat(k)}*b`);
          const address = `/${'a'.repeat(n)}${tail ? 'b' : ''}`;
          assert.equal(p.match(address), tail && n >= k);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('property: adversarial // patterns against deep addresses finish with the right answer', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.boolean(),
        (k, n, tail) => {
          const p = compile(`${'//a'.repeat(k)}//b`);
          const address = `${'/a'.repeat(n)}${tail ? '/b' : ''}`;
          assert.equal(p.match(address), tail && n >= k);
        },
      ),
      { numRuns: 60 },
    );
  });
});

// Reference: translate a generated pattern into a regex directly. A part never spans "/", and
// `//` is "zero or more whole parts".
type Piece = { src: string; re: string };
const TOKENS: Piece[] = [
  { src: 'a', re: 'a' },
  { src: 'b', re: 'b' },
  { src: '-', re: '\\-' },
  { src: '?', re: '[^/]' },
  { src: '*', re: '[^/]*' },
  { src: '[a-b]', re: '[ab]' },
  { src: '[!a]', re: '[^a/]' },
  { src: '[-a]', re: '[\\-a]' },
  { src: '[b-]', re: '[b\\-]' },
  { src: '{a,b}', re: '(?:a|b)' },
  { src: '{ab,}', re: '(?:ab|)' },
  { src: '{-,ba}', re: '(?:\\-|ba)' },
];
const DEEP = 'deep' as const;

const segment = fc
  .array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 3 })
  .map((ts): Piece => ({ src: ts.map((t) => t.src).join(''), re: ts.map((t) => t.re).join('') }));

const generatedPattern = fc
  .tuple(fc.array(fc.oneof(segment, fc.constant(DEEP)), { maxLength: 3 }), segment)
  .map(([items, last]) => {
    let src = '';
    let re = '^';
    for (const item of [...items, last]) {
      if (item === DEEP) {
        src += '/';
        re += '(?:/[^/]*)*';
      } else {
        src += `/${item.src}`;
        re += `/${item.re}`;
      }
    }
    return { src, re: new RegExp(`${re}$`) };
  });

const address = fc.oneof(
  fc.array(fc.constantFrom('a', 'b', '-', '/'), { maxLength: 8 }).map((cs) => `/${cs.join('')}`),
  fc.array(fc.constantFrom('a', 'b', '-', '/'), { maxLength: 4 }).map((cs) => cs.join('')),
);

describe('compilePattern: agrees with a regex reference', () => {
  it('property: same answer on random small patterns and addresses', () => {
    fc.assert(
      fc.property(generatedPattern, fc.array(address, { minLength: 1, maxLength: 12 }), (pat, addresses) => {
        const p = compile(pat.src);
        for (const a of addresses) {
          assert.equal(p.match(a), pat.re.test(a), `pattern ${pat.src} on ${JSON.stringify(a)}`);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('property: the matcher finds every address a pattern was built to match', () => {
    // Random addresses rarely hit long patterns; build matching ones from the same pieces.
    const sample: Record<string, string> = {
      a: 'a',
      b: 'b',
      '-': '-',
      '?': 'b',
      '*': 'ab-',
      '[a-b]': 'b',
      '[!a]': '-',
      '[-a]': '-',
      '[b-]': 'b',
      '{a,b}': 'b',
      '{ab,}': '',
      '{-,ba}': 'ba',
    };
    const built = fc
      .array(
        fc.oneof(fc.array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 3 }), fc.constant(DEEP)),
        { maxLength: 4 },
      )
      .chain((items) =>
        fc.tuple(
          fc.constant(items),
          fc.array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 3 }),
          fc.array(fc.constantFrom('x', 'y/z'), { maxLength: 2 }),
        ),
      );
    fc.assert(
      fc.property(built, ([items, last, fillers]) => {
        let src = '';
        let addr = '';
        for (const item of [...items, last]) {
          if (item === DEEP) {
            src += '/';
            for (const f of fillers) addr += `/${f}`;
          } else {
            src += `/${item.map((t) => t.src).join('')}`;
            addr += `/${item.map((t) => sample[t.src]).join('')}`;
          }
        }
        assert.equal(compile(src).match(addr), true, `pattern ${src} on ${addr}`);
      }),
      { numRuns: 1000 },
    );
  });
});
