import { z } from 'zod';

// Peer links: where to listen, whom to trust, which ensemble we belong to.

const HostPort = z
  .string()
  .regex(
    /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/,
    'a static peer is "host:port", e.g. "192.168.1.20:7400"',
  );

export const LinkConfig = z
  .object({
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(7400)
      .describe(
        'UDP port for DTLS links to other daemons (`--peer-port`); 0 picks a free port (discovery announces it).',
      ),
    bind: z
      .string()
      .default('0.0.0.0')
      .describe('Address for peer links. Links are encrypted and mutually authenticated.'),
    policy: z
      .enum(['pair', 'accept-new', 'confirm', 'strict'])
      .default('pair')
      .describe(
        'New peers: `pair` (the default) trusts nobody until its operator pairs it with a code (`hana pair`) or allows it (`hana trust allow`), and keeps strangers out of peers.json; `accept-new` pins every new peer on first contact (a rehearsal-room opt-in: it warns at start); `confirm` pins them as pending until `hana trust allow`; `strict` links only to peers already pinned. A changed key is refused in every policy.',
      ),
    newPeerRole: z
      .enum(['performer', 'observer'])
      .default('observer')
      .describe(
        'Role given to a peer pinned by `accept-new` or `confirm`: performers may change state, observers only follow it. Pairing sets the role with `hana pair --role`.',
      ),
    introductions: z
      .boolean()
      .default(true)
      .describe(
        'Introductions, as in Syncthing: when the operator pairs or allows a peer, this daemon introduces it to its other trusted peers (and them to it), signed with its key, so six laptops need five pairings. Accepted only from a trusted peer, never for a blocked device or over another pin’s name, with the role capped at the introducer’s. `false`: neither introduce nor accept.',
      ),
    ensemble: z
      .object({
        name: z
          .string()
          .min(1)
          .max(64)
          .default('default')
          .describe('Daemons link only within the same ensemble.'),
        secret: z
          .string()
          .min(8, 'an ensemble secret is at least 8 characters')
          .max(256)
          .optional()
          .describe(
            'Optional shared secret, the same on every daemon of the ensemble or on none: a peer must prove it (with CPace, which lets nobody test guesses offline) before it is even considered for pinning.',
          ),
      })
      .strict()
      .prefault({}),
    discovery: z.boolean().default(true).describe('Find peers on the LAN with mDNS (`_hana._udp`).'),
    static: z.array(HostPort).max(64).default([]).describe('Peers to dial where multicast is blocked.'),
    heartbeatMs: z
      .number()
      .int()
      .min(100)
      .max(60000)
      .default(1000)
      .describe('How often linked peers ping each other.'),
    livenessMs: z
      .number()
      .int()
      .min(500)
      .max(600000)
      .default(5000)
      .describe(
        'A peer silent this long is shown offline; its link is kept so it resumes the moment the peer is heard again.',
      ),
    dropAfterMs: z
      .number()
      .int()
      .min(1000)
      .max(3_600_000)
      .default(60_000)
      .describe(
        'A peer silent this long is disconnected and redialled. A peer that restarts sooner is recognised by its new handshake.',
      ),
    maxPeers: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(64)
      .describe(
        'Open DTLS sessions at most (linked, pending or binding); more incoming handshakes are refused.',
      ),
    handshakesPerSecond: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(5)
      .describe('Handshakes accepted per source address per second.'),
  })
  .strict();
export type LinkConfig = z.infer<typeof LinkConfig>;
