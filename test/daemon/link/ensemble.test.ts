import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { EXPORTER_LABEL, signBinding } from '../../../daemon/link/binding.ts';
import type { LinkManager } from '../../../daemon/link/manager.ts';
import { decodeLink, encodeLink, LINK_VERSION, type LinkMessage } from '../../../daemon/link/v1/wire.ts';
import type { DtlsSession } from '../../../protocols/dtls/endpoint.ts';
import { createIdentity, type Identity } from '../../../trust-store/identity.ts';
import {
  ENSEMBLE_EXPORTER_BYTES,
  ENSEMBLE_EXPORTER_LABEL,
  ensembleContext,
} from '../../../trust-store/pairing/context.ts';
import { cpaceStart } from '../../../trust-store/pairing/cpace.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-timers.ts';
import { managerSide } from '../../helpers/link-manager.ts';
import { sessionPair } from '../../helpers/link-sessions.ts';
import { waitFor } from '../../helpers/wait.ts';

// The ensemble secret between two link managers over an in-memory verified session: proven
// with CPace, refused on both sides when it differs, and nothing either side sends lets anyone
// test a guess without running the exchange.

const flush = () => new Promise<void>((r) => setImmediate(r));
const enc = new TextEncoder();
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

type Side = { m: LinkManager; id: Identity; lines: Record<string, unknown>[]; violations: string[] };
type Sent = { from: 'client' | 'server'; bytes: Uint8Array; message: LinkMessage };

async function side(identity: Identity, name: string, clock: FakeClock, secret?: string): Promise<Side> {
  const config = {
    policy: 'accept-new',
    ensemble: { name: 'band', ...(secret !== undefined && { secret }) },
  };
  const { m, lines } = await managerSide({ identity, name, clock, config });
  return { m, id: identity, lines, violations: [] };
}

/** Records every link message and every violation of a session as it is sent. */
function tap(s: DtlsSession, from: 'client' | 'server', sent: Sent[], violations: string[]): void {
  const send = s.send.bind(s);
  s.send = (bytes) => {
    const r = decodeLink(bytes);
    if (r.ok) sent.push({ from, bytes: new Uint8Array(bytes), message: r.message });
    send(bytes);
  };
  s.violation = (d) => void violations.push(d);
}

async function meet(secrets: { client?: string; server?: string }) {
  const clock = createFakeClock();
  const [ia, ib] = await Promise.all([createIdentity(), createIdentity()]);
  const a = await side(ia, 'alpha', clock, secrets.client);
  const b = await side(ib, 'bravo', clock, secrets.server);
  const [sa, sb] = sessionPair(ia, ib);
  const sent: Sent[] = [];
  tap(sa, 'client', sent, a.violations);
  tap(sb, 'server', sent, b.violations);
  a.m.onSession(sa);
  b.m.onSession(sb);
  const settled = () =>
    (a.m.stats().linked === 1 || a.m.links().length === 0) &&
    (b.m.stats().linked === 1 || b.m.links().length === 0);
  // Pinning writes peers.json: wait on real time, not a count of turns.
  await waitFor(settled);
  return {
    a,
    b,
    sent,
    exporter: sa.exporter(ENSEMBLE_EXPORTER_LABEL, ENSEMBLE_EXPORTER_BYTES),
    close: () => Promise.all([a.m.close(), b.m.close()]),
  };
}

const refusals = (s: Side) =>
  s.lines.filter((l) => l.event === 'peer.refused').map((l) => ({ reason: l.reason, msg: l.msg }));

describe('the ensemble secret, proven with CPace', () => {
  it('the same secret on both links them', async () => {
    const { a, b, sent, close } = await meet({ client: 'correct horse', server: 'correct horse' });
    try {
      assert.equal(a.m.stats().linked, 1);
      assert.equal(b.m.stats().linked, 1);
      assert.deepEqual(
        sent.filter((s) => s.message.type !== 'ping' && s.message.type !== 'pong').map((s) => s.message.type),
        ['bind', 'bind', 'ensemble-confirm', 'ensemble-confirm'],
      );
      // (A ping can beat the other side's pin write and count as 'ping before bind': that race
      // predates the ensemble proof and is no part of it.)
      for (const v of [...a.violations, ...b.violations]) assert.doesNotMatch(v, /ensemble/);
    } finally {
      await close();
    }
  });

  it('different secrets are refused on both sides as ensemble-secret, before any pin', async () => {
    const { a, b, close } = await meet({ client: 'correct horse', server: 'battery staple' });
    try {
      for (const s of [a, b]) {
        assert.equal(s.m.links().length, 0);
        assert.equal(s.m.stats().refused, 1);
        const [r] = refusals(s);
        assert.equal(r?.reason, 'ensemble-secret');
        assert.match(String(r?.msg), /did not prove the ensemble secret/);
        assert.deepEqual(s.violations, ['wrong ensemble secret'], 'a wrong guess counts against its address');
        assert.deepEqual(s.m.peers(), [], 'never pinned');
      }
    } finally {
      await close();
    }
  });

  it('a secret on one side only is refused on both, each saying which side lacks it', async () => {
    for (const [client, server] of [
      ['correct horse', undefined],
      [undefined, 'correct horse'],
    ] as const) {
      const { a, b, close } = await meet({ ...(client && { client }), ...(server && { server }) });
      try {
        const [withSecret, without] = client ? [a, b] : [b, a];
        assert.equal(withSecret.m.links().length, 0);
        assert.equal(without.m.links().length, 0);
        assert.deepEqual(
          refusals(withSecret).map((r) => r.reason),
          ['ensemble-secret'],
        );
        assert.match(
          String(refusals(withSecret)[0]?.msg),
          /has no ensemble secret and this daemon requires one/,
        );
        assert.deepEqual(
          refusals(without).map((r) => r.reason),
          ['ensemble-secret'],
        );
        assert.match(String(refusals(without)[0]?.msg), /has an ensemble secret and this daemon has none/);
      } finally {
        await close();
      }
    }
  });

  it('with no secret on either side nothing changes: binds carry no share, no confirm is sent', async () => {
    const { a, b, sent, close } = await meet({});
    try {
      assert.equal(a.m.stats().linked, 1);
      assert.equal(b.m.stats().linked, 1);
      const binds = sent.filter((s) => s.message.type === 'bind');
      assert.equal(binds.length, 2);
      for (const s of binds)
        assert.deepEqual(Object.keys(s.message.type === 'bind' ? s.message.body : {}).sort(), [
          'ensemble',
          'name',
          'sig',
          'v',
        ]);
      assert.ok(!sent.some((s) => s.message.type === 'ensemble-confirm'));
    } finally {
      await close();
    }
  });

  it('a passive observer of the bind messages cannot test a guess, not even the right one', async () => {
    const secret = 'correct horse';
    const { a, b, sent, exporter, close } = await meet({ client: secret, server: secret });
    try {
      assert.equal(a.m.stats().linked, 1, 'the two ends agreed');
      const byType = (from: 'client' | 'server', type: 'bind' | 'ensemble-confirm') => {
        const m = sent.find((s) => s.from === from && s.message.type === type)?.message;
        assert.ok(m && (m.type === 'bind' || m.type === 'ensemble-confirm'));
        return m.body as Record<string, string>;
      };
      const clientBind = byType('client', 'bind');
      const serverBind = byType('server', 'bind');
      const clientTag = byType('client', 'ensemble-confirm').tag!;
      const serverTag = byType('server', 'ensemble-confirm').tag!;
      // Only CPace values depend on the secret: the rest of a bind is its v1 content minus the HMAC.
      assert.deepEqual(Object.keys(clientBind).sort(), ['ensemble', 'name', 'share', 'sig', 'v']);
      assert.deepEqual(Object.keys(byType('client', 'ensemble-confirm')), ['tag']);

      // No HMAC or hash of the secret over anything public, in any encoding, anywhere on the wire.
      const wire = sent.map((s) => Buffer.from(s.bytes).toString('latin1')).join('\n');
      const publics = [
        exporter,
        enc.encode('hana ensemble proof v1'),
        ...sent.map((s) => s.bytes),
        ...[clientBind.share!, serverBind.share!].map(unb64),
      ];
      for (const data of publics) {
        for (const alg of ['sha256', 'sha512']) {
          const mac = createHmac(alg, secret).update(data).digest();
          for (const form of [mac, mac.subarray(0, 32)]) {
            for (const text of [form.toString('base64'), form.toString('hex'), form.toString('base64url')])
              assert.ok(!wire.includes(text), `an HMAC of the secret (${alg}) is on the wire`);
          }
        }
      }
      // The old v1 proof exactly (context ‖ role ‖ exporter), for both roles.
      for (const role of [0, 1]) {
        const old = createHmac('sha256', secret)
          .update(Buffer.concat([Buffer.from('hana ensemble proof v1'), Buffer.of(role), exporter]))
          .digest('base64');
        assert.ok(!wire.includes(old));
      }
      assert.ok(!wire.includes(secret));
      assert.ok(!wire.includes(createHash('sha256').update(secret).digest('base64')));

      // The observer replays the exchange with a guess, in either role, against the recorded
      // shares. Without the ephemeral scalar behind the recorded share its ISK differs, so the
      // recorded tag never verifies: neither for a wrong guess nor for the right secret, so the
      // transcript tells a right guess from a wrong one no better than chance.
      const ci = (g: string, role: 'initiator' | 'responder') =>
        cpaceStart({
          prs: enc.encode(g),
          ...ensembleContext({ exporter, initiatorId: a.id.deviceId, responderId: b.id.deviceId }),
          role,
        });
      for (const guess of ['battery staple', secret]) {
        const asClient = ci(guess, 'initiator').finish(unb64(serverBind.share!));
        assert.ok(asClient.ok);
        assert.equal(asClient.checkPeerTag(unb64(serverTag)), false, `server tag checked with "${guess}"`);
        const asServer = ci(guess, 'responder').finish(unb64(clientBind.share!));
        assert.ok(asServer.ok);
        assert.equal(asServer.checkPeerTag(unb64(clientTag)), false, `client tag checked with "${guess}"`);
      }
    } finally {
      await close();
    }
  });

  it('a peer without the secret gets one guess per handshake, and a withheld tag still costs it', async () => {
    const clock = createFakeClock();
    const [ia, ib] = await Promise.all([createIdentity(), createIdentity()]);
    const b = await side(ib, 'bravo', clock, 'correct horse');
    const [sa, sb] = sessionPair(ia, ib);
    tap(sb, 'server', [], b.violations);
    const heard: LinkMessage[] = [];
    sa.onData((bytes) => {
      const r = decodeLink(bytes);
      if (r.ok) heard.push(r.message);
    });
    b.m.onSession(sb);
    // The attacker (a DTLS client with its own key) runs CPace with one guess.
    const ctx = ensembleContext({
      exporter: sa.exporter(ENSEMBLE_EXPORTER_LABEL, ENSEMBLE_EXPORTER_BYTES),
      initiatorId: ia.deviceId,
      responderId: ib.deviceId,
    });
    const guess = cpaceStart({ prs: enc.encode('hunter22'), ...ctx, role: 'initiator' });
    const exporter = sa.exporter(EXPORTER_LABEL, 32);
    sa.send(
      encodeLink({
        type: 'bind',
        body: {
          v: LINK_VERSION,
          name: 'mallory',
          ensemble: 'band',
          sig: signBinding(ia.keyPem, 'client', exporter, ia.certDer, ib.certDer),
          share: b64(guess.share),
        },
      }),
    );
    await waitFor(() => heard.some((m) => m.type === 'ensemble-confirm'));
    const bind = heard.find((m) => m.type === 'bind');
    const confirm = heard.find((m) => m.type === 'ensemble-confirm');
    assert.ok(bind?.type === 'bind' && confirm?.type === 'ensemble-confirm');
    const fin = guess.finish(unb64(bind.body.share!));
    assert.ok(fin.ok);
    assert.equal(fin.checkPeerTag(unb64(confirm.body.tag)), false, 'its one guess was wrong');
    // A second guess needs a second run; its fresh scalar cannot check the tag already received.
    const second = cpaceStart({ prs: enc.encode('correct horse'), ...ctx, role: 'initiator' }).finish(
      unb64(bind.body.share!),
    );
    assert.ok(second.ok);
    assert.equal(second.checkPeerTag(unb64(confirm.body.tag)), false);
    assert.equal(b.m.stats().linked + b.m.stats().pending, 0, 'still binding');
    // It withholds its tag: refused as a failed proof when the bind times out, and counted.
    await clock.advance(5000, flush);
    assert.equal(b.m.links().length, 0);
    assert.deepEqual(
      refusals(b).map((r) => r.reason),
      ['ensemble-secret'],
    );
    assert.deepEqual(b.violations, ['ensemble secret not confirmed']);
    await b.m.close();
  });

  it('a bind of the old link version is refused by name, with a close the old peer can read', async () => {
    const clock = createFakeClock();
    const [ia, ib] = await Promise.all([createIdentity(), createIdentity()]);
    const b = await side(ib, 'bravo', clock, 'correct horse');
    const [sa, sb] = sessionPair(ia, ib);
    tap(sb, 'server', [], b.violations);
    const heard: LinkMessage[] = [];
    sa.onData((bytes) => {
      const r = decodeLink(bytes);
      if (r.ok) heard.push(r.message);
    });
    b.m.onSession(sb);
    const exporter = sa.exporter(EXPORTER_LABEL, 32);
    const v1 = {
      v: 1,
      name: 'old',
      ensemble: 'band',
      sig: signBinding(ia.keyPem, 'client', exporter, ia.certDer, ib.certDer),
      proof: createHmac('sha256', 'correct horse').update(exporter).digest('base64'),
    };
    sa.send(Uint8Array.of(1, ...enc.encode(JSON.stringify(v1))));
    await waitFor(() => b.m.links().length === 0);
    assert.equal(b.m.links().length, 0);
    const [r] = refusals(b);
    assert.equal(r?.reason, 'link-version');
    // Version 1 and 2 daemons carried unsigned sync/v1 writes: the refusal names both formats.
    assert.match(
      String(r?.msg),
      new RegExp(`link version 1 \\(sync/v1\\) and this daemon ${LINK_VERSION} \\(sync/v2`),
    );
    assert.deepEqual(b.violations, [], 'an older release is not an attacker');
    assert.ok(heard.some((m) => m.type === 'close' && m.reason === 'link-version'));
    await b.m.close();
  });
});
