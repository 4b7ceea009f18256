import type { z } from 'zod';
import { requireDeviceId, shortId } from './device-id.ts';
import { trustStoreError } from './errors.ts';
import { loadPeersFile, savePeersFile } from './peers-file.ts';
import {
  ConfirmCode,
  type HeldKeyChange,
  MAX_HELD,
  MAX_PEERS,
  nameKey,
  type Peer,
  PeerAddress,
  PeerName,
  PeerRole,
  type PeersFile,
  PinState,
} from './peers-schema.ts';

// Pinned peers, trust on first use like ssh's known_hosts. Reads are synchronous from an
// in-memory copy so the handshake path never waits on the disk; every change is written to
// disk before its promise resolves and before the in-memory copy changes, so what the daemon
// enforces is always what a restart would load. Changes run one at a time.
//
// Errors: a bad file is a typed result from openPeerStore (it comes from outside). Bad
// arguments (an invalid device ID, name or address; allowing an unknown ID) are programmer or
// CLI errors and reject with an Error whose `code` is stable (see errors.ts). A failed write
// rejects with the file system's error and leaves the store as it was.

export type { HeldKeyChange, Peer, PeerRole, PeerState } from './peers-schema.ts';

export type PeerStore = {
  list(): Peer[];
  get(id: string): Peer | undefined;
  held(): HeldKeyChange[];
  /** Refreshes name, lastSeen and lastAddress of a known peer; undefined (and no write) if unknown. */
  upsertSeen(p: { id: string; name: string; address?: string }): Promise<Peer | undefined>;
  /**
   * Records a new peer (role defaults to observer: least privilege). For an ID already in the
   * store it only refreshes name, address, lastSeen and the code while pending: it never
   * changes state or role, so a race between two handshakes cannot unblock anyone.
   */
  pin(p: {
    id: string;
    name: string;
    address?: string;
    state: 'pending' | 'trusted';
    role?: 'performer' | 'observer';
    code?: string;
  }): Promise<Peer>;
  /**
   * Trusts a pending or blocked peer, or resolves a held key change for that ID: the peer
   * pinned under that name is replaced by the new ID, keeping its role unless one is given.
   * Rejects with code 'unknown-peer' if the ID is neither pinned nor held.
   */
  allow(id: string, role?: 'performer' | 'observer'): Promise<Peer>;
  /** Blocks a peer; an ID never seen gets a blocked entry of its own. Drops a held change for it. */
  block(id: string): Promise<Peer>;
  /** Removes the peer and any held change for its ID; false if there was neither. */
  forget(id: string): Promise<boolean>;
  /**
   * Moves a peer's pin to its next identity in one write: same place, name, role, state and
   * first sighting; held key changes against the old ID now point at the new one. Rejects with
   * 'unknown-peer' if the old ID is not pinned, 'invalid-peer' if it is blocked (moving would
   * free the blocked ID), and 'known-peer' if the new ID is pinned in any state or held. A
   * held change of the new ID presented under the old one's name is the exception: it is the
   * change this rotation explains (the peer reached us with its new key first), and goes.
   */
  rotate(oldId: string, newId: string): Promise<Peer>;
  /**
   * Pins a peer a trusted peer introduced, judged inside the one write so a block or pin made
   * meanwhile wins: a blocked ID stays blocked, a trusted one is left as it is, a pending one
   * becomes trusted, and a new ID whose name another pin holds (or that is in a held key
   * change) is not pinned. Rejects with 'store-full' like pin().
   */
  introduce(p: Introduction): Promise<IntroduceOutcome>;
  /** Holds a key change for the operator; one entry per presented ID, the oldest dropped past MAX_HELD. */
  hold(change: Omit<HeldKeyChange, 'at'>): Promise<void>;
  /**
   * The peer with that name, compared case- and width-insensitively (nameKey). A pinned
   * (trusted or pending) peer wins over a blocked one, as the key-change check needs.
   */
  findByName(name: string): Peer | undefined;
};

export type Introduction = {
  id: string;
  name: string;
  role: 'performer' | 'observer';
  /** The introducer's device ID. */
  by: string;
  address?: string;
};
export type IntroduceOutcome =
  | { outcome: 'pinned' | 'known' | 'blocked'; peer: Peer }
  | { outcome: 'name-held'; pinnedId: string };

export type OpenPeerStore = { ok: true; store: PeerStore } | { ok: false; error: string };

export async function openPeerStore(
  path: string,
  now: () => Date = () => new Date(),
): Promise<OpenPeerStore> {
  const loaded = await loadPeersFile(path);
  return loaded.ok ? { ok: true, store: createPeerStore(path, loaded.file, now) } : loaded;
}

function valid<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw trustStoreError(
    'invalid-peer',
    `invalid ${what} ${JSON.stringify(value)?.slice(0, 80)}: ${r.error.issues[0]?.message}`,
  );
}

const validAddress = (a: string | undefined) =>
  a === undefined ? undefined : valid(PeerAddress, a, 'address');

// Optional keys are left out rather than set to undefined, so the file round-trips exactly.
function withOptional<T extends object>(base: T, extra: { [K in keyof T]?: T[K] | undefined }): T {
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out as T;
}

type Change<T> = { next?: PeersFile; result: T };

function createPeerStore(path: string, initial: PeersFile, now: () => Date): PeerStore {
  let file = initial;
  let queue: Promise<unknown> = Promise.resolve();

  function mutate<T>(change: (current: PeersFile, at: string) => Change<T>): Promise<T> {
    const run = queue.then(async () => {
      const { next, result } = change(file, now().toISOString());
      if (next !== undefined) {
        await savePeersFile(path, next);
        file = next;
      }
      return result;
    });
    queue = run.catch(() => {});
    return run;
  }

  const find = (f: PeersFile, id: string) => f.peers.find((p) => p.id === id);
  const replacing = (f: PeersFile, peer: Peer): PeersFile => ({
    ...f,
    peers: f.peers.map((p) => (p.id === peer.id ? peer : p)),
  });
  const adding = (f: PeersFile, peer: Peer): PeersFile => {
    if (f.peers.length >= MAX_PEERS) {
      throw trustStoreError('store-full', `${path} already holds ${MAX_PEERS} peers: forget some first`);
    }
    return { ...f, peers: [...f.peers, peer] };
  };
  const withoutHeld = (f: PeersFile, id: string): PeersFile => ({
    ...f,
    held: f.held.filter((h) => h.presentedId !== id),
  });

  return {
    list: () => file.peers.map((p) => ({ ...p })),
    get(id) {
      const p = find(file, requireDeviceId(id));
      return p && { ...p };
    },
    held: () => file.held.map((h) => ({ ...h })),

    findByName(name) {
      const key = nameKey(name);
      const matches = file.peers.filter((p) => nameKey(p.name) === key);
      const p = matches.find((m) => m.state !== 'blocked') ?? matches[0];
      return p && { ...p };
    },

    async upsertSeen(p) {
      const id = requireDeviceId(p.id);
      const name = valid(PeerName, p.name, 'peer name');
      const address = validAddress(p.address);
      return mutate((f, at) => {
        const old = find(f, id);
        if (old === undefined) return { result: undefined };
        const peer = withOptional(
          { ...old, name, lastSeen: at },
          { lastAddress: address ?? old.lastAddress },
        );
        return { next: replacing(f, peer), result: { ...peer } };
      });
    },

    async pin(p) {
      const id = requireDeviceId(p.id);
      const name = valid(PeerName, p.name, 'peer name');
      const address = validAddress(p.address);
      const state = valid(PinState, p.state, 'state for a new peer');
      const role = p.role === undefined ? undefined : valid(PeerRole, p.role, 'role');
      const code = p.code === undefined ? undefined : valid(ConfirmCode, p.code, 'confirm code');
      if (code !== undefined && state !== 'pending') {
        throw trustStoreError('invalid-peer', 'a confirm code is only kept while a peer is pending');
      }
      return mutate((f, at) => {
        const old = find(f, id);
        if (old !== undefined) {
          const peer = withOptional(
            { ...old, name, lastSeen: at },
            {
              lastAddress: address ?? old.lastAddress,
              code: old.state === 'pending' ? (code ?? old.code) : undefined,
            },
          );
          return { next: replacing(f, peer), result: { ...peer } };
        }
        const peer = withOptional<Peer>(
          { id, name, state, role: role ?? 'observer', firstSeen: at, lastSeen: at },
          { lastAddress: address, code },
        );
        return { next: adding(f, peer), result: { ...peer } };
      });
    },

    async allow(id, role) {
      const canon = requireDeviceId(id);
      const newRole = role === undefined ? undefined : valid(PeerRole, role, 'role');
      const trusting = (p: Peer) =>
        withOptional({ ...p, state: 'trusted' as const, role: newRole ?? p.role }, { code: undefined });
      return mutate((f) => {
        const heldChange = f.held.find((h) => h.presentedId === canon);
        const old = find(f, canon);
        if (heldChange === undefined) {
          if (old === undefined) {
            throw trustStoreError(
              'unknown-peer',
              `no peer ${canon} is pinned or held: pin it with a name first`,
            );
          }
          const peer = trusting(old);
          return { next: replacing(f, peer), result: { ...peer } };
        }
        // The operator accepts the new certificate for that name: it takes the old pin's place.
        const replaced = find(f, heldChange.pinnedId);
        const base = withoutHeld(
          { ...f, peers: f.peers.filter((p) => p.id !== heldChange.pinnedId && p.id !== canon) },
          canon,
        );
        const peer =
          old !== undefined
            ? trusting(old)
            : withOptional<Peer>(
                {
                  id: canon,
                  name: heldChange.name,
                  state: 'trusted',
                  role: newRole ?? replaced?.role ?? 'observer',
                  firstSeen: heldChange.at,
                  lastSeen: heldChange.at,
                },
                { lastAddress: heldChange.address },
              );
        return { next: adding(base, peer), result: { ...peer } };
      });
    },

    async block(id) {
      const canon = requireDeviceId(id);
      return mutate((f, at) => {
        const old = find(f, canon);
        const heldChange = f.held.find((h) => h.presentedId === canon);
        const base = withoutHeld(f, canon);
        if (old !== undefined) {
          const peer = withOptional({ ...old, state: 'blocked' as const }, { code: undefined });
          return { next: replacing(base, peer), result: { ...peer } };
        }
        const peer = withOptional<Peer>(
          {
            id: canon,
            name: heldChange?.name ?? shortId(canon),
            state: 'blocked',
            role: 'observer',
            firstSeen: heldChange?.at ?? at,
            lastSeen: heldChange?.at ?? at,
          },
          { lastAddress: heldChange?.address },
        );
        return { next: adding(base, peer), result: { ...peer } };
      });
    },

    async forget(id) {
      const canon = requireDeviceId(id);
      return mutate((f) => {
        const next = withoutHeld({ ...f, peers: f.peers.filter((p) => p.id !== canon) }, canon);
        const changed = next.peers.length !== f.peers.length || next.held.length !== f.held.length;
        return changed ? { next, result: true } : { result: false };
      });
    },

    async rotate(oldId, newId) {
      const from = requireDeviceId(oldId);
      const to = requireDeviceId(newId);
      return mutate((f, at) => {
        const old = find(f, from);
        if (old === undefined) throw trustStoreError('unknown-peer', `no peer ${from} is pinned`);
        if (old.state === 'blocked') {
          throw trustStoreError('invalid-peer', `${from} is blocked: a blocked pin does not move`);
        }
        // Checked here, inside the one write, not only by the caller: two rotations (or a
        // rotation and the operator) racing must not both pass a check made before either wrote.
        const explained = (h: HeldKeyChange) => h.presentedId === to && h.pinnedId === from;
        const held = f.held.filter((h) => !explained(h));
        if (find(f, to) !== undefined || held.some((h) => h.presentedId === to || h.pinnedId === to)) {
          throw trustStoreError(
            'known-peer',
            `${to} is already pinned or held: a pin moves only to a new ID`,
          );
        }
        // The confirm code was derived from the old ID: a pending pin starts over with a new one.
        const peer = withOptional({ ...old, id: to, lastSeen: at }, { code: undefined });
        const next: PeersFile = {
          ...f,
          // "Introduced by" follows the introducer to its new ID, as `hana trust list` shows it.
          peers: f.peers.map((p) =>
            p.id === from ? peer : p.introducedBy === from ? { ...p, introducedBy: to } : p,
          ),
          held: held.map((h) => (h.pinnedId === from ? { ...h, pinnedId: to } : h)),
        };
        return { next, result: { ...peer } };
      });
    },

    async introduce(p) {
      const id = requireDeviceId(p.id);
      const by = requireDeviceId(p.by, 'introducer ID');
      const name = valid(PeerName, p.name, 'peer name');
      const role = valid(PeerRole, p.role, 'role');
      const address = validAddress(p.address);
      return mutate((f, at): Change<IntroduceOutcome> => {
        const old = find(f, id);
        if (old?.state === 'blocked' || old?.state === 'trusted') {
          return { result: { outcome: old.state === 'blocked' ? 'blocked' : 'known', peer: { ...old } } };
        }
        if (old !== undefined) {
          const peer = withOptional(
            { ...old, state: 'trusted' as const, role, introducedBy: by },
            { code: undefined },
          );
          return { next: replacing(f, peer), result: { outcome: 'pinned', peer: { ...peer } } };
        }
        const held = f.held.find((h) => h.presentedId === id);
        const key = nameKey(name);
        const holder = f.peers.find((x) => x.state !== 'blocked' && nameKey(x.name) === key);
        if (held !== undefined || holder !== undefined) {
          return { result: { outcome: 'name-held', pinnedId: held?.pinnedId ?? holder!.id } };
        }
        const peer = withOptional<Peer>(
          { id, name, state: 'trusted', role, firstSeen: at, lastSeen: at, introducedBy: by },
          { lastAddress: address },
        );
        return { next: adding(f, peer), result: { outcome: 'pinned', peer: { ...peer } } };
      });
    },

    async hold(change) {
      const presentedId = requireDeviceId(change.presentedId);
      const pinnedId = requireDeviceId(change.pinnedId);
      const name = valid(PeerName, change.name, 'peer name');
      const address = validAddress(change.address);
      if (presentedId === pinnedId)
        throw trustStoreError('invalid-peer', `${presentedId} is not a key change`);
      return mutate((f, at) => {
        const old = f.held.find((h) => h.presentedId === presentedId);
        // The first sighting's time is kept: it tells the operator how long this has gone on.
        const entry = withOptional<HeldKeyChange>(
          { name, presentedId, pinnedId, at: old?.at ?? at },
          { address: address ?? old?.address },
        );
        const same =
          old !== undefined &&
          old.name === entry.name &&
          old.pinnedId === entry.pinnedId &&
          old.address === entry.address;
        if (same) return { result: undefined };
        const others = f.held.filter((h) => h.presentedId !== presentedId);
        const held = [...others, entry].slice(-MAX_HELD);
        return { next: { ...f, held }, result: undefined };
      });
    },
  };
}
