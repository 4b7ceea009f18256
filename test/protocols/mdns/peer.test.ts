import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type DiscoveryInit,
  MDNS_REJECT_CODES,
  type MdnsRejection,
  parsePeer,
  startDiscovery,
} from '../../../protocols/mdns/index.ts';
import { createPeerTable } from '../../../protocols/mdns/peer-table.ts';
import { formatDeviceId, parseDeviceId } from '../../../trust-store/device-id.ts';

// No network here: what arrives from a browser is validated and turned into found/lost events.

const ID_A = formatDeviceId(randomBytes(32));
const ID_B = formatDeviceId(randomBytes(32));

const good = (over: Record<string, unknown> = {}, txt: Record<string, unknown> = {}) => ({
  name: 'alpha-1',
  port: 41001,
  txt: { v: '1', id: ID_A, ens: 'band-one', ...txt },
  addresses: [],
  referer: { address: '127.0.0.1', family: 'IPv4', port: 5353, size: 200 },
  ...over,
});

describe('parsePeer', () => {
  it('accepts a well-formed service, using the packet source on a loopback-only host', () => {
    assert.deepEqual(parsePeer(good()), {
      instance: 'alpha-1',
      deviceId: ID_A,
      ensembleTag: 'band-one',
      protocolVersion: 1,
      address: '127.0.0.1',
      port: 41001,
    });
    assert.equal((parsePeer(good({}, { v: '42' })) as { port: number }).port, 41001);
  });

  it('checks the id hint with the device-ID parser and keeps its canonical spelling', () => {
    const id = (value: unknown) => (parsePeer(good({}, { id: value })) as { deviceId?: string }).deviceId;
    assert.equal(id(ID_A.toLowerCase()), ID_A);
    assert.equal(id(ID_A.replaceAll('-', ' ')), undefined, 'a space is not a token character');
    const bare = ID_A.replaceAll('-', '');
    assert.equal(id(bare), ID_A);
    // The 52-character form without check characters is a device ID too.
    const unchecked = [0, 1, 2, 3].map((c) => bare.slice(c * 14, c * 14 + 13)).join('');
    assert.equal(id(unchecked), ID_A);
    const typo = `${ID_A.slice(0, 3)}${ID_A[3] === 'A' ? 'B' : 'A'}${ID_A.slice(4)}`;
    assert.equal(parseDeviceId(typo).ok, false);
    assert.deepEqual(parsePeer(good({}, { id: typo })), { bad: 'bad-id' });
  });

  it('dials the packet source, never an address the announcement claims', () => {
    const addr = (addresses: unknown, referer: unknown) =>
      (parsePeer(good({ addresses, referer })) as { address?: string }).address;
    assert.equal(addr(['172.17.0.1', '10.0.0.5'], { address: '10.0.0.5' }), '10.0.0.5');
    assert.equal(addr(['10.0.0.5'], { address: '192.168.1.9' }), '192.168.1.9', 'a forged A record');
    assert.equal(addr(['fe80::1', '10.0.0.7'], { address: '10.0.0.8' }), '10.0.0.8');
    for (const referer of [
      undefined,
      null,
      'x',
      { address: 'fe80::1' },
      { address: '0.0.0.0' },
      { address: '224.0.0.251' },
      { address: '255.255.255.255' },
      { address: 167772165 },
    ]) {
      assert.deepEqual(parsePeer(good({ addresses: ['10.0.0.7'], referer })), { bad: 'no-address' });
    }
  });

  it('checks the A/AAAA records for shape although it never dials them', () => {
    assert.equal((parsePeer(good({ addresses: undefined })) as { port?: number }).port, 41001);
    assert.equal((parsePeer(good({ addresses: ['fe80::1', '10.0.0.1'] })) as { port?: number }).port, 41001);
    for (const addresses of [
      'x',
      {},
      [1],
      ['not-an-ip'],
      ['10.0.0.1', null],
      ['0.0.0.0'],
      ['224.0.0.251'],
      ['10.0.0.1', '255.255.255.255'],
      Array.from({ length: 33 }, (_, i) => `10.0.0.${i}`),
    ]) {
      assert.deepEqual(parsePeer(good({ addresses })), { bad: 'bad-address' }, JSON.stringify(addresses));
    }
  });

  it('rejects garbage with a stable reason code', () => {
    const cases: [unknown, string][] = [
      [null, 'bad-instance'],
      ['alpha', 'bad-instance'],
      [good({ name: undefined }), 'bad-instance'],
      [good({ name: '' }), 'bad-instance'],
      [good({ name: 'a.b' }), 'bad-instance'],
      [good({ name: 'x'.repeat(64) }), 'bad-instance'],
      [good({ name: 'é'.repeat(32) }), 'bad-instance'], // 64 bytes
      [good({ name: 'evil\nlog line' }), 'bad-instance'],
      [good({ port: 0 }), 'bad-port'],
      [good({ port: 65536 }), 'bad-port'],
      [good({ port: 1.5 }), 'bad-port'],
      [good({ port: '80' }), 'bad-port'],
      [good({ txt: undefined }), 'no-txt'],
      [good({ txt: 'v=1' }), 'no-txt'],
      [good({ txt: {} }), 'bad-version'],
      [good({ txt: Object.create({ v: '1', id: ID_A, ens: 'b' }) }), 'bad-version'], // inherited only
      ...['0', '-1', '01', '1.5', '1e3', ' 1', 'abc', '', '1234567890'].map((v): [unknown, string] => [
        good({}, { v }),
        'bad-version',
      ]),
      [good({}, { v: 1 }), 'bad-version'],
      [good({}, { id: undefined }), 'bad-id'],
      [good({}, { id: '' }), 'bad-id'],
      [good({}, { id: 'NOT-A-DEVICE-ID' }), 'bad-id'],
      [good({}, { id: 'DEV-ALPHA' }), 'bad-id'],
      [good({}, { id: 'X'.repeat(128) }), 'bad-id'],
      [good({}, { id: 'X'.repeat(129) }), 'bad-id'],
      [good({}, { id: 'two words' }), 'bad-id'],
      [good({}, { id: 'a\u0000b' }), 'bad-id'],
      [good({}, { id: 'ünï' }), 'bad-id'],
      [good({}, { id: [ID_A] }), 'bad-id'],
      [good({}, { ens: undefined }), 'bad-ensemble'],
      [good({}, { ens: '' }), 'bad-ensemble'],
      [good({}, { ens: 'e'.repeat(129) }), 'bad-ensemble'],
    ];
    for (const [input, bad] of cases) assert.deepEqual(parsePeer(input), { bad }, JSON.stringify(input));
  });

  it('does not read TXT keys through the prototype', () => {
    const txt = JSON.parse(`{"__proto__": {"v": "1"}, "id": "${ID_A}", "ens": "b"}`);
    assert.deepEqual(parsePeer(good({ txt })), { bad: 'bad-version' });
  });

  it('never throws, and returns a known code or a peer whose hint is a device ID at the source', () => {
    const value = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.integer(),
      fc.constant(undefined),
      fc.constant(null),
      fc.constant(ID_A),
      fc.constant('1'),
      fc.constant('band-one'),
      fc.array(fc.string(), { maxLength: 3 }),
    );
    const service = fc.record(
      {
        name: fc.oneof(fc.constant('alpha-1'), fc.string(), fc.integer()),
        port: fc.oneof(fc.integer({ min: -5, max: 70_000 }), fc.double(), fc.string()),
        txt: fc.oneof(
          fc.dictionary(fc.constantFrom('v', 'id', 'ens', '__proto__', 'constructor', 'x'), value),
          value,
        ),
        addresses: fc.oneof(fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string())), value),
        referer: fc.oneof(fc.record({ address: fc.oneof(fc.ipV4(), fc.ipV6(), value) }), value),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(service, (s) => {
        const r = parsePeer(s);
        if ('bad' in r) return MDNS_REJECT_CODES.includes(r.bad);
        return parseDeviceId(r.deviceId).ok && r.address === (s.referer as { address: string }).address;
      }),
      { numRuns: 400 },
    );
  });
});

describe('peer table', () => {
  const setup = (maxEntries?: number) => {
    const log: string[] = [];
    const rejections: MdnsRejection[] = [];
    const table = createPeerTable({
      ownInstance: 'me-0',
      ensembleTag: 'band-one',
      maxEntries,
      onFound: (p) => log.push(`found ${p.instance} ${p.address}:${p.port}`),
      onLost: (i) => log.push(`lost ${i}`),
      onWarning: (m) => log.push(`warn ${m}`),
      onReject: (r) => rejections.push(r),
    });
    return { table, log, rejections };
  };
  const from = (address: string) => ({ referer: { address } });

  it('reports a peer once, again when its data changes, and lost only if known', () => {
    const { table, log } = setup();
    table.seen(good());
    table.seen(good());
    table.seen(good({ port: 41009 }));
    table.seen(good({ port: 41009 }, { id: ID_B }));
    table.gone('nobody-9');
    table.gone('alpha-1');
    table.gone('alpha-1');
    assert.deepEqual(log, [
      'found alpha-1 127.0.0.1:41001',
      'found alpha-1 127.0.0.1:41009',
      'found alpha-1 127.0.0.1:41009',
      'lost alpha-1',
    ]);
    assert.deepEqual(table.known(), []);
  });

  it('ignores itself and other ensembles; a peer moving to another ensemble is lost', () => {
    const { table, log } = setup();
    table.seen(good({ name: 'me-0' }));
    table.seen(good({ name: 'other-band' }, { ens: 'band-two' }));
    table.seen(good());
    table.seen(good({}, { ens: 'band-two' }));
    assert.deepEqual(log, ['found alpha-1 127.0.0.1:41001', 'lost alpha-1']);
  });

  it('reports every rejection with its code, source and instance, and counts them', () => {
    const { table, log, rejections } = setup();
    table.seen(good());
    table.seen(good({}, { v: 'x' }));
    table.seen(good({}, { v: 'x' }));
    table.seen(good({ name: 'bad-2', port: 0, ...from('10.0.0.4') }));
    table.seen(good({ name: 'evil\nline', ...from('10.0.0.4') }));
    table.seen(good({ name: 42, referer: 'x' }));
    table.reject({ code: 'undecodable', source: 'unknown' });
    assert.deepEqual(log, ['found alpha-1 127.0.0.1:41001', 'lost alpha-1']);
    assert.deepEqual(rejections, [
      { code: 'bad-version', source: '127.0.0.1', instance: '"alpha-1"' },
      { code: 'bad-version', source: '127.0.0.1', instance: '"alpha-1"' },
      { code: 'bad-port', source: '10.0.0.4', instance: '"bad-2"' },
      { code: 'bad-instance', source: '10.0.0.4', instance: '"evil\\nline"' },
      { code: 'bad-instance', source: 'unknown' },
      { code: 'undecodable', source: 'unknown' },
    ]);
    assert.deepEqual(table.rejected(), {
      'bad-version': 2,
      'bad-port': 1,
      'bad-instance': 2,
      undecodable: 1,
    });
  });

  it('lets only the address a peer was found at take it away', () => {
    const { table, log } = setup();
    table.seen(good({ ...from('10.0.0.2') }));
    // Anyone can send an announcement naming alpha-1: from elsewhere it changes nothing we dial.
    table.seen(good({ port: 0, ...from('10.0.0.66') }));
    table.seen(good({ ...from('10.0.0.66') }, { ens: 'band-two' }));
    table.seen(good({ ...from('10.0.0.66') }, { id: 'NOT-AN-ID' }));
    assert.deepEqual(log, ['found alpha-1 10.0.0.2:41001']);
    table.seen(good({ ...from('10.0.0.2') }, { id: 'NOT-AN-ID' }));
    assert.deepEqual(log, ['found alpha-1 10.0.0.2:41001', 'lost alpha-1']);
  });

  it('caps what it tracks and says so once', () => {
    const { table, log } = setup(2);
    for (let i = 0; i < 5; i++) table.seen(good({ name: `peer-${i}` }));
    assert.equal(table.known().length, 2);
    assert.equal(log.filter((l) => l.startsWith('warn')).length, 1);
  });
});

describe('startDiscovery options', () => {
  // Each of these throws before any socket is created.
  const base: DiscoveryInit = {
    instance: 'alpha-1',
    port: 41001,
    deviceId: ID_A,
    ensembleTag: 'band-one',
    protocolVersion: 1,
    onFound: () => {},
    onLost: () => {},
    onWarning: () => {},
  };
  for (const [what, over] of [
    ['a dotted instance', { instance: 'stage.left-1' }],
    ['an over-long instance', { instance: 'x'.repeat(64) }],
    ['port 0', { port: 0 }],
    ['an empty device ID', { deviceId: '' }],
    ['a device ID with a typo', { deviceId: `${ID_A.slice(0, -1)}${ID_A.endsWith('A') ? 'B' : 'A'}` }],
    ['a token that is not a device ID', { deviceId: 'DEV-ALPHA' }],
    ['a 129-char ensemble tag', { ensembleTag: 'e'.repeat(129) }],
    ['protocol version 0', { protocolVersion: 0 }],
    ['a non-IPv4 interface', { interface: 'eth0' }],
    ['requeryMs 10', { requeryMs: 10 }],
  ] as const) {
    it(`rejects ${what}`, () => assert.throws(() => startDiscovery({ ...base, ...over }), RangeError));
  }
});
