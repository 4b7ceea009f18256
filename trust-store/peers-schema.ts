import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { parseDeviceId } from './device-id.ts';

// The shape of <home>/peers.json. The file is written by the daemon, but an operator may edit
// it by hand, so every field is checked on load and unknown keys are refused rather than
// dropped on the next write.

/** A device ID in any typo-tolerant spelling; parses to the canonical formatted form. */
export const DeviceId = z.string().transform((text, ctx) => {
  const parsed = parseDeviceId(text);
  if (parsed.ok) return parsed.id;
  ctx.addIssue({ code: 'custom', message: `invalid device ID ${JSON.stringify(text)}: ${parsed.error}` });
  return z.NEVER;
});

// A name comes from the peer itself and ends up in terminals and logs: no control characters.
export const PeerName = z
  .string()
  .min(1, 'a peer name cannot be empty')
  .max(64, 'a peer name has at most 64 characters')
  .regex(/^[^\p{Cc}\p{Cf}\u2028\u2029]*$/u, 'a peer name cannot contain control or format characters');

/** Where a peer was last seen: `192.0.2.7:9000` or `[2001:db8::1]:9000`. */
export const PeerAddress = z.string().refine(
  (text) => {
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
    if (!m) return false;
    const port = Number(m[3]);
    const hostOk = m[1] !== undefined ? isIPv6(m[1]) : isIPv4(m[2]!);
    return hostOk && port >= 1 && port <= 65535;
  },
  { message: 'an address is ip:port, with an IPv6 address in brackets ([::1]:9000)' },
);

export const PeerState = z.enum(['pending', 'trusted', 'blocked']);
/** The states a peer can be pinned in; blocking goes through block(). */
export const PinState = PeerState.exclude(['blocked']);
export const PeerRole = z.enum(['performer', 'observer']);
export const ConfirmCode = z.string().regex(/^\d{6}$/, 'a confirm code is 6 digits');
const Timestamp = z.iso.datetime({ message: 'a time is an ISO 8601 UTC timestamp' });

export const Peer = z.strictObject({
  id: DeviceId,
  name: PeerName,
  state: PeerState,
  role: PeerRole,
  firstSeen: Timestamp,
  lastSeen: Timestamp,
  lastAddress: PeerAddress.optional(),
  code: ConfirmCode.optional(),
  /**
   * The trusted peer that introduced this one (daemon/link/introductions.ts); absent when the
   * operator paired or allowed it. Optional, so files written before introductions still load.
   */
  introducedBy: DeviceId.optional(),
});

/**
 * A device that presented itself under a pinned peer's name with a different certificate.
 * Held for the operator; never accepted on its own.
 */
export const HeldKeyChange = z.strictObject({
  name: PeerName,
  address: PeerAddress.optional(),
  presentedId: DeviceId,
  pinnedId: DeviceId,
  at: Timestamp,
});

// Bounds the file against a flood of fresh certificates; far above any real ensemble.
export const MAX_PEERS = 4096;
export const MAX_HELD = 256;

export const PeersFile = z
  .strictObject({
    version: z.literal(1),
    peers: z.array(Peer).max(MAX_PEERS),
    held: z.array(HeldKeyChange).max(MAX_HELD),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.peers.forEach((p, i) => {
      if (seen.has(p.id))
        ctx.addIssue({ code: 'custom', path: ['peers', i, 'id'], message: `${p.id} is listed twice` });
      seen.add(p.id);
    });
    const held = new Set<string>();
    file.held.forEach((h, i) => {
      if (held.has(h.presentedId))
        ctx.addIssue({ code: 'custom', path: ['held', i], message: `${h.presentedId} is held twice` });
      held.add(h.presentedId);
    });
  });

export type Peer = z.infer<typeof Peer>;
export type HeldKeyChange = z.infer<typeof HeldKeyChange>;
export type PeersFile = z.infer<typeof PeersFile>;
export type PeerState = z.infer<typeof PeerState>;
export type PeerRole = z.infer<typeof PeerRole>;

/**
 * The form two names are compared in: a new certificate under "Stage Left" must not slip past
 * a pinned "stage left" or a full-width look-alike, so case, compatibility forms and runs of
 * white space do not count.
 */
export function nameKey(name: string): string {
  return name.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}
