import { lanAddresses } from '../../protocols/link/gateways.ts';
import { beatAtHost, type LinkPeer, phaseOf, startLinkPeer } from '../../protocols/link/peer.ts';
import { wallOffsetMs } from '../clock/samples.ts';
import type { ClockReading } from '../clock/session-clock.ts';
import { encodeTimeline, TEMPO_PATH, TIMELINE_PATH } from '../clock/timeline-register.ts';
import type { AbletonLinkConfig } from '../config/ableton-link-schema.ts';
import { controlError } from '../control/protocol.ts';
import type { Handlers } from '../control/server.ts';
import { createRejections } from '../ingest/rejections.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../state/store.ts';
import { followLink, tempoDiffers } from './follow.ts';

// hana as a peer of the LAN's Ableton Link session (protocols/link/). Both ways:
// - Link → hana: whenever the session's timeline changes, hana's timeline and /tempo are
//   rewritten to follow it (follow.ts), as one batch from the source "ableton-link". That
//   source does not retime (the timeline writer finds the tempo already in the timeline) and is
//   not proposed back.
// - hana → Link: a timeline change from anywhere else (a local /tempo from OSC, MIDI, the CLI,
//   a scene, or a trusted peer's timeline) proposes its tempo to Link; Link's answer then comes
//   back the first way, with Link's phase.
// Start/stop has no parameter in hana: `hana ableton-link play|stop` proposes it, status shows it.

export const LINK_SOURCE = 'ableton-link';
/** Kept in step even without changes: catches a drifted measurement or a peer's stale write. */
export const RECHECK_MS = 1000;

export type AbletonLinkStatus =
  | { enabled: false }
  | {
      enabled: true;
      interfaces: string[];
      peers: number;
      tempo: number;
      beat: number;
      phase: number;
      quantum: number;
      playing: boolean;
      sessionId: string;
      /**
       * How far this laptop's reading of the session's clock can be off, ms (its last
       * measurement of a member); null when this laptop founded the session.
       */
      measuredErrorMs: number | null;
      received: number;
      refused: number;
      rejected: Record<string, number>;
      measurements: number;
      joined: number;
    };

export type AbletonLinkInit = {
  config: AbletonLinkConfig;
  store: Store;
  clock(): ClockReading;
  log: Logger;
  security: Logger;
  rejectIntervalMs: number;
  /**
   * True while a tempo source that outranks Link leads (MIDI clock in): hana then stops pulling
   * its beat to Link's and only proposes its tempo to Link (docs/tempo.md, precedence).
   */
  yields?: () => boolean;
};

export type AbletonLink = {
  status(): AbletonLinkStatus;
  /** Link's start/stop sync, for MIDI clock out; undefined when Link is off. */
  transport?: { playing(): boolean; setPlaying(playing: boolean): void };
  handlers: Handlers;
  close(): Promise<void>;
};

const OFF_HINT =
  'Ableton Link is off: start hana with --ableton-link, or set "abletonLink": { "enabled": true } in the config';

export async function startAbletonLink(init: AbletonLinkInit): Promise<AbletonLink> {
  const { config, store, log } = init;
  if (!config.enabled) {
    return {
      status: () => ({ enabled: false }),
      handlers: {
        'abletonLink.play': () => {
          throw controlError('ableton-link-off', `${OFF_HINT}.`);
        },
      },
      close: async () => {},
    };
  }
  const rejections = createRejections({
    channel: 'abletonLink',
    log,
    security: init.security,
    intervalMs: init.rejectIntervalMs,
  });
  const chosen = () => {
    const all = lanAddresses();
    return config.interfaces ? all.filter((a) => config.interfaces!.includes(a.address)) : all;
  };
  const addresses = chosen();
  if (addresses.length === 0) {
    log.warn(
      { event: 'ableton-link.no-interface', interfaces: config.interfaces ?? null },
      'Ableton Link is on but no non-loopback IPv4 interface is up (or none of abletonLink.interfaces): no Link peer can be reached until one is (looked for every 5 s)',
    );
  }
  const offset = wallOffsetMs();
  const hostUs = () => Number(process.hrtime.bigint() / 1000n);
  let link: LinkPeer | undefined;
  let pending = false;

  function follow(): void {
    pending = false;
    if (!link || init.yields?.()) return;
    const next = followLink(
      link.snapshot().timeline,
      init.clock(),
      { hostUs: hostUs(), wallOffsetMs: offset },
      config.quantum,
    );
    if (!next) return;
    store.apply(
      [
        { path: TIMELINE_PATH, value: encodeTimeline(next) },
        { path: TEMPO_PATH, value: next.tempo },
      ],
      LINK_SOURCE,
    );
  }
  // Deferred: a change can arrive inside a store subscriber, and a write from there would
  // reach the other subscribers before the change that caused it.
  const schedule = () => {
    if (pending) return;
    pending = true;
    queueMicrotask(follow);
  };

  const start = init.clock();
  link = await startLinkPeer({
    tempo: start.tempo,
    // Until a Link session is joined, Link counts on from hana's beat, so turning Link on alone
    // moves nothing.
    ...(start.beat !== null && { beat: start.beat }),
    addresses: chosen,
    onInterfaces: (now) =>
      log.info(
        { event: 'ableton-link.interfaces', interfaces: now },
        `Ableton Link now on ${now.join(', ') || 'no interface'}`,
      ),
    perSourcePerSecond: config.datagramsPerSecond,
    burst: config.burst,
    maxPeers: config.maxPeers,
    onReject: (code, source, message) => rejections.reject(code, source, message),
    onChange: schedule,
    onError: (err, where) =>
      log.warn({ err, event: 'ableton-link.socket-error', where }, `Ableton Link socket error (${where})`),
  });
  const peer = link;

  const unsubscribe = store.subscribe(
    (changes) => {
      const ours = changes.some((c) => c.path === TIMELINE_PATH && c.source !== LINK_SOURCE);
      if (!ours) return;
      const tl = init.clock().timeline;
      if (tl && tempoDiffers(tl.tempo, peer.snapshot().timeline)) peer.setTempo(tl.tempo);
      schedule();
    },
    { paths: [TIMELINE_PATH] },
  );
  const recheck = setInterval(schedule, RECHECK_MS);
  schedule();
  log.info(
    { event: 'ableton-link.started', interfaces: addresses.map((a) => a.address), quantum: config.quantum },
    `Ableton Link on ${addresses.map((a) => a.address).join(', ') || 'no interface'}, quantum ${config.quantum}`,
  );

  return {
    transport: { playing: () => peer.snapshot().playing, setPlaying: (p) => peer.setPlaying(p) },
    status() {
      const s = peer.snapshot();
      const beat = beatAtHost(s.timeline, hostUs());
      const st = peer.stats();
      return {
        enabled: true,
        interfaces: peer.endpoints().map((e) => e.address),
        peers: s.peers,
        tempo: s.timeline.bpm,
        beat,
        phase: phaseOf(beat, config.quantum),
        quantum: config.quantum,
        playing: s.playing,
        sessionId: s.sessionId,
        measuredErrorMs: s.interceptErrorUs === null ? null : s.interceptErrorUs / 1000,
        received: st.received,
        refused: st.refused,
        rejected: rejections.counts() as Record<string, number>,
        measurements: st.measurements,
        joined: st.joined,
      };
    },
    handlers: {
      'abletonLink.play'(params) {
        const playing = (params as { playing?: unknown } | undefined)?.playing;
        if (typeof playing !== 'boolean')
          throw controlError('bad-params', 'abletonLink.play takes { playing: true|false }.');
        peer.setPlaying(playing);
        return { playing };
      },
    },
    async close() {
      clearInterval(recheck);
      unsubscribe();
      await peer.close();
    },
  };
}
