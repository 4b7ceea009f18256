import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FlagSpec, parseCommandArgs, portFlag, UsageError } from '../../../daemon/cli/args.ts';

// The CLI's argument parser: flags, values, and numbers that look like options.

const SPEC: FlagSpec = { json: 'boolean', config: 'string', 'osc-port': 'string', verbose: 'boolean' };
const parse = (...argv: string[]) => parseCommandArgs(argv, SPEC);

function usage(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError);
    assert.equal(err.name, 'UsageError');
    assert.match(err.message, message);
    return true;
  });
}

describe('parseCommandArgs', () => {
  it('returns positionals in order when there are no flags', () => {
    assert.deepEqual(parse('set', '/tempo', '128'), { flags: {}, positionals: ['set', '/tempo', '128'] });
    assert.deepEqual(parse(), { flags: {}, positionals: [] });
  });

  it('reads a string flag with its value after a space or after "="', () => {
    assert.deepEqual(parse('--config', 'a.json'), { flags: { config: 'a.json' }, positionals: [] });
    assert.deepEqual(parse('--config=a.json'), { flags: { config: 'a.json' }, positionals: [] });
    assert.deepEqual(parse('--osc-port=9000', 'x'), { flags: { 'osc-port': '9000' }, positionals: ['x'] });
  });

  it('keeps everything after the first "=" as the value, including more "=" and an empty value', () => {
    assert.deepEqual(parse('--config=a=b.json').flags, { config: 'a=b.json' });
    assert.deepEqual(parse('--config=').flags, { config: '' });
  });

  it('reads boolean flags without a value', () => {
    assert.deepEqual(parse('get', '--json', '/tempo', '--verbose'), {
      flags: { json: true, verbose: true },
      positionals: ['get', '/tempo'],
    });
  });

  it('refuses a value on a boolean flag', () => {
    usage(() => parse('--json=true'), /^--json takes no value$/);
  });

  it('accepts single-dash spellings of the same names', () => {
    assert.deepEqual(parse('-json', '-config', 'c.json'), {
      flags: { json: true, config: 'c.json' },
      positionals: [],
    });
  });

  it('a later flag overrides an earlier one', () => {
    assert.deepEqual(parse('--config', 'a', '--config=b').flags, { config: 'b' });
  });

  it('throws UsageError for an unknown option', () => {
    usage(() => parse('--nope'), /^unknown option --nope$/);
    usage(() => parse('--nope=1'), /^unknown option --nope$/);
    usage(() => parse('-x'), /^unknown option --x$/);
    usage(() => parse('---json'), /unknown option/);
  });

  it('does not treat inherited object properties as options', () => {
    usage(() => parse('--constructor'), /^unknown option --constructor$/);
    usage(() => parse('--toString=x'), /^unknown option --toString$/);
    usage(() => parse('--__proto__'), /unknown option/);
  });

  it('throws UsageError when a string flag has no value at the end', () => {
    usage(() => parse('--config'), /^--config needs a value$/);
    usage(() => parse('set', '--osc-port'), /^--osc-port needs a value$/);
  });

  it('reads negative numbers as positionals, not options', () => {
    assert.deepEqual(parse('set', '/x', '-0.5'), { flags: {}, positionals: ['set', '/x', '-0.5'] });
    assert.deepEqual(parse('set', '/scene', '-3'), { flags: {}, positionals: ['set', '/scene', '-3'] });
    assert.deepEqual(parse('-.5', '-1e3', '-12abc').positionals, ['-.5', '-1e3', '-12abc']);
  });

  it('takes a negative number as a string flag value', () => {
    assert.deepEqual(parse('--config', '-1').flags, { config: '-1' });
  });

  it('reads a lone "-" as a positional (stdin by convention)', () => {
    assert.deepEqual(parse('-', '--json'), { flags: { json: true }, positionals: ['-'] });
  });

  it('treats everything after "--" as positionals', () => {
    assert.deepEqual(parse('--json', '--', '--config', '-x', '--'), {
      flags: { json: true },
      positionals: ['--config', '-x', '--'],
    });
    assert.deepEqual(parse('a', '--'), { flags: {}, positionals: ['a'] });
  });

  it('a "--" given as a flag value is the value, not the separator', () => {
    assert.deepEqual(parse('--config', '--', 'x'), { flags: { config: '--' }, positionals: ['x'] });
  });

  it('knows nothing when the spec is empty', () => {
    assert.deepEqual(parseCommandArgs(['a', '-1'], {}), { flags: {}, positionals: ['a', '-1'] });
    assert.throws(() => parseCommandArgs(['--json'], {}), UsageError);
  });
});

describe('portFlag', () => {
  it('is undefined when the flag was not given', () => {
    assert.equal(portFlag(undefined, 'osc-port'), undefined);
  });

  it('accepts 0 to 65535', () => {
    assert.equal(portFlag('0', 'osc-port'), 0);
    assert.equal(portFlag('1', 'osc-port'), 1);
    assert.equal(portFlag('8000', 'osc-port'), 8000);
    assert.equal(portFlag('65535', 'osc-port'), 65535);
  });

  it('rejects anything else with a UsageError naming the flag', () => {
    for (const bad of ['65536', '99999999', '-1', '1.5', '8e3', '0x50', 'abc', '', ' 80', '80 ', '+80']) {
      usage(() => portFlag(bad, 'osc-port'), /^--osc-port must be a port number from 0 to 65535/);
    }
    usage(() => portFlag(true, 'control-port'), /^--control-port must be a port number/);
  });
});
