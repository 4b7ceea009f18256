import type { Identity } from '../../trust-store/identity.ts';
import { generateCode, parseCode } from '../../trust-store/pairing/code.ts';
import {
  PAIRING_EXPORTER_BYTES,
  PAIRING_EXPORTER_LABEL,
  pairingContext,
} from '../../trust-store/pairing/context.ts';
import { type CpaceResult, cpaceStart } from '../../trust-store/pairing/cpace.ts';
import type { Logger } from '../log.ts';
import type { Timers } from '../timers.ts';
import type { LinkMessage, PairMessage } from './v1/wire.ts';

// Pairing two laptops with a short code, over a link that is verified (DTLS, channel binding)
// but not yet trusted. Laptop A opens a code (`hana pair`); laptop B runs `hana pair <code>`.
// B starts CPace (trust-store/pairing) on each link whose peer says it holds an open code; the
// run is bound to that DTLS session's exporter and both device IDs, so a relay learns nothing
// and cannot finish. A charges a try when a run starts: three runs that do not end in a
// matching confirmation burn the code, and each one is a guess of one code only.

export type PairRole = 'performer' | 'observer';

/** What pairing needs of a link; the manager's Link satisfies it. */
export type PairLink = {
  readonly session: { exporter(label: string, length: number): Uint8Array };
  peerId?: string;
  name?: string;
  phase: string;
  /** The peer said it holds an open code. */
  offersPairing?: boolean;
  /** The peer has offered a code on this link at least once (it may since be used or burned). */
  offeredPairing?: boolean;
};

export type PairFailure =
  | 'no-laptop'
  | 'no-code'
  | 'expired'
  | 'burned'
  | 'wrong-code'
  | 'busy'
  | 'invalid'
  | 'unsaved'
  | 'timeout'
  | 'bad-code';
export type JoinResult =
  | { ok: true; peerId: string; name: string; role: PairRole }
  | { ok: false; reason: PairFailure; message: string };

export type PairingInit<L extends PairLink> = {
  identity: () => Identity;
  now: () => number;
  timers: Timers;
  log: Logger;
  security: Logger;
  send: (l: L, m: LinkMessage) => void;
  /** Links that passed binding and wait for a decision: where a code may be tried. */
  pendingLinks: () => L[];
  /** Pin the peer of `l` as trusted with `role` and start syncing with it. */
  paired: (l: L, role: PairRole) => Promise<void>;
};

const STEP_TIMEOUT_MS = 5000;
const MAX_TRIES = 3;

type Offer = {
  code: string;
  prs: Uint8Array;
  role: PairRole;
  expiresAt: number;
  tries: number;
  state: 'open' | 'used' | 'burned';
};
type Waiter = { types: readonly string[]; resolve: (m: PairMessage | undefined) => void; timer: unknown };

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

const MESSAGES: Record<Exclude<PairFailure, 'bad-code'>, string> = {
  'no-laptop':
    'no laptop on the network offers a pairing code: run `hana pair` on the other laptop first (or give --peer host:port)',
  'no-code': 'the other laptop has no open pairing code: run `hana pair` there again',
  expired: 'that pairing code has expired: run `hana pair` on the other laptop for a new one',
  burned:
    'that pairing code is burned after three wrong tries: run `hana pair` on the other laptop for a new one',
  'wrong-code': 'wrong pairing code: check it against the code on the other screen',
  busy: 'the other laptop is pairing with someone else right now: try again in a few seconds',
  invalid: 'the other laptop sent an invalid pairing message',
  unsaved: 'the other laptop could not save the pairing (see its log): nothing was paired',
  timeout: 'the other laptop stopped answering while pairing',
};

export function createPairing<L extends PairLink>(init: PairingInit<L>) {
  const { security, timers } = init;
  let offer: Offer | undefined;
  const responders = new Map<L, { fin: Extract<CpaceResult, { ok: true }>; offer: Offer; timer: unknown }>();
  const waiters = new Map<L, Waiter>();

  const ownId = () => init.identity().deviceId;
  const context = (l: L, initiatorId: string, responderId: string) =>
    pairingContext({
      exporter: l.session.exporter(PAIRING_EXPORTER_LABEL, PAIRING_EXPORTER_BYTES),
      initiatorId,
      responderId,
    });

  function broadcast(open: boolean): void {
    for (const l of init.pendingLinks()) init.send(l, { type: 'pair-offer', body: { open } });
  }

  function expect(l: L, types: readonly string[]): Promise<PairMessage | undefined> {
    return new Promise((resolve) => {
      const timer = timers.set(STEP_TIMEOUT_MS, () => {
        waiters.delete(l);
        resolve(undefined);
      });
      waiters.set(l, { types, resolve, timer });
    });
  }

  function wrong(l: L, o: Offer, why: string): void {
    const left = Math.max(0, MAX_TRIES - o.tries);
    if (left === 0 && o.state === 'open') o.state = 'burned';
    security.warn(
      {
        event: o.state === 'burned' ? 'pair.burned' : 'pair.wrong-code',
        peer: l.peerId,
        name: l.name,
        triesLeft: left,
        why,
      },
      o.state === 'burned'
        ? `pairing code burned after ${MAX_TRIES} wrong tries (last from ${l.name ?? l.peerId}): run \`hana pair\` for a new one`
        : `${l.name ?? l.peerId} tried a wrong pairing code (${why}); ${left} tr${left === 1 ? 'y' : 'ies'} left`,
    );
    if (o.state === 'burned') broadcast(false);
  }

  function startRefusal(l: L): 'no-code' | 'expired' | 'burned' | 'busy' | undefined {
    if (!offer || offer.state === 'used') return 'no-code';
    if (offer.state === 'burned') return 'burned';
    if (init.now() >= offer.expiresAt) return 'expired';
    if (responders.has(l) || !l.peerId) return 'busy';
    return undefined;
  }

  /** A side: a run starts; it is charged now, so a run that never confirms still costs a try. */
  function onStart(l: L, share: Uint8Array): void {
    const refusal = startRefusal(l);
    if (refusal) {
      init.send(l, { type: 'pair-fail', body: { reason: refusal } });
      return;
    }
    const o = offer!;
    o.tries++;
    const run = cpaceStart({ prs: o.prs, ...context(l, l.peerId!, ownId()), role: 'responder' });
    const fin = run.finish(share);
    if (!fin.ok) {
      wrong(l, o, 'invalid share');
      init.send(l, { type: 'pair-fail', body: { reason: o.state === 'burned' ? 'burned' : 'invalid' } });
      return;
    }
    const timer = timers.set(STEP_TIMEOUT_MS * 2, () => {
      if (responders.get(l)?.offer !== o) return;
      responders.delete(l);
      wrong(l, o, 'no confirmation');
    });
    responders.set(l, { fin, offer: o, timer });
    init.send(l, { type: 'pair-reply', body: { share: b64(run.share), tag: b64(fin.tag) } });
  }

  async function onConfirm(l: L, tag: Uint8Array | undefined): Promise<void> {
    const r = responders.get(l);
    if (!r) return;
    responders.delete(l);
    timers.clear(r.timer);
    if (tag === undefined || !r.fin.checkPeerTag(tag) || r.offer.state !== 'open') {
      wrong(
        l,
        r.offer,
        tag === undefined ? 'the other side found our tag wrong' : 'confirmation did not match',
      );
      init.send(l, {
        type: 'pair-fail',
        body: { reason: r.offer.state === 'burned' ? 'burned' : 'wrong-code' },
      });
      return;
    }
    r.offer.state = 'used';
    broadcast(false);
    // Pin before saying done: when the joiner's `hana pair` prints "paired", this laptop
    // already trusts it on disk, so neither operator can act on a half-made pairing.
    try {
      await init.paired(l, r.offer.role);
    } catch (err) {
      init.log.error(
        { event: 'pair.unsaved', peer: l.peerId, err },
        'pairing matched but the pin could not be saved',
      );
      init.send(l, { type: 'pair-fail', body: { reason: 'unsaved' } });
      return;
    }
    init.send(l, { type: 'pair-done', body: { role: r.offer.role } });
    security.info(
      { event: 'pair.paired', peer: l.peerId, name: l.name, role: r.offer.role, side: 'code' },
      `paired with ${l.name} (${l.peerId}) as ${r.offer.role}`,
    );
  }

  /** B side: one run of CPace with `prs` against the laptop at the other end of `l`. */
  async function attempt(l: L, prs: Uint8Array): Promise<JoinResult> {
    const peerId = l.peerId!;
    const run = cpaceStart({ prs, ...context(l, ownId(), peerId), role: 'initiator' });
    const reply = expect(l, ['pair-reply', 'pair-fail']);
    init.send(l, { type: 'pair-start', body: { share: b64(run.share) } });
    const m = await reply;
    if (!m) return { ok: false, reason: 'timeout', message: MESSAGES.timeout };
    if (m.type === 'pair-fail') return { ok: false, reason: m.body.reason, message: MESSAGES[m.body.reason] };
    if (m.type !== 'pair-reply') return { ok: false, reason: 'invalid', message: MESSAGES.invalid };
    const fin = run.finish(unb64(m.body.share));
    if (!fin.ok || !fin.checkPeerTag(unb64(m.body.tag))) {
      // A counts the try and answers whether that burned the code: tell the operator which.
      const verdict = expect(l, ['pair-fail']);
      init.send(l, { type: 'pair-fail', body: { reason: 'wrong-code' } });
      const v = await verdict;
      const reason = v?.type === 'pair-fail' && v.body.reason === 'burned' ? 'burned' : 'wrong-code';
      return { ok: false, reason, message: MESSAGES[reason] };
    }
    const done = expect(l, ['pair-done', 'pair-fail']);
    init.send(l, { type: 'pair-confirm', body: { tag: b64(fin.tag) } });
    const d = await done;
    if (!d) return { ok: false, reason: 'timeout', message: MESSAGES.timeout };
    if (d.type === 'pair-fail') return { ok: false, reason: d.body.reason, message: MESSAGES[d.body.reason] };
    if (d.type !== 'pair-done') return { ok: false, reason: 'invalid', message: MESSAGES.invalid };
    // The code holder chose our role on its laptop. We follow its show: it is a performer here
    // (an observer laptop that also refused the show's writes would never follow anything).
    await init.paired(l, 'performer');
    security.info(
      {
        event: 'pair.paired',
        peer: peerId,
        name: l.name,
        role: 'performer',
        ourRole: d.body.role,
        side: 'joiner',
      },
      `paired with ${l.name} (${peerId}); it treats this laptop as ${d.body.role}`,
    );
    return { ok: true, peerId, name: l.name ?? peerId, role: d.body.role };
  }

  return {
    /** A side: a new code replaces any open one. The code itself is never logged. */
    open(o: { role: PairRole; expiresMs: number }): { code: string; expires: string; role: PairRole } {
      const { code, prs } = generateCode();
      offer = { code, prs, role: o.role, expiresAt: init.now() + o.expiresMs, tries: 0, state: 'open' };
      broadcast(true);
      init.log.info(
        { event: 'pair.open', role: o.role, expiresMs: o.expiresMs },
        `pairing code open for ${Math.round(o.expiresMs / 1000)} s (role ${o.role})`,
      );
      return { code, expires: new Date(Date.now() + o.expiresMs).toISOString(), role: o.role };
    },

    status(): {
      state: 'none' | 'open' | 'used' | 'burned' | 'expired';
      triesLeft: number;
      expires: string | null;
    } {
      if (!offer) return { state: 'none', triesLeft: 0, expires: null };
      const expired = offer.state === 'open' && init.now() >= offer.expiresAt;
      return {
        state: expired ? 'expired' : offer.state,
        triesLeft: Math.max(0, MAX_TRIES - offer.tries),
        expires: new Date(Date.now() + (offer.expiresAt - init.now())).toISOString(),
      };
    },

    /** A link just became pending: tell it whether a code is open here. */
    linkPending(l: L): void {
      if (offer?.state === 'open' && init.now() < offer.expiresAt)
        init.send(l, { type: 'pair-offer', body: { open: true } });
    },

    /** B side: tries the code on each laptop that holds one, until one pairs. */
    async join(text: string, candidates: () => L[]): Promise<JoinResult> {
      const parsed = parseCode(text);
      if (!parsed.ok) return { ok: false, reason: 'bad-code', message: parsed.error };
      const tried = new Set<L>();
      let last: JoinResult | undefined;
      for (const l of candidates()) {
        if (tried.has(l) || l.phase !== 'pending' || !l.peerId) continue;
        tried.add(l);
        last = await attempt(l, parsed.prs);
        if (last.ok) return last;
      }
      return last ?? { ok: false, reason: 'no-laptop', message: MESSAGES['no-laptop'] };
    },

    onMessage(l: L, m: PairMessage): void {
      const w = waiters.get(l);
      if (w?.types.includes(m.type)) {
        waiters.delete(l);
        timers.clear(w.timer);
        w.resolve(m);
        return;
      }
      switch (m.type) {
        case 'pair-offer':
          l.offersPairing = m.body.open;
          if (m.body.open) l.offeredPairing = true;
          return;
        case 'pair-start':
          if (l.phase === 'pending') onStart(l, unb64(m.body.share));
          return;
        case 'pair-confirm':
          onConfirm(l, unb64(m.body.tag)).catch((err) =>
            init.log.error({ err, event: 'pair.error' }, 'pairing failed unexpectedly'),
          );
          return;
        case 'pair-fail':
          // B found our tag wrong: its code differs from ours.
          if (responders.has(l)) onConfirm(l, undefined).catch(() => {});
          return;
        default:
          return;
      }
    },

    linkGone(l: L): void {
      const w = waiters.get(l);
      if (w) {
        waiters.delete(l);
        timers.clear(w.timer);
        w.resolve(undefined);
      }
      const r = responders.get(l);
      if (r) {
        responders.delete(l);
        timers.clear(r.timer);
        wrong(l, r.offer, 'link closed mid-run');
      }
    },
  };
}

export type Pairing<L extends PairLink> = ReturnType<typeof createPairing<L>>;
