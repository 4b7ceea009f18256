import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type BackendResult, loadMidiBackend } from '../protocols/midi/device.ts';
import { type OscTcp, type OscTcpRejectCode, openOscTcp } from '../protocols/osc/tcp.ts';
import { type OscUdp, openOscUdp, type Remote } from '../protocols/osc/udp.ts';
import { shortId } from '../trust-store/device-id.ts';
import { acquireLock } from '../trust-store/file-lock.ts';
import { loadOrCreateIdentity } from '../trust-store/identity.ts';
import { openPeerStore } from '../trust-store/peers.ts';
import { type AbletonLinkStatus, startAbletonLink } from './ableton-link/service.ts';
import { clockSampleHandlers } from './clock/samples.ts';
import type { ClockReading } from './clock/session-clock.ts';
import { TIMELINE_PATH, timelineParam } from './clock/timeline-register.ts';
import type { Config } from './config/schema.ts';
import { CONSOLE_TOKEN_FILE, startConsole } from './console/index.ts';
import type { ConsoleServer, ConsoleStats } from './console/server.ts';
import { stateHandlers } from './control/handlers.ts';
import { midiHandlers } from './control/midi-handlers.ts';
import { sceneHandlers } from './control/scene-handlers.ts';
import { type ControlServer, type Handlers, openControlServer } from './control/server.ts';
import { uiHandlers } from './control/ui-handlers.ts';
import { createOscFeedback, type OscFeedback } from './feedback/osc-feedback.ts';
import { controlSocketPath } from './home.ts';
import { type ControlHandler, createOscIngest, type IngestStats } from './ingest/osc-ingest.ts';
import { createRejections } from './ingest/rejections.ts';
import { createSourceFilter } from './ingest/source-filter.ts';
import { createRateLimiter } from './ingest/token-bucket.ts';
import { type Logger, securityLogger } from './log.ts';
import { loadLearned, saveLearned } from './midi/learned-file.ts';
import { createMidiService, type MidiService } from './midi/service.ts';
import { type MidiClock, type MidiClockStatus, startMidiClock } from './midi-clock/service.ts';
import type { OscQueryStats } from './oscquery/server.ts';
import { startOscQuery } from './oscquery/service.ts';
import { rotateToken } from './output/token-file.ts';
import { createIdentityRef } from './peering/identity-ref.ts';
import { type PeeringStatus, startPeering } from './peering/index.ts';
import { createTakeover } from './plugins/takeover.ts';
import { familyTotal } from './reasons.ts';
import { type RuntimeStatus, startRuntimeStats } from './runtime-stats.ts';
import { createFadeView, type FadeViewStatus } from './scenes/fade-view.ts';
import { LAUNCH_PATH, launchParam } from './scenes/launch-record.ts';
import { createLauncher } from './scenes/launcher.ts';
import { SCENE_LOAD_ADDRESS, sceneOscControl } from './scenes/scene-osc.ts';
import { type ClockMarkStatus, openClockMark } from './state/clock-mark.ts';
import { createHlc } from './state/hlc.ts';
import { createRegistry } from './state/registry.ts';
import { createStore } from './state/store.ts';
import { type StorageStatus, startStorage } from './storage.ts';
import { VERSION } from './version.ts';
import { startVisuals, type VisualsStatus } from './visuals.ts';

// The composition root: builds every part from the config, wires the one-way flow
// (protocols → ingest → store → feedback), and tears it down in reverse.

export type DaemonInit = {
  home: string;
  config: Config;
  configSource: string;
  log: Logger;
  /** Tests pass an in-memory backend; otherwise RtMidi is loaded when midi.enabled. */
  midiBackend?: BackendResult;
};

export type DaemonStatus = {
  name: string;
  version: string;
  pid: number;
  nodeId: string;
  home: string;
  config: string;
  uptimeSeconds: number;
  osc: { bind: string; udpPort: number; tcpPort: number | null; tcpConnections: number; allow: string[] };
  /** `rejected`: OSC packets and connections refused, every reason of docs/reasons.md's OSC rows. */
  ingest: IngestStats & { rejected: number };
  rejected: Record<string, number>;
  rejectedTotal: number;
  feedback: ReturnType<OscFeedback['stats']>;
  /** The OSCQuery server (null when `oscquery.enabled` is false). */
  oscquery: OscQueryStats | null;
  params: number;
  midi: ReturnType<MidiService['status']>;
  storage: StorageStatus;
  output: VisualsStatus['output'];
  /** The operator console (null when `console.enabled` is false). */
  console: ConsoleStats | null;
  plugins: VisualsStatus['plugins'];
  clockMark: ClockMarkStatus;
  abletonLink: AbletonLinkStatus;
  midiClock: MidiClockStatus;
  /** Quantized scene launches: pending, fading, and the last few done. */
  sceneLaunches: FadeViewStatus;
  /** Handles, timers, heap and event-loop delay: what the soak (test/soak/) watches for leaks. */
  runtime: RuntimeStatus;
} & PeeringStatus;

export type Daemon = { status(): DaemonStatus; stop(): Promise<void> };

async function resolveTargets(config: Config): Promise<Remote[]> {
  return Promise.all(
    config.osc.feedback.targets.map(async (t) => ({
      address: t.host === 'localhost' ? (await lookup('localhost', { family: 4 })).address : t.host,
      port: t.port,
    })),
  );
}

/** Held by the running daemon for its life; its first line is the daemon's PID. */
export const HOME_LOCK = 'daemon.lock';

/**
 * One daemon per home: two would restore, save and audit the same files and undo each other's
 * writes. The lock is taken before anything reads or writes the home (identity, peers.json,
 * storage, audit, plugins, control socket), so a second daemon is refused with the home
 * untouched; it is released only after everything else has closed.
 */
export async function startDaemon(init: DaemonInit): Promise<Daemon> {
  // Up to ~1 s: a daemon that is still shutting down (stop, then start at once) gets to finish.
  const lock = await acquireLock(join(init.home, HOME_LOCK), { tries: 50, intervalMs: 20 });
  if (!lock.ok) {
    throw new Error(
      lock.owner === undefined
        ? lock.error
        : `another hana (pid ${lock.owner}) is running with home ${init.home}: stop it, or start this one with another --home`,
    );
  }
  let daemon: Daemon;
  try {
    daemon = await startLocked(init);
  } catch (err) {
    await lock.release();
    throw err;
  }
  return {
    status: daemon.status,
    async stop() {
      try {
        await daemon.stop();
      } finally {
        await lock.release();
      }
    },
  };
}

async function startLocked(init: DaemonInit): Promise<Daemon> {
  const { config, log } = init;
  const security = securityLogger(log);
  const startedAt = Date.now();
  const loaded = await loadOrCreateIdentity(init.home);
  if (!loaded.ok) throw new Error(loaded.error);
  const identity = createIdentityRef(loaded.identity);
  if (loaded.created)
    security.info(
      { event: 'identity.created', deviceId: identity.deviceId },
      `created this daemon's identity ${identity.deviceId}`,
    );
  const name = config.name ?? `${hostname()}-${shortId(identity.deviceId)}`;
  const opened = await openPeerStore(join(init.home, 'peers.json'));
  if (!opened.ok) throw new Error(opened.error);
  const peerStore = opened.store;

  // The shared timeline is a register of hana's own: stored and replicated (the `stored`
  // view), never declared to OSC, MIDI, scenes or `hana set` (the public view).
  const registry = createRegistry(config.params, {
    [TIMELINE_PATH]: timelineParam,
    [LAUNCH_PATH]: launchParam,
  });
  const { maxDriftMs } = config.sync;
  // Kept whatever storage.persist says: a restart must never reissue a stamp peers have seen.
  const mark = openClockMark({ home: init.home, maxDriftMs, log, firstStart: loaded.created });
  // The first lease is written now, off the event loop, not by the show's first write.
  mark.ahead(Date.now());
  const hlc = createHlc({ node: () => identity.deviceId, maxDriftMs, mark });
  const store = createStore({
    registry: registry.stored,
    hlc,
    onSubscriberError: (err) =>
      log.error({ err, event: 'store.subscriber-failed' }, 'a change subscriber failed'),
  });
  // What plugins, feedback and `hana get` read: the store, with quantized fades rendered on this
  // laptop's own clock (scenes/fade-view.ts). The clock exists once peering has started.
  let sessionClock: (() => ClockReading) | undefined;
  let sceneOsc: ControlHandler | undefined;
  const fades = createFadeView({
    store,
    registry: registry.stored,
    clock: () => sessionClock?.(),
    self: () => identity.deviceId,
    onSubscriberError: (err) =>
      log.error({ err, event: 'store.subscriber-failed' }, 'a change subscriber failed'),
  });
  const rejections = createRejections({
    log,
    security,
    intervalMs: config.log.rejectIntervalMs,
  });
  const osc = config.osc;
  const filter = createSourceFilter(osc.allow);

  // The mark closes last: nothing stamps after the rest has stopped.
  const closers: Array<() => Promise<void> | void> = [() => mark.close(), () => fades.close()];
  const stopAll = async () => {
    for (const close of closers.reverse()) await close();
  };

  try {
    const storage = await startStorage({
      home: init.home,
      config,
      registry,
      store,
      log,
      security,
      node: () => identity.deviceId,
    });
    closers.push(() => storage.close());

    let udp: OscUdp | undefined;
    const feedback = createOscFeedback({
      registry,
      store: fades,
      targets: await resolveTargets(config),
      subscribe: {
        enabled: osc.feedback.subscribe,
        max: osc.feedback.maxSubscribers,
        ttlMs: osc.feedback.subscriptionTtlSeconds * 1000,
      },
      sendUdp: (bytes, to) => udp?.send(bytes, to),
      log,
    });
    closers.push(() => feedback.close());

    const ingest = createOscIngest({
      registry,
      store,
      rejections,
      filter,
      limiter: createRateLimiter({ ratePerSecond: osc.rateLimit.unitsPerSecond, burst: osc.rateLimit.burst }),
      fairness: osc.fairness,
      limits: {
        maxBytes: osc.maxPacketBytes,
        maxDepth: osc.maxBundleDepth,
        maxScheduled: osc.maxScheduled,
        maxScheduleAheadMs: osc.maxScheduleAheadMs,
      },
      // Wired once the session clock exists (after peering): a scene load before is refused.
      onControl: (msg, from) =>
        msg.address === SCENE_LOAD_ADDRESS
          ? (sceneOsc?.(msg, from) ?? { reason: 'scene-no-beat', message: 'hana is still starting' })
          : feedback.onControl(msg, from),
      onCoerced: (from, writes) => feedback.echo(from, writes),
    });
    closers.push(() => ingest.close());

    udp = await openOscUdp({
      host: osc.bind,
      port: osc.port,
      onDatagram: ingest.handleUdp,
      onError: (err) => log.warn({ err, event: 'osc.udp-error' }, 'OSC UDP socket error'),
    });
    const udpSocket = udp;
    closers.push(() => udpSocket.close());

    let tcp: OscTcp | undefined;
    if (osc.tcp) {
      const tcpInit = {
        host: osc.bind,
        maxConnections: osc.maxTcpConnections,
        maxConnectionsPerSource: osc.maxTcpConnectionsPerSource,
        maxFrameBytes: osc.maxPacketBytes,
        idleMs: osc.tcpIdleSeconds * 1000,
        stallMs: osc.tcpStallSeconds * 1000,
        admit: (from: Remote) => {
          if (filter.allows(from.address)) return true;
          rejections.reject(
            'not-allowed',
            from.address,
            `OSC TCP connection from ${from.address}, not in osc.allow`,
          );
          return false;
        },
        onFrame: (frame: Uint8Array, conn: Remote & { id: number; send(p: Uint8Array): boolean }) =>
          ingest.handle(frame, { transport: 'tcp', address: conn.address, port: conn.port, conn }),
        onReject: (code: OscTcpRejectCode, from: Remote, message: string) =>
          rejections.reject(code, from.address, message),
        onClose: (conn: { id: number }) => feedback.dropConnection(conn.id),
      };
      // Same port number as UDP when free, so apps need one number; otherwise any free port.
      tcp = await openOscTcp({ ...tcpInit, port: udp.port }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EADDRINUSE' || osc.port !== 0) throw err;
        return openOscTcp({ ...tcpInit, port: 0 });
      });
      const tcpServer = tcp;
      closers.push(() => tcpServer.close());
    }

    const oscQuery = await startOscQuery({
      config,
      name,
      deviceId: identity.deviceId,
      oscPort: udpSocket.port,
      registry,
      store: fades,
      ingest,
      filter,
      log,
      security,
    });
    closers.push(() => oscQuery.close());

    const learnedPath = join(init.home, 'midi-mappings.json');
    const learned = await loadLearned(learnedPath);
    if (!learned.ok) throw new Error(learned.error);
    // One backend for controllers and clock: RtMidi is loaded (and says why not) once.
    const midiBackend: BackendResult =
      init.midiBackend ??
      (config.midi.enabled
        ? loadMidiBackend()
        : { ok: false, reason: 'midi.enabled is false in the config' });
    const midi = createMidiService({
      config: config.midi,
      backend: midiBackend,
      registry,
      store: fades,
      rejections,
      log,
      learned: learned.mappings,
      saveLearned: (m) => saveLearned(learnedPath, m),
    });
    const midiStarted = midi.start();
    if (!midiStarted.ok) throw new Error(`invalid MIDI mapping: ${midiStarted.error}`);
    closers.push(() => midi.close());

    // One takeover for the daemon: a person's write here (a store subscriber in the plugin
    // service) or on a linked peer (the sync gate, from the origin's signed mark) holds plugins off.
    const takeover = createTakeover({ holdMs: config.plugins.takeoverMs, now: Date.now });
    const peering = await startPeering({
      home: init.home,
      config,
      name,
      identity,
      peerStore,
      registry: registry.stored,
      store,
      hlc,
      rejections,
      log,
      security,
      // storage.check must know the new device ID before identity.json does.
      beforeRotate: (id) => storage.addDevice(id),
      onPeerHuman: (path) => takeover.touch(path),
    });
    closers.push(() => peering.close());
    sessionClock = peering.clock;
    const launcher = createLauncher({
      scenes: storage.scenes,
      store,
      hlc,
      clock: peering.clock,
      quantum: () => config.abletonLink.quantum,
    });
    sceneOsc = sceneOscControl({
      launcher,
      reject: (reason, source, message) => rejections.reject(reason, source, message),
      audit: storage.audit,
      log,
    });

    let consoleServer: ConsoleServer | undefined;
    const visuals = await startVisuals({
      home: init.home,
      config,
      registry,
      store: fades,
      rejections,
      log,
      security,
      clock: peering.clock,
      takeover,
      // The console (started below) frames the output page as its preview.
      embedders: () => (consoleServer ? [new URL(consoleServer.url).origin] : []),
      // Who takes plugin writes besides the picture: without a page and without any of these,
      // an LFO would stamp, audit and save for nobody (issue 18; docs/plugins.md, idle).
      writesNeeded: () => {
        const fb = feedback.stats();
        return (
          peering.linked() > 0 ||
          fb.targets + fb.subscribers > 0 ||
          midi.status().outputs > 0 ||
          (oscQuery.status()?.listens ?? 0) > 0 ||
          (consoleServer?.stats().clients ?? 0) > 0
        );
      },
    });
    closers.push(() => visuals.close());

    // Created after Link (it follows Link's start/stop), asked by Link whether it leads the tempo.
    let midiClock: MidiClock | undefined;
    const abletonLink = await startAbletonLink({
      yields: () => midiClock?.leading() ?? false,
      config: config.abletonLink,
      store,
      clock: peering.clock,
      log,
      security,
      rejectIntervalMs: config.log.rejectIntervalMs,
    });
    closers.push(() => abletonLink.close());

    const clock = startMidiClock({
      config: config.midi,
      backend: midiBackend,
      store,
      clock: peering.clock,
      rejections,
      log,
      ...(abletonLink.transport && { link: abletonLink.transport }),
    });
    midiClock = clock;
    closers.push(() => clock.close());

    const runtime = startRuntimeStats();
    closers.push(() => runtime.close());

    const status = (): DaemonStatus => ({
      name,
      version: VERSION,
      pid: process.pid,
      nodeId: identity.deviceId,
      home: init.home,
      config: init.configSource,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      osc: {
        bind: osc.bind,
        udpPort: udpSocket.port,
        tcpPort: tcp?.port ?? null,
        tcpConnections: tcp?.connections ?? 0,
        allow: ['127.0.0.0/8', '::1', ...osc.allow],
      },
      ingest: { ...ingest.stats(), rejected: familyTotal(rejections.counts(), 'osc') },
      rejected: rejections.counts(),
      rejectedTotal: rejections.total(),
      feedback: feedback.stats(),
      oscquery: oscQuery.status(),
      params: registry.paths.length,
      midi: midi.status(),
      storage: storage.status(),
      clockMark: mark.status(),
      abletonLink: abletonLink.status(),
      midiClock: clock.status(),
      sceneLaunches: fades.status(),
      runtime: runtime.status(),
      ...peering.status(),
      ...visuals.status(),
      console: consoleServer?.stats() ?? null,
    });

    const handlers: Handlers = {
      status,
      ...stateHandlers(registry, fades),
      ...midiHandlers(midi, config.midi.learnTimeoutSeconds),
      ...visuals.handlers,
      ...storage.handlers,
      ...sceneHandlers({ scenes: storage.scenes, audit: storage.audit, security, launcher, fades }),
      ...peering.handlers,
      ...abletonLink.handlers,
      ...clock.handlers,
      ...clockSampleHandlers(peering.clock),
      ...uiHandlers(
        () => consoleServer,
        () => rotateToken(init.home, CONSOLE_TOKEN_FILE),
      ),
    };
    if (config.console.enabled) {
      // The same handlers as the control socket; what the console writes is named `ui`.
      const c = await startConsole({
        home: init.home,
        config: config.console,
        handlers: {
          ...handlers,
          ...stateHandlers(registry, fades, 'ui'),
          ...sceneHandlers({
            scenes: storage.scenes,
            audit: storage.audit,
            security,
            launcher,
            fades,
            writer: 'ui',
          }),
        },
        store,
        ...(storage.audit && { audit: storage.audit }),
        rejectIntervalMs: config.log.rejectIntervalMs,
        log,
        security,
      });
      consoleServer = c;
      closers.push(() => c.close());
    }
    const control: ControlServer = await openControlServer(controlSocketPath(init.home), handlers);
    closers.push(() => control.close());

    log.info(
      {
        event: 'daemon.ready',
        name,
        deviceId: identity.deviceId,
        peerPort: peering.port(),
        oscUdpPort: udpSocket.port,
        oscTcpPort: tcp?.port ?? null,
        oscQueryPort: oscQuery.status()?.port ?? null,
        bind: osc.bind,
        control: control.path,
        params: registry.paths.length,
        config: init.configSource,
      },
      `hana ready: OSC on ${osc.bind}:${udpSocket.port} (udp${tcp ? `, tcp ${tcp.port}` : ''}), ${registry.paths.length} parameters`,
    );

    return {
      status,
      async stop() {
        await stopAll();
        log.info({ event: 'daemon.stopped' }, 'hana stopped');
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
