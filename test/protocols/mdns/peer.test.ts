import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DiscoveryInit, parsePeer, startDiscovery } from '../../../protocols/mdns/index.ts';
import { createPeerTable } from '../../../protocols/mdns/peer-table.ts';

// No network here: what arrives from a browser is validated and turned into found/lost events.

const good = (over: Record<string, unknown> = {}, txt: Record<string, unknown> = {}) => ({
  name: 'alpha-1',
  port: 41001,
  txt: { v: '1', id: 'DEV-ALPHA', ens: 'band-one', ...txt },
  addresses: [],
  referer: { address: '127.0.0.1', family: 'IPv4', port: 5353, size: 200 },
  ...over,
});

describe('parsePeer', () => {
  it('accepts a well-formed service, using the packet source on a loopback-only host', () => {
    assert.deepEqual(parsePeer(good()), {
      instance: 'alpha-1',
      deviceId: 'DEV-ALPHA',
      ensembleTag: 'band-one',
      protocolVersion: 1,
      address: '127.0.0.1',
      port: 41001,
    });
    assert.equal((parsePeer(good({}, { id: 'X'.repeat(128), v: '42' })) as { port: number }).port, 41001);
  });

  it('picks an IPv4 to dial: the source when advertised, else the first advertised IPv4', () => {
    const addr = (addresses: unknown, referer: unknown) =>
      (parsePeer(good({ addresses, referer })) as { address?: string }).address;
    assert.equal(addr(['172.17.0.1', '10.0.0.5'], { address: '10.0.0.5' }), '10.0.0.5');
    assert.equal(addr(['10.0.0.5'], { address: '192.168.1.9' }), '10.0.0.5');
    assert.equal(addr(['fe80::1', '224.0.0.251', '10.0.0.7'], undefined), '10.0.0.7');
    assert.equal(addr([], { address: 'fe80::1' }), undefined);
    assert.deepEqual(parsePeer(good({ addresses: ['0.0.0.0', '239.1.1.1'], referer: null })), {
      bad: 'no-address',
    });
    assert.deepEqual(parsePeer(good({ addresses: 'x', referer: { address: '255.255.255.255' } })), {
      bad: 'no-address',
    });
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
      [good({ txt: Object.create({ v: '1', id: 'A', ens: 'b' }) }), 'bad-version'], // inherited only
      ...['0', '-1', '01', '1.5', '1e3', ' 1', 'abc', '', '1234567890'].map((v): [unknown, string] => [
        good({}, { v }),
        'bad-version',
      ]),
      [good({}, { v: 1 }), 'bad-version'],
      [good({}, { id: undefined }), 'bad-id'],
      [good({}, { id: '' }), 'bad-id'],
      [good({}, { id: 'X'.repeat(129) }), 'bad-id'],
      [good({}, { id: 'two words' }), 'bad-id'],
      [good({}, { id: 'a\u0000b' }), 'bad-id'],
      [good({}, { id: 'ünï' }), 'bad-id'],
      [good({}, { id: ['A'] }), 'bad-id'],
      [good({}, { ens: undefined }), 'bad-ensemble'],
      [good({}, { ens: '' }), 'bad-ensemble'],
    ];
    for (const [input, bad] of cases) assert.deepEqual(parsePeer(input), { bad }, JSON.stringify(input));
  });

  it('does not read TXT keys through the prototype', () => {
    const txt = JSON.parse('{"__proto__": {"v": "1"}, "id": "A", "ens": "b"}');
    assert.deepEqual(parsePeer(good({ txt })), { bad: 'bad-version' });
  });
});

describe('peer table', () => {
  const setup = (maxEntries?: number) => {
    const log: string[] = [];
    const table = createPeerTable({
      ownInstance: 'me-0',
      ensembleTag: 'band-one',
      maxEntries,
      onFound: (p) => log.push(`found ${p.instance} ${p.address}:${p.port}`),
      onLost: (i) => log.push(`lost ${i}`),
      onWarning: (m) => log.push(`warn ${m}`),
    });
    return { table, log };
  };

  it('reports a peer once, again when its data changes, and lost only if known', () => {
    const { table, log } = setup();
    table.seen(good());
    table.seen(good());
    table.seen(good({ port: 41009 }));
    table.seen(good({ port: 41009 }, { id: 'DEV-OTHER' }));
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

  it('warns once per malformed instance, counts every rejection, and drops a peer that turns bad', () => {
    const { table, log } = setup();
    table.seen(good());
    table.seen(good({}, { v: 'x' }));
    table.seen(good({}, { v: 'x' }));
    table.seen(good({ name: 'bad-2', port: 0 }));
    assert.equal(log[0], 'found alpha-1 127.0.0.1:41001');
    assert.equal(log[1], 'lost alpha-1');
    assert.match(log[2] ?? '', /^warn mdns: ignoring peer "alpha-1": bad-version \(1 malformed/);
    assert.match(log[3] ?? '', /^warn mdns: ignoring peer "bad-2": bad-port \(3 malformed/);
    assert.equal(log.length, 4);
    assert.deepEqual(table.rejected(), { 'bad-version': 2, 'bad-port': 1 });
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
    deviceId: 'DEV-ALPHA',
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
    ['a 129-char ensemble tag', { ensembleTag: 'e'.repeat(129) }],
    ['protocol version 0', { protocolVersion: 0 }],
    ['a non-IPv4 interface', { interface: 'eth0' }],
    ['requeryMs 10', { requeryMs: 10 }],
  ] as const) {
    it(`rejects ${what}`, () => assert.throws(() => startDiscovery({ ...base, ...over }), RangeError));
  }
});
