import { shortId } from '../../trust-store/device-id.ts';
import type { PeerClock } from '../control/peer-clock.ts';
import type { PeerView } from '../link/manager.ts';
import type { PeerSyncView } from '../sync/service.ts';
import { type Parsed, UsageError } from './args.ts';
import { callOrReport, type Out, print } from './client-call.ts';
import { table } from './format.ts';

// `hana id`, `hana peers`, `hana trust list|allow|block|forget`.

type Held = { name: string; address?: string; presentedId: string; pinnedId: string; at: string };
type StoredPeer = {
  id: string;
  name: string;
  state: string;
  role: string;
  firstSeen: string;
  lastSeen: string;
  lastAddress?: string;
  code?: string;
  introducedBy?: string;
};

/** "bee (ABCDEFG)": the introducer by the name pinned here, when it still is. */
function introducer(p: StoredPeer, all: StoredPeer[]): string {
  if (!p.introducedBy) return '';
  const by = all.find((x) => x.id === p.introducedBy);
  const short = shortId(p.introducedBy);
  return by ? `${by.name} (${short})` : short;
}

function heldText(held: Held[]): string {
  if (held.length === 0) return '';
  return `\n\nREFUSED KEY CHANGES (a peer used a pinned peer's name with another key):\n${table([
    ['NAME', 'ADDRESS', 'PRESENTED', 'PINNED', 'AT'],
    ...held.map((h) => [h.name, h.address ?? '', h.presentedId, h.pinnedId, h.at]),
  ])}\nIf the peer really changed its key: hana trust allow <presented id>. Otherwise: hana trust block <presented id>.`;
}

export async function idCommand(args: Parsed, out: Out): Promise<number> {
  if (args.positionals.length) throw new UsageError('id takes no arguments');
  const r = (await callOrReport(args, out, 'id', {})) as
    | { deviceId: string; name: string; peerPort: number }
    | undefined;
  return r ? print(args, out, r, () => `${r.deviceId}\nname ${r.name}, peer port ${r.peerPort}`) : 1;
}

/**
 * "+0.42 ms ±0.08" — the peer's clock minus ours, and how far off that measurement may be; a
 * "!" when it is near or beyond sync.maxDriftMs (the sentence follows the table).
 */
function clockText(clock: PeerClock | undefined): string {
  if (!clock || clock.offsetMs === null || clock.offsetErrorMs === null) return '';
  const sign = clock.offsetMs >= 0 ? '+' : '−';
  const mark = clock.warning ? ' !' : '';
  return `${sign}${Math.abs(clock.offsetMs).toFixed(2)} ms ±${clock.offsetErrorMs.toFixed(2)}${mark}`;
}

function clockWarnings(peers: ReadonlyArray<{ clock?: PeerClock }>): string {
  const lines = peers.flatMap((p) => (p.clock?.warning ? [`! ${p.clock.warning}`] : []));
  return lines.length ? `\n\n${lines.join('\n')}` : '';
}

export async function peersCommand(args: Parsed, out: Out): Promise<number> {
  if (args.positionals.length) throw new UsageError('peers takes no arguments');
  const r = (await callOrReport(args, out, 'peers', {})) as
    | { peers: Array<PeerView & { sync?: PeerSyncView | null; clock?: PeerClock }>; held: Held[] }
    | undefined;
  if (!r) return 1;
  return print(args, out, r.peers, () => {
    if (r.peers.length === 0)
      return `No peers yet. Daemons on the LAN in the same ensemble appear here.${heldText(r.held)}`;
    return (
      table([
        ['NAME', 'DEVICE ID', 'ADDRESS', 'STATE', 'ROLE', 'RTT', 'CLOCK OFFSET', 'LAST HEARD'],
        ...r.peers.map((p) => [
          p.name,
          p.id,
          p.address ?? '',
          p.code ? `${p.state} (code ${p.code})` : p.state,
          p.role,
          p.rttMs === null ? '' : `${p.rttMs.toFixed(1)} ms`,
          clockText(p.clock),
          p.lastHeard ?? '',
        ]),
      ]) +
      clockWarnings(r.peers) +
      heldText(r.held)
    );
  });
}

export async function trustCommand(args: Parsed, out: Out): Promise<number> {
  const [action, id, ...extra] = args.positionals;
  if (action === 'list' && !id) {
    const r = (await callOrReport(args, out, 'trust.list', {})) as
      | { peers: StoredPeer[]; held: Held[] }
      | undefined;
    if (!r) return 1;
    return print(args, out, r, () =>
      r.peers.length === 0
        ? `No pinned peers.${heldText(r.held)}`
        : table([
            [
              'NAME',
              'DEVICE ID',
              'STATE',
              'ROLE',
              'INTRODUCED BY',
              'FIRST SEEN',
              'LAST SEEN',
              'LAST ADDRESS',
            ],
            ...r.peers.map((p) => [
              p.name,
              p.id,
              p.state,
              p.role,
              introducer(p, r.peers),
              p.firstSeen,
              p.lastSeen,
              p.lastAddress ?? '',
            ]),
          ]) + heldText(r.held),
    );
  }
  if (action === 'rotate' && !id) {
    const r = (await callOrReport(args, out, 'trust.rotate', {}, { timeoutMs: 30_000 })) as
      | { previous: string; deviceId: string }
      | undefined;
    if (!r) return 1;
    return print(
      args,
      out,
      r,
      () =>
        `new identity ${r.deviceId}\n(was ${r.previous}; peers were told, signed by the old key, and move their pin; the old key is kept until each has: see \`hana status\`)`,
    );
  }
  if (!['allow', 'block', 'forget'].includes(action ?? '') || !id || extra.length) {
    throw new UsageError(
      'usage: hana trust list | allow <id> [--role performer|observer] | block <id> | forget <id> | rotate',
    );
  }
  const role = args.flags.role as string | undefined;
  if (role !== undefined && (action !== 'allow' || !['performer', 'observer'].includes(role))) {
    throw new UsageError('--role is performer or observer, with `trust allow`');
  }
  const name = args.flags.name as string | undefined;
  if (name !== undefined && action !== 'allow') throw new UsageError('--name goes with `trust allow`');
  const r = (await callOrReport(args, out, `trust.${action}`, {
    id,
    ...(role && { role }),
    ...(name && { name }),
  })) as { peer?: StoredPeer; forgotten?: string } | undefined;
  if (!r) return 1;
  return print(args, out, r, () =>
    r.peer
      ? `${r.peer.name} (${r.peer.id}) is now ${r.peer.state}, role ${r.peer.role}`
      : `forgot ${r.forgotten}; it is a stranger again`,
  );
}
