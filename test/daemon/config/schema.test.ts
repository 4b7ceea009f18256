import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../daemon/config/load.ts';
import { DEFAULT_PARAMS, ParamAddress, ParamMap, ParamSpec } from '../../../daemon/config/params-schema.ts';
import { Cidr, Config, type ConfigInput } from '../../../daemon/config/schema.ts';

// The config schema: embedded defaults, the demo parameter set, and error messages a person can
// act on (each names the field at fault).

function errorOf(input: unknown): string {
  const r = parseConfig(input, 'test.json');
  if (r.ok) assert.fail(`expected ${JSON.stringify(input)} to be rejected`);
  assert.match(r.error, /^invalid config in test\.json:\n/);
  return r.error;
}

function configOf(input: ConfigInput) {
  const r = parseConfig(input, 'test.json');
  if (!r.ok) assert.fail(r.error);
  return r.config;
}

describe('Config: embedded defaults', () => {
  it('an empty object parses to the documented defaults', () => {
    const c = configOf({});
    assert.equal(c.name, undefined);
    assert.deepEqual(c.log, { level: 'info', rejectIntervalMs: 10000 });
    assert.equal(c.osc.port, 8000);
    assert.equal(c.osc.bind, '127.0.0.1');
    assert.equal(c.osc.tcp, true);
    assert.deepEqual(c.osc.allow, []);
    assert.equal(c.osc.maxPacketBytes, 8192);
    assert.deepEqual(c.osc.rateLimit, { unitsPerSecond: 25_000, burst: 10_000 });
    assert.deepEqual(c.osc.feedback.targets, []);
    assert.equal(c.midi.enabled, true);
    assert.deepEqual(c.params, DEFAULT_PARAMS);
  });

  it('the defaults are valid by their own schema', () => {
    assert.deepEqual(ParamMap.parse(DEFAULT_PARAMS), DEFAULT_PARAMS);
    assert.equal(Config.safeParse(Config.parse({})).success, true);
  });

  it('declares master opacity, 4 layers (opacity, hue, color), tempo, scene, strobe', () => {
    const p = configOf({}).params;
    assert.deepEqual(p['/master/opacity'], {
      type: 'float',
      min: 0,
      max: 1,
      default: 1,
      outOfRange: 'clamp',
      description: 'Master opacity of the whole output.',
    });
    for (const n of [1, 2, 3, 4]) {
      const opacity = p[`/layer/${n}/opacity`];
      assert.equal(opacity?.type, 'float');
      if (opacity?.type === 'float') {
        assert.deepEqual([opacity.min, opacity.max, opacity.default], [0, 1, n === 1 ? 1 : 0]);
      }
      const hue = p[`/layer/${n}/hue`];
      assert.equal(hue?.type, 'float');
      if (hue?.type === 'float') assert.deepEqual([hue.min, hue.max, hue.unit], [0, 360, 'deg']);
      assert.deepEqual(
        {
          type: p[`/layer/${n}/color`]?.type,
          default: (p[`/layer/${n}/color`] as { default?: string }).default,
        },
        { type: 'color', default: '#ffffffff' },
      );
    }
    const tempo = p['/tempo'];
    assert.equal(tempo?.type, 'float');
    if (tempo?.type === 'float') {
      assert.deepEqual(
        [tempo.min, tempo.max, tempo.default, tempo.unit, tempo.outOfRange],
        [20, 999, 120, 'bpm', 'reject'],
      );
    }
    const scene = p['/scene'];
    assert.equal(scene?.type, 'int');
    if (scene?.type === 'int') assert.deepEqual([scene.min, scene.max, scene.outOfRange], [0, 127, 'reject']);
    assert.equal(p['/strobe']?.type, 'trigger');
    assert.equal(p['/master/blackout']?.type, 'bool');
  });

  it('a config that declares params replaces the demo set rather than adding to it', () => {
    const c = configOf({ params: { '/x': { type: 'float' } } });
    assert.deepEqual(Object.keys(c.params), ['/x']);
    assert.deepEqual(c.params['/x'], { type: 'float', outOfRange: 'clamp' });
  });

  it('fills per-type defaults in declared params', () => {
    const c = configOf({ params: { '/s': { type: 'string' }, '/n': { type: 'int', min: 1 } } });
    assert.deepEqual(c.params['/s'], { type: 'string', maxLength: 256 });
    assert.deepEqual(c.params['/n'], { type: 'int', min: 1, outOfRange: 'clamp' });
  });
});

describe('Config: parameter errors name the field', () => {
  it('min greater than max', () => {
    const e = errorOf({ params: { '/x': { type: 'float', min: 2, max: 1 } } });
    assert.match(e, /min \(2\) is greater than max \(1\)/);
    assert.match(e, /at params\["\/x"\]\.min/);
  });

  it('a default outside the range (either side, int too)', () => {
    const e = errorOf({ params: { '/x': { type: 'float', min: 0, max: 1, default: 3 } } });
    assert.match(e, /default 3 is outside \[min, max\]/);
    assert.match(e, /at params\["\/x"\]\.default/);
    assert.match(errorOf({ params: { '/n': { type: 'int', min: 5, default: 4 } } }), /default 4 is outside/);
  });

  it('an address key that is not a concrete "/part/part" address says what an address is', () => {
    for (const key of ['x', '/x y', '/x/*', '/a/', '//a', '/a#b', '/{a,b}']) {
      const e = errorOf({ params: { [key]: { type: 'float' } } });
      assert.ok(e.includes(`at params["${key}"]`) || e.includes(`at params.${key}`), `${key}: ${e}`);
      assert.match(e, /an address is "\/part\/part"/, e);
    }
  });

  it('an address longer than 256 characters', () => {
    const key = `/${'a'.repeat(256)}`;
    assert.match(errorOf({ params: { [key]: { type: 'float' } } }), /at most 256 characters/);
  });

  it('an unknown field in a param (strict)', () => {
    const e = errorOf({ params: { '/x': { type: 'float', maxx: 1 } } });
    assert.match(e, /unknown field "params\["\/x"\]\.maxx": did you mean "params\["\/x"\]\.max"\?/);
    assert.match(e, /at params\["\/x"\]/);
  });

  it('a field of another type (min on a bool) is unknown', () => {
    const e = errorOf({ params: { '/x': { type: 'bool', min: 0 } } });
    assert.match(e, /unknown field "params\["\/x"\]\.min": "params\["\/x"\]" takes "default", "description"/);
    assert.doesNotMatch(e, /did you mean/, 'min is no typo: a bool has none');
  });

  it('an unknown type lists the valid ones', () => {
    const e = errorOf({ params: { '/x': { type: 'double' } } });
    assert.match(e, /'float' \| 'int' \| 'bool' \| 'string' \| 'trigger' \| 'color'/);
    assert.match(e, /at params\["\/x"\]\.type/);
  });

  it('a parameter that is also a prefix of another', () => {
    const e = errorOf({ params: { '/x': { type: 'float' }, '/x/y': { type: 'int' } } });
    assert.match(e, /\/x is a parameter and also a prefix of \/x\/y/);
  });

  it('a bad colour default and a non-integer int bound', () => {
    assert.match(
      errorOf({ params: { '/c': { type: 'color', default: 'red' } } }),
      /a colour is "#rrggbb" or "#rrggbbaa"/,
    );
    assert.match(errorOf({ params: { '/n': { type: 'int', max: 1.5 } } }), /params\["\/n"\]\.max/);
  });
});

describe('Config: other errors name the field', () => {
  it('an unknown top-level or nested field (strict)', () => {
    assert.match(
      errorOf({ bogus: 1 }),
      /unknown field "bogus": the top level takes "abletonLink", "audit", /,
    );
    const e = errorOf({ osc: { prot: 9000 } });
    assert.match(e, /unknown field "osc\.prot": did you mean "osc\.port"\?/);
    assert.match(e, /at osc/);
  });

  it('osc.bind 0.0.0.0 (or a LAN address) without osc.allow', () => {
    const e = errorOf({ osc: { bind: '0.0.0.0' } });
    assert.match(
      e,
      /osc\.bind is 0\.0\.0\.0, which opens OSC to the network: list the sources that may send in osc\.allow/,
    );
    assert.match(e, /at osc\.allow/);
    assert.match(errorOf({ osc: { bind: '192.168.1.10' } }), /osc\.bind is 192\.168\.1\.10/);
    assert.match(errorOf({ osc: { bind: '::' } }), /osc\.bind is ::/);
  });

  it('accepts a network bind with an allowlist, and any loopback bind without one', () => {
    const c = configOf({ osc: { bind: '0.0.0.0', allow: ['192.168.1.0/24', '10.0.0.7', 'fd00::/8'] } });
    assert.deepEqual(c.osc.allow, ['192.168.1.0/24', '10.0.0.7', 'fd00::/8']);
    assert.equal(configOf({ osc: { bind: '::1' } }).osc.bind, '::1');
    assert.equal(configOf({ osc: { bind: '127.0.0.2' } }).osc.bind, '127.0.0.2');
  });

  it('a bind that is not an address literal', () => {
    assert.match(
      errorOf({ osc: { bind: 'localhost' } }),
      /must be an IPv4 or IPv6 address literal[\s\S]*at osc\.bind/,
    );
  });

  it('a bad CIDR in osc.allow names its index', () => {
    for (const bad of [
      '10.0.0.0/33',
      'fd00::/129',
      'nope',
      '10.0.0.0/8/1',
      '10.0.0.0/x',
      '/8',
      '10.0.0.0/',
    ]) {
      const e = errorOf({ osc: { allow: [bad] } });
      assert.match(e, /must be an address or a CIDR block/, bad);
      assert.match(e, /at osc\.allow\[0\]/, bad);
    }
  });

  it('Cidr accepts addresses and blocks within the family prefix length', () => {
    for (const good of [
      '10.0.0.0/8',
      '0.0.0.0/0',
      '10.0.0.1/32',
      '192.168.1.1',
      '::1',
      'fd00::/8',
      '::/128',
    ]) {
      assert.equal(Cidr.safeParse(good).success, true, good);
    }
  });

  it('a port out of range or not an integer', () => {
    assert.match(errorOf({ osc: { port: 70000 } }), /<=65535[\s\S]*at osc\.port/);
    assert.match(errorOf({ osc: { port: -1 } }), />=0[\s\S]*at osc\.port/);
    assert.match(errorOf({ osc: { port: 1.5 } }), /expected int[\s\S]*at osc\.port/);
    assert.match(errorOf({ osc: { port: '8000' } }), /expected number[\s\S]*at osc\.port/);
    assert.equal(configOf({ osc: { port: 0 } }).osc.port, 0);
    assert.equal(configOf({ osc: { port: 65535 } }).osc.port, 65535);
  });

  it('a feedback target port of 0 and a host name are refused', () => {
    assert.match(
      errorOf({ osc: { feedback: { targets: [{ host: '127.0.0.1', port: 0 }] } } }),
      /osc\.feedback\.targets\[0\]\.port/,
    );
    assert.match(
      errorOf({ osc: { feedback: { targets: [{ host: 'example.com', port: 9000 }] } } }),
      /osc\.feedback\.targets\[0\]\.host/,
    );
    assert.equal(
      configOf({ osc: { feedback: { targets: [{ host: 'localhost', port: 9000 }] } } }).osc.feedback
        .targets[0]?.host,
      'localhost',
    );
  });

  it('a bad log level lists the valid ones', () => {
    assert.match(errorOf({ log: { level: 'verbose' } }), /trace[\s\S]*fatal[\s\S]*at log\.level/);
  });

  it('several problems are all reported', () => {
    const e = errorOf({
      osc: { port: 70000, bind: '0.0.0.0' },
      params: { '/x': { type: 'float', min: 1, max: 0 } },
    });
    assert.match(e, /osc\.port/);
    assert.match(e, /min \(1\) is greater than max \(0\)/);
  });
});

describe('ParamSpec and ParamAddress directly', () => {
  it('ParamAddress accepts concrete addresses only', () => {
    for (const ok of ['/a', '/layer/1/opacity', '/a-b/c_d', '/a.b'])
      assert.equal(ParamAddress.safeParse(ok).success, true, ok);
    for (const bad of ['', '/', 'a', '/a/', '/a//b', '/a b', '/a,b', '/a?', '/[a]']) {
      assert.equal(ParamAddress.safeParse(bad).success, false, bad);
    }
  });

  it('ParamSpec accepts min equal to max and default on a bound', () => {
    assert.equal(ParamSpec.safeParse({ type: 'float', min: 1, max: 1, default: 1 }).success, true);
  });
});
