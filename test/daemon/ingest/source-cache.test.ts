import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSenderCache } from '../../../daemon/ingest/source-cache.ts';

// The per-sender record OSC ingest keeps: made on a sender's first packet and reused for every
// later one (the key and label are not built per datagram), bounded in size.

describe('sender cache', () => {
  it('makes a sender once and hands the same record back for each of its packets', () => {
    const cache = createSenderCache();
    const first = cache.of({ transport: 'udp', address: '127.0.0.1', port: 9000 });
    assert.deepEqual(
      { key: first.key, label: first.label },
      { key: '127.0.0.1:9000', label: 'osc:udp:127.0.0.1:9000' },
    );
    for (let i = 0; i < 100; i++)
      assert.equal(cache.of({ transport: 'udp', address: '127.0.0.1', port: 9000 }), first);
    const lan = cache.of({ transport: 'udp', address: '10.0.0.2', port: 5000 });
    assert.equal(lan.key, '10.0.0.2', 'from the network the address is the source');
    assert.equal(cache.size, 2);
  });

  it('a new TCP connection, or another transport on the same port, is another sender', () => {
    const cache = createSenderCache();
    const conn = (id: number) => ({ id, send: () => true });
    const a = cache.of({ transport: 'tcp', address: '127.0.0.1', port: 9000, conn: conn(1) });
    const b = cache.of({ transport: 'tcp', address: '127.0.0.1', port: 9000, conn: conn(2) });
    assert.notEqual(a, b);
    assert.equal(b.from.conn?.id, 2, 'feedback goes back on the connection the packet came on');
    const u = cache.of({ transport: 'udp', address: '127.0.0.1', port: 9000 });
    assert.equal(u.label, 'osc:udp:127.0.0.1:9000');
    assert.equal(cache.size, 1, 'one address and port, one slot');
  });

  it('udp(address, port) is of() for a datagram: the same record, made once, never a TCP sender', () => {
    const cache = createSenderCache();
    const viaUdp = cache.udp('127.0.0.1', 9000);
    assert.equal(viaUdp, cache.of({ transport: 'udp', address: '127.0.0.1', port: 9000 }));
    assert.equal(cache.udp('127.0.0.1', 9000), viaUdp);
    assert.deepEqual(viaUdp.from, { transport: 'udp', address: '127.0.0.1', port: 9000 });
    // Node's rinfo carries family and size too: only address and port make the sender.
    const tcp = cache.of({
      transport: 'tcp',
      address: '127.0.0.1',
      port: 9001,
      conn: { id: 1, send: () => true },
    });
    const u = cache.udp('127.0.0.1', 9001);
    assert.notEqual(u, tcp);
    assert.equal(u.label, 'osc:udp:127.0.0.1:9001');
    assert.equal(u.from.conn, undefined, 'feedback to a datagram goes by UDP, never on a TCP connection');
    assert.equal(cache.size, 2);
  });

  it('tells apart senders that share a port from different addresses, and keeps each one', () => {
    const cache = createSenderCache();
    const a = cache.udp('10.0.0.2', 9000);
    const b = cache.udp('10.0.0.3', 9000);
    const c = cache.udp('::ffff:10.0.0.4', 9000);
    assert.deepEqual(
      [a, b, c].map((s) => s.label),
      ['osc:udp:10.0.0.2:9000', 'osc:udp:10.0.0.3:9000', 'osc:udp:::ffff:10.0.0.4:9000'],
    );
    for (let i = 0; i < 10; i++) {
      assert.equal(cache.udp('10.0.0.2', 9000), a);
      assert.equal(cache.udp('10.0.0.3', 9000), b);
      assert.equal(cache.udp('::ffff:10.0.0.4', 9000), c);
    }
    // Node hands over a new string per datagram: equal text is the same sender.
    assert.equal(cache.udp(['10', '0', '0', '3'].join('.'), 9000), b);
    assert.equal(cache.size, 3);
    const tcp = cache.of({
      transport: 'tcp',
      address: '10.0.0.3',
      port: 9000,
      conn: { id: 7, send: () => true },
    });
    assert.notEqual(tcp, b);
    assert.equal(cache.udp('10.0.0.2', 9000), a, 'the other addresses on the port are untouched');
    assert.equal(cache.size, 3, 'one address and port, one slot');
  });

  it('holds at most its bound of senders, spoofed from one port or from many', () => {
    const oneCache = createSenderCache(16);
    for (let p = 0; p < 1000; p++) oneCache.udp(`10.1.${p >> 8}.${p & 255}`, 5000);
    assert.ok(oneCache.size <= 16, `${oneCache.size}`);
    assert.equal(oneCache.udp('127.0.0.1', 5000).label, 'osc:udp:127.0.0.1:5000');
  });

  it('holds at most its bound of senders (a spoofed-source flood grows nothing)', () => {
    const cache = createSenderCache(16);
    for (let p = 0; p < 1000; p++)
      cache.of({ transport: 'udp', address: `10.0.${p >> 8}.${p & 255}`, port: p });
    assert.ok(cache.size <= 16, `${cache.size}`);
    const s = cache.of({ transport: 'udp', address: '127.0.0.1', port: 1 });
    assert.equal(s.label, 'osc:udp:127.0.0.1:1');
  });
});
