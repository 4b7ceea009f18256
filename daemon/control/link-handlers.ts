import { z } from 'zod';
import { parseDeviceId, shortId } from '../../trust-store/device-id.ts';
import type { Identity } from '../../trust-store/identity.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import type { LinkManager } from '../link/manager.ts';
import type { PeerSyncView } from '../sync/service.ts';
import { assessPeerClock } from './peer-clock.ts';
import { controlError } from './protocol.ts';
import type { Handlers } from './server.ts';

// Identity and trust: what `hana id`, `hana peers` and `hana trust …` call.

const IdParam = z.object({ id: z.string().min(1).max(128) }).strict();
const PairOpenParam = z
  .object({
    role: z.enum(['performer', 'observer']).default('performer'),
    expiresMs: z.number().int().min(10_000).max(3_600_000).default(300_000),
  })
  .strict();
const PairJoinParam = z
  .object({
    code: z.string().min(1).max(200),
    peer: z
      .object({ address: z.string().min(1).max(64), port: z.number().int().min(1).max(65535) })
      .strict()
      .optional(),
    waitMs: z.number().int().min(0).max(60_000).default(10_000),
  })
  .strict();
const AllowParam = IdParam.extend({
  role: z.enum(['performer', 'observer']).optional(),
  name: z.string().min(1).max(64).optional(),
}).strict();

/**
 * A full device ID, or the start of one that names exactly one device this daemon has seen
 * (pinned, held or linked now): the short ID in logs and `hana peers` is enough to act on.
 */
function canonical(text: string, known: () => string[]): string {
  const p = parseDeviceId(text);
  if (p.ok) return p.id;
  const head = text.toUpperCase().replace(/[^A-Z2-7]/g, '');
  if (head.length >= 4 && head.length < 52) {
    const matches = [...new Set(known())].filter((id) => id.replace(/-/g, '').startsWith(head));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1)
      throw controlError(
        'bad-device-id',
        `${text} matches ${matches.length} devices (${matches.map((m) => shortId(m)).join(', ')}): give more characters`,
      );
  }
  throw controlError('bad-device-id', `${text} is not a device ID: ${p.error}`);
}

export type LinkContext = {
  identity: () => Identity;
  name: string;
  store: PeerStore;
  links: LinkManager;
  port: () => number;
  rotate: () => Promise<{ previous: string; deviceId: string }>;
  /** Replication and clock figures of a linked peer. */
  syncView?: (id: string) => PeerSyncView | undefined;
  /** sync.maxDriftMs: each peer's clock offset is shown against it. */
  maxDriftMs: number;
  /** Why the last handshake with that address was refused by our verification, if it was. */
  handshakeFailure?: (remote: { address: string; port: number }) => string | undefined;
};

export function linkHandlers(ctx: LinkContext): Handlers {
  const { store, links } = ctx;
  const known = () => [
    ...store.list().map((p) => p.id),
    ...store.held().map((h) => h.presentedId),
    ...links.peers().map((p) => p.id),
  ];
  let rotating = false;
  return {
    id: () => ({
      deviceId: ctx.identity().deviceId,
      name: ctx.name,
      peerPort: ctx.port(),
      createdAt: ctx.identity().createdAt,
    }),
    async 'trust.rotate'() {
      if (rotating) throw controlError('busy', 'a rotation is already in progress');
      rotating = true;
      try {
        return await ctx.rotate();
      } finally {
        rotating = false;
      }
    },
    peers: () => ({
      peers: links.peers().map((p) => {
        const sync = ctx.syncView?.(p.id) ?? null;
        const clock = assessPeerClock(
          p.name,
          sync?.offsetMs ?? null,
          sync?.offsetErrorMs ?? null,
          ctx.maxDriftMs,
        );
        return { ...p, sync, clock };
      }),
      held: store.held(),
    }),
    'trust.list': () => ({ peers: store.list(), held: store.held() }),
    'pair.open': (params) => links.pairOpen(PairOpenParam.parse(params ?? {})),
    'pair.status': () => links.pairStatus(),
    async 'pair.join'(params) {
      const p = PairJoinParam.parse(params);
      const r = await links.pairJoin(p.code, { waitMs: p.waitMs, ...(p.peer && { peer: p.peer }) });
      if (!r.ok) {
        // The laptop at --peer never linked because its handshake was tampered with: say that,
        // not "no laptop offers a code" (which would send the operator to look for --peer).
        const tampered = p.peer && r.reason === 'no-laptop' ? ctx.handshakeFailure?.(p.peer) : undefined;
        if (tampered)
          throw controlError(
            'pair-tampered',
            `the handshake with ${p.peer!.address}:${p.peer!.port} failed verification (${tampered}): something between the laptops tampered with it, so nothing was paired`,
          );
        throw controlError(`pair-${r.reason}`, r.message);
      }
      return r;
    },
    async 'trust.allow'(params) {
      const { id: text, role, name } = AllowParam.parse(params);
      const id = canonical(text, known);
      const stored = store.get(id) !== undefined || store.held().some((h) => h.presentedId === id);
      // A device linked but never pinned (policy pair) or never seen at all (its operator read
      // the ID out) is pinned directly, under the name it bound with when there is one.
      const linked = links.peers().find((p) => p.id === id);
      const peer = stored
        ? await store.allow(id, role)
        : await store.pin({
            id,
            name: name ?? linked?.name ?? shortId(id),
            state: 'trusted',
            role: role ?? 'performer',
            ...(linked?.address && { address: linked.address }),
          });
      links.promote(peer.id);
      return { peer };
    },
    async 'trust.block'(params) {
      const id = canonical(IdParam.parse(params).id, known);
      const peer = await store.block(id);
      links.disconnect(id, 'blocked by the operator');
      return { peer };
    },
    async 'trust.forget'(params) {
      const id = canonical(IdParam.parse(params).id, known);
      if (!(await store.forget(id)))
        throw controlError('unknown-peer', `no pinned peer ${id} (see \`hana trust list\`)`);
      links.disconnect(id, 'forgotten by the operator');
      return { forgotten: id };
    },
  };
}
