import type { Logger } from '../log.ts';
import type { Timers } from '../timers.ts';

// Heartbeats on a bound link: one timer per link, re-armed after each beat, never piled up.
// A silent peer is shown offline after livenessMs but its session is kept (a pulled cable heals
// on it), and dropped after dropAfterMs.

/** What liveness reads and writes on a link; the manager's Link satisfies it. */
export type LiveLink = {
  peerId?: string;
  name?: string;
  lastHeard: number;
  silent?: boolean;
  beating?: boolean;
  /** The one pending timer of the link (the bind timeout, then the heartbeat). */
  timer?: unknown;
  readonly session: { readonly remote: { address: string; port: number } };
};

export type LivenessInit<L extends LiveLink> = {
  config: { heartbeatMs: number; livenessMs: number; dropAfterMs: number };
  now: () => number;
  timers: Timers;
  log: Logger;
  /** The link is still there (not dropped meanwhile). */
  alive: (l: L) => boolean;
  ping: (l: L) => void;
  drop: (l: L, reason: string) => void;
};

export function createLiveness<L extends LiveLink>(init: LivenessInit<L>) {
  const { config, now, timers, log } = init;
  const where = (l: L) => `${l.session.remote.address}:${l.session.remote.port}`;
  return {
    /** Anything authenticated arrived from the peer. */
    heard(l: L): void {
      l.lastHeard = now();
      if (!l.silent) return;
      l.silent = false;
      log.info({ event: 'link.resumed', peer: l.peerId, remote: where(l) }, `${l.name} is back`);
    },

    start(l: L): void {
      if (l.beating) return;
      l.beating = true;
      timers.clear(l.timer); // the bind timeout, now answered
      const beat = () => {
        if (!init.alive(l)) return;
        const silence = now() - l.lastHeard;
        if (silence > config.dropAfterMs) {
          init.drop(l, 'peer silent');
          return;
        }
        if (silence > config.livenessMs && !l.silent) {
          // Kept, not dropped: if the path comes back, the link resumes on this session at once.
          l.silent = true;
          log.warn(
            { event: 'link.silent', peer: l.peerId, remote: where(l), silentMs: silence },
            `${l.name ?? where(l)} went silent; keeping the link ${Math.round(config.dropAfterMs / 1000)} s for it to come back`,
          );
        }
        init.ping(l);
        l.timer = timers.set(config.heartbeatMs, beat);
      };
      beat();
    },
  };
}
