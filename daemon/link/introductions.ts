import { createPrivateKey, sign, verify, X509Certificate } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { Remote } from '../../protocols/osc/udp.ts';
import { shortId } from '../../trust-store/device-id.ts';
import type { TrustStoreError } from '../../trust-store/errors.ts';
import type { Identity } from '../../trust-store/identity.ts';
import type { PeerRole, PeerStore } from '../../trust-store/peers.ts';
import { createRejections } from '../ingest/rejections.ts';
import type { Logger } from '../log.ts';
import type { IntroduceBody, LinkMessage } from './v1/wire.ts';

// Introductions, as in Syncthing's introducer: a six-laptop stage needs five pairings, not
// fifteen. When this daemon trusts a peer because its operator said so (a pairing code or
// `hana trust allow`), it introduces that peer to each of its other trusted peers, and sends the
// new peer the list of its trusted peers. A peer pinned by introduction is not introduced
// onward from here: only an operator's decision starts introductions, so trust spreads one hop
// from each decision and never echoes around the ensemble.
//
// An introduction names a device ID (the certificate's hash: the receiver pins the key), a
// name, a role and a dial hint, and is signed by the introducer's identity key over the
// recipient's ID as well. It travels over the authenticated link today, but the signature
// means it could be relayed and still checked, and a captured one says nothing to anyone else.
//
// The receiver accepts one only from a link it trusts whose pin is trusted, only while
// `peers.introductions` is on; never for its own ID, never for a device it blocked, and never
// for a new ID under a name another pin holds (held like a key change, for the operator). The
// role is capped at the introducer's own role here: an observer cannot make a performer.
// Introductions that arrive while this side still finishes pairing (the link is pending) are
// kept and judged once the link is trusted, as early sync messages are.
//
// An introduction owed to a trusted peer that is not linked now is kept in memory and sent when
// its link comes up; a restart forgets it (the operator can pair or allow directly).

export const IntroductionRefusal = [
  'disabled',
  'not-trusted-introducer',
  'bad-signature',
  'own-id',
  'blocked',
  'name-held',
  'store-full',
] as const;
export type IntroductionRefusal = (typeof IntroductionRefusal)[number];

/** What introductions need of a link; the manager's Link satisfies it. */
export type IntroLink = {
  readonly session: { peerCertDer: Uint8Array; remote: Remote; violation(reason: string): void };
  peerId?: string;
  phase: string;
};

export type IntroductionsInit<L extends IntroLink> = {
  /** `peers.introductions`: off, this daemon neither introduces nor accepts introductions. */
  enabled: boolean;
  identity: () => Identity;
  store: PeerStore;
  log: Logger;
  security: Logger;
  now: () => number;
  send: (l: L, m: LinkMessage) => void;
  links: () => L[];
  /** Promote a pending link to this device now it is trusted (the manager's trusted path). */
  promote: (id: string) => void;
  /** Dial a hint the introducer gave: it only starts a handshake, which is judged as any other. */
  dial: (remote: Remote) => void;
};

const CONTEXT = 'hana introduction v1';
const EARLY_MAX = 64;
const OWED_MAX = 4096;
const rank: Record<PeerRole, number> = { observer: 0, performer: 1 };

type Unsigned = Omit<IntroduceBody, 'sig'>;

// JSON of a fixed array: unambiguous, and every field (the recipient's ID included) is covered.
const transcript = (to: string, b: Unsigned) =>
  Buffer.from(JSON.stringify([CONTEXT, b.by, to, b.id, b.name, b.role, b.address ?? null]));

export function signIntroduction(keyPem: string, to: string, body: Unsigned): IntroduceBody {
  const sig = sign('sha256', transcript(to, body), createPrivateKey(keyPem)).toString('base64');
  return { ...body, sig };
}

/** True when `body` was signed for `to` by the key of `introducerCertDer`. */
export function verifyIntroduction(introducerCertDer: Uint8Array, to: string, body: IntroduceBody): boolean {
  try {
    const key = new X509Certificate(introducerCertDer).publicKey;
    return verify('sha256', transcript(to, body), key, Buffer.from(body.sig, 'base64'));
  } catch {
    return false;
  }
}

/** A link's remote as a PeerAddress (`[v6]:port` in brackets). */
export const peerAddress = (r: Remote) =>
  isIPv6(r.address) ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`;

function remoteOf(address: string): Remote {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address)!;
  return { address: m[1] ?? m[2]!, port: Number(m[3]) };
}

export function createIntroductions<L extends IntroLink>(init: IntroductionsInit<L>) {
  const { store, log, security } = init;
  /** target ID → IDs we still owe it an introduction of. */
  const owed = new Map<string, Set<string>>();
  let owedCount = 0;
  const early = new WeakMap<L, IntroduceBody[]>();
  let accepted = 0;
  let known = 0;
  const refusals = createRejections({
    channel: 'introduction',
    log: security,
    security,
    intervalMs: 10_000,
    now: init.now,
  });

  const ownId = () => init.identity().deviceId;
  const trustedLink = (id: string) => init.links().find((l) => l.peerId === id && l.phase === 'trusted');

  function owe(target: string, id: string): void {
    if (target === id) return;
    const set = owed.get(target) ?? new Set<string>();
    if (set.has(id)) return;
    if (owedCount >= OWED_MAX) {
      log.debug({ event: 'peer.introduction-dropped', target, peer: id }, 'too many introductions owed');
      return;
    }
    set.add(id);
    owedCount++;
    owed.set(target, set);
  }

  /** Sends what we owe `target` if it is linked and both pins are still trusted. */
  function flush(target: string): number {
    const set = owed.get(target);
    const l = set && trustedLink(target);
    if (!set || !l || store.get(target)?.state !== 'trusted') return 0;
    owed.delete(target);
    owedCount -= set.size;
    let sent = 0;
    for (const id of set) {
      const p = store.get(id);
      if (p?.state !== 'trusted') continue;
      const at = trustedLink(id);
      const address = at ? peerAddress(at.session.remote) : p.lastAddress;
      const body = signIntroduction(init.identity().keyPem, target, {
        by: ownId(),
        id,
        name: p.name,
        role: p.role,
        ...(address !== undefined && { address }),
      });
      init.send(l, { type: 'introduce', body });
      sent++;
    }
    return sent;
  }

  function refuse(l: L, reason: IntroductionRefusal, detail: string, body: IntroduceBody): void {
    refusals.reject(reason, l.session.remote.address, detail, {
      introducer: l.peerId,
      peer: body.id,
      name: body.name,
    });
  }

  async function judge(l: L, body: IntroduceBody): Promise<void> {
    const by = l.peerId!;
    const introducer = store.get(by);
    const what = `${introducer?.name ?? shortId(by)} introduced ${body.name} (${body.id})`;
    if (!init.enabled) return refuse(l, 'disabled', `${what}: peers.introductions is off`, body);
    if (l.phase !== 'trusted' || introducer?.state !== 'trusted' || body.by !== by) {
      return refuse(l, 'not-trusted-introducer', `${what}, but the introducer is not trusted here`, body);
    }
    if (!verifyIntroduction(l.session.peerCertDer, ownId(), body)) {
      l.session.violation('introduction not signed by the introducer');
      return refuse(l, 'bad-signature', `${what}, not signed by its pinned key for this daemon`, body);
    }
    if (body.id === ownId()) return refuse(l, 'own-id', `${what}: that is this daemon's own ID`, body);
    if (body.id === by) return; // it vouches for itself: nothing to learn
    const role = rank[body.role] <= rank[introducer.role] ? body.role : introducer.role;
    let r: Awaited<ReturnType<PeerStore['introduce']>>;
    try {
      r = await store.introduce({
        id: body.id,
        name: body.name,
        role,
        by,
        ...(body.address !== undefined && { address: body.address }),
      });
    } catch (err) {
      if ((err as TrustStoreError).code !== 'store-full') throw err;
      return refuse(l, 'store-full', `${what}: ${(err as Error).message}`, body);
    }
    if (r.outcome === 'blocked') return refuse(l, 'blocked', `${what}, which is blocked here`, body);
    if (r.outcome === 'name-held') {
      await store.hold({
        name: body.name,
        presentedId: body.id,
        pinnedId: r.pinnedId,
        ...(body.address !== undefined && { address: body.address }),
      });
      return refuse(
        l,
        'name-held',
        `${what}, but ${JSON.stringify(body.name)} is pinned as ${r.pinnedId}: held until the operator allows or blocks it`,
        body,
      );
    }
    if (r.outcome === 'known') {
      known++;
      init.promote(body.id);
      return;
    }
    accepted++;
    security.info(
      {
        event: 'peer.introduced',
        peer: body.id,
        name: body.name,
        role,
        requested: body.role,
        introducer: by,
      },
      `${what}: trusted as ${role}${role !== body.role ? ` (asked ${body.role}, capped at the introducer's role)` : ''}`,
    );
    init.promote(body.id);
    if (body.address !== undefined && !init.links().some((x) => x.peerId === body.id)) {
      init.dial(remoteOf(body.address));
    }
  }

  function run(l: L, body: IntroduceBody): void {
    judge(l, body).catch((err) =>
      log.error({ err, event: 'peer.introduction-error' }, 'could not apply an introduction'),
    );
  }

  return {
    /**
     * The operator trusted `id` (a pairing, `hana trust allow`): introduce it to every other
     * trusted peer and them to it. Call after its pin is written and its link promoted.
     */
    vouched(id: string): void {
      if (!init.enabled || store.get(id)?.state !== 'trusted') return;
      const others = store.list().filter((p) => p.state === 'trusted' && p.id !== id);
      for (const p of others) {
        owe(p.id, id);
        owe(id, p.id);
      }
      let sent = 0;
      for (const target of [id, ...others.map((p) => p.id)]) sent += flush(target);
      if (others.length > 0) {
        log.info(
          { event: 'peer.introducing', peer: id, peers: others.length, sent },
          `introducing ${shortId(id)} and ${others.length} trusted peer${others.length === 1 ? '' : 's'} to each other`,
        );
      }
    },

    /** A link became trusted: send what we owe it, then judge what it sent while pending. */
    linkTrusted(l: L): void {
      if (!l.peerId) return;
      flush(l.peerId);
      const kept = early.get(l);
      early.delete(l);
      for (const body of kept ?? []) run(l, body);
    },

    onMessage(l: L, body: IntroduceBody): void {
      if (l.phase === 'trusted') {
        run(l, body);
        return;
      }
      if (l.phase !== 'pending') return;
      const kept = early.get(l) ?? [];
      if (kept.length < EARLY_MAX) kept.push(body);
      early.set(l, kept);
    },

    counts: () => ({ accepted, known, refused: refusals.counts() }),
  };
}

export type Introductions<L extends IntroLink> = ReturnType<typeof createIntroductions<L>>;
