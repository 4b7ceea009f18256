import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { main } from '../../../daemon/cli/main.ts';
import { linkHandlers } from '../../../daemon/control/link-handlers.ts';
import { assessPeerClock, formatSpan } from '../../../daemon/control/peer-clock.ts';
import { openControlServer } from '../../../daemon/control/server.ts';
import { controlSocketPath } from '../../../daemon/home.ts';
import type { PeerSyncView } from '../../../daemon/sync/service.ts';
import { createIdentity } from '../../../trust-store/identity.ts';
import { createFakeClock } from '../../helpers/fake-timers.ts';
import { managerSide } from '../../helpers/link-manager.ts';
import { sessionPair } from '../../helpers/link-sessions.ts';
import { waitFor } from '../../helpers/wait.ts';

// `hana peers` shows each linked peer's clock offset against sync.maxDriftMs and says what to do
// when it nears the bound. The CLI's main() runs in-process against a real control socket
// answered by the real link handlers over real link managers (joined in memory); the offsets
// are what the sync layer reports through the handlers' syncView seam (measured in
// test/daemon/sync/clock.test.ts).

const dirs: string[] = [];
const closers: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of closers.reverse()) await c();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function capture() {
  const o = { out: '', err: '' };
  return { o, out: { stdout: (s: string) => (o.out += s), stderr: (s: string) => (o.err += s) } };
}

const view = (offsetMs: number | null, offsetErrorMs: number | null): PeerSyncView => ({
  offsetMs,
  offsetErrorMs,
  clockSamples: offsetMs === null ? 0 : 8,
  srttMs: 0.4,
  sent: 0,
  datagrams: 0,
  bytes: 0,
  received: 0,
  retransmits: 0,
});

describe('assessPeerClock', () => {
  it('is ok up to 75 % of the bound, near-bound above, beyond-bound past it, unmeasured without samples', () => {
    assert.equal(assessPeerClock('bee', null, null, 2000).state, 'unmeasured');
    assert.equal(assessPeerClock('bee', 1500, 1, 2000).state, 'ok');
    assert.equal(assessPeerClock('bee', -1500, 1, 2000).state, 'ok');
    assert.equal(assessPeerClock('bee', 1500.5, 1, 2000).state, 'near-bound');
    assert.equal(assessPeerClock('bee', 2000, 1, 2000).state, 'near-bound');
    assert.equal(assessPeerClock('bee', 2000.5, 1, 2000).state, 'beyond-bound');
    assert.equal(assessPeerClock('bee', -2400, 1, 2000).state, 'beyond-bound');
    assert.equal(assessPeerClock('bee', 1500, 1, 2000).warning, null);
  });

  it('names the peer, the direction, the bound and the fix in one sentence', () => {
    assert.equal(
      assessPeerClock('bee', 1600, 0.4, 2000).warning,
      'bee: clock 1.6 s ahead of this laptop, near the 2 s bound (its writes will be refused here if it drifts further): check NTP on bee',
    );
    assert.equal(
      assessPeerClock('cat', -2400, 0.4, 2000).warning,
      'cat: clock 2.4 s behind this laptop, beyond the 2 s bound (writes from this laptop are refused there): check NTP on cat and on this laptop',
    );
    assert.equal(
      assessPeerClock('dog', 2500, 0.4, 2000).warning,
      'dog: clock 2.5 s ahead of this laptop, beyond the 2 s bound (its writes are refused here): check NTP on dog',
    );
    assert.match(
      assessPeerClock('eel', -160, 1, 200).warning!,
      /^eel: clock 160 ms behind this laptop, near the 200 ms bound/,
    );
  });

  it('formatSpan: ms under a second, seconds with one decimal above', () => {
    assert.deepEqual(
      [formatSpan(750), formatSpan(-1600), formatSpan(2000), formatSpan(60_000)],
      ['750 ms', '1.6 s', '2 s', '60 s'],
    );
  });
});

describe('hana peers: clock offsets', () => {
  it('shows each offset, marks the ones near or beyond sync.maxDriftMs and says what to do; --json carries the same', async () => {
    const clock = createFakeClock();
    const [ia, ib, ic, id] = await Promise.all([
      createIdentity(),
      createIdentity(),
      createIdentity(),
      createIdentity(),
    ]);
    const config = { policy: 'accept-new', newPeerRole: 'performer' };
    const alpha = await managerSide({ identity: ia, name: 'alpha', clock, config });
    const others = await Promise.all(
      [
        [ib, 'bee'],
        [ic, 'cat'],
        [id, 'dog'],
      ].map(([identity, name], i) =>
        managerSide({ identity: identity as typeof ia, name: name as string, clock, config }).then((s) => ({
          s,
          i,
        })),
      ),
    );
    closers.push(() => Promise.all([alpha.m.close(), ...others.map(({ s }) => s.m.close())]));
    for (const { s, i } of others) {
      const [toOther, toAlpha] = sessionPair(ia, s.id, [7400, 7401 + i]);
      alpha.m.onSession(toOther);
      s.m.onSession(toAlpha);
    }
    assert.ok(await waitFor(() => alpha.m.stats().linked === 3), 'alpha links all three');

    const figures = new Map<string, PeerSyncView>([
      [ib.deviceId, view(1600, 0.4)],
      [ic.deviceId, view(-2400.25, 0.5)],
      [id.deviceId, view(0.42, 0.08)],
    ]);
    const home = await mkdtemp(join(tmpdir(), 'hana-peers-cli-'));
    dirs.push(home);
    const control = await openControlServer(
      controlSocketPath(home),
      linkHandlers({
        identity: () => ia,
        name: 'alpha',
        store: alpha.store,
        links: alpha.m,
        port: () => 7400,
        rotate: () => Promise.reject(new Error('not in this test')),
        syncView: (peer) => figures.get(peer),
        maxDriftMs: 2000,
      }),
    );
    closers.push(() => control.close());

    const text = capture();
    assert.equal(await main(['peers', '--home', home], text.out), 0);
    assert.equal(text.o.err, '');
    const lines = text.o.out.trimEnd().split('\n');
    assert.match(lines[0]!, /CLOCK OFFSET/);
    const row = (name: string) =>
      lines.find((l) => l.startsWith(`${name} `)) ?? assert.fail(`no row for ${name}`);
    assert.match(row('bee'), /\+1600\.00 ms ±0\.40 !/);
    assert.match(row('cat'), /−2400\.25 ms ±0\.50 !/);
    assert.match(row('dog'), /\+0\.42 ms ±0\.08(?! !)/);
    const warnings = lines.filter((l) => l.startsWith('! '));
    assert.deepEqual(warnings.sort(), [
      '! bee: clock 1.6 s ahead of this laptop, near the 2 s bound (its writes will be refused here if it drifts further): check NTP on bee',
      '! cat: clock 2.4 s behind this laptop, beyond the 2 s bound (writes from this laptop are refused there): check NTP on cat and on this laptop',
    ]);

    const json = capture();
    assert.equal(await main(['peers', '--home', home, '--json'], json.out), 0);
    const peers = JSON.parse(json.o.out) as Array<{
      name: string;
      clock: ReturnType<typeof assessPeerClock>;
    }>;
    const byName = Object.fromEntries(peers.map((p) => [p.name, p.clock]));
    assert.deepEqual(byName.bee, {
      offsetMs: 1600,
      offsetErrorMs: 0.4,
      boundMs: 2000,
      state: 'near-bound',
      warning: warnings.find((w) => w.includes('bee:'))!.slice(2),
    });
    assert.equal(byName.cat!.state, 'beyond-bound');
    assert.deepEqual(byName.dog, {
      offsetMs: 0.42,
      offsetErrorMs: 0.08,
      boundMs: 2000,
      state: 'ok',
      warning: null,
    });

    // A peer not measured yet has no offset and no warning.
    figures.set(id.deviceId, view(null, null));
    const unmeasured = capture();
    assert.equal(await main(['peers', '--home', home, '--json'], unmeasured.out), 0);
    const dog = (JSON.parse(unmeasured.o.out) as Array<{ name: string; clock: { state: string } }>).find(
      (p) => p.name === 'dog',
    );
    assert.equal(dog!.clock.state, 'unmeasured');
  });
});
