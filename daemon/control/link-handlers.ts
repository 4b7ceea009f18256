import { z } from 'zod';
import { parseDeviceId, shortId } from '../../trust-store/device-id.ts';
import type { Identity } from '../../trust-store/identity.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import type { LinkManager } from '../link/manager.ts';
import type { PeerSyncView } from '../sync/service.ts';
import { controlError } from './protocol.ts';
import type { Handlers } from './server.ts';

// Identity and trust: what `hana id`, `hana peers` and `hana trust …` call.

const IdParam = z.object({ id: z.string().min(1).max(128) }).strict();
const AllowParam = IdParam.extend({
  role: z.enum(['performer', 'observer']).optional(),
  name: z.string().min(1).max(64).optional(),
}).strict();

function canonical(text: string): string {
  const p = parseDeviceId(text);
  if (!p.ok) throw controlError('bad-device-id', `${text} is not a device ID: ${p.error}`);
  return p.id;
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
};

export function linkHandlers(ctx: LinkContext): Handlers {
  const { store, links } = ctx;
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
      peers: links.peers().map((p) => ({ ...p, sync: ctx.syncView?.(p.id) ?? null })),
      held: store.held(),
    }),
    'trust.list': () => ({ peers: store.list(), held: store.held() }),
    async 'trust.allow'(params) {
      const { id: text, role, name } = AllowParam.parse(params);
      const id = canonical(text);
      const known = store.get(id) !== undefined || store.held().some((h) => h.presentedId === id);
      // An ID never seen (e.g. read out by its operator, for the strict policy) is pinned directly.
      const peer = known
        ? await store.allow(id, role)
        : await store.pin({ id, name: name ?? shortId(id), state: 'trusted', role: role ?? 'performer' });
      links.promote(peer.id);
      return { peer };
    },
    async 'trust.block'(params) {
      const id = canonical(IdParam.parse(params).id);
      const peer = await store.block(id);
      links.disconnect(id, 'blocked by the operator');
      return { peer };
    },
    async 'trust.forget'(params) {
      const id = canonical(IdParam.parse(params).id);
      if (!(await store.forget(id)))
        throw controlError('unknown-peer', `no pinned peer ${id} (see \`hana trust list\`)`);
      links.disconnect(id, 'forgotten by the operator');
      return { forgotten: id };
    },
  };
}
