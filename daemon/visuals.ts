import { BUNDLED_EXAMPLES_DIR, bootstrapBundledPlugins } from '../plugins/bootstrap.ts';
import { loadEnabledPlugins, quarantinePlugin } from '../plugins/installed.ts';
import { type ClockSample, createLocalClock } from '../plugins/runtime/clock.ts';
import { faultPolicy } from './config/plugins-schema.ts';
import type { Config } from './config/schema.ts';
import { outputHandlers } from './control/output-handlers.ts';
import type { Handlers } from './control/server.ts';
import type { Rejections } from './ingest/rejections.ts';
import type { Logger } from './log.ts';
import { readMaster, watchMaster } from './output/master.ts';
import { changesTouchMix, type LayerPlan, mixPaths, readMix } from './output/mix.ts';
import { type OutputServer, type OutputStats, startOutputServer } from './output/server.ts';
import { createShaderFaults } from './output/shader-faults.ts';
import { planShaders } from './output/shader-plan.ts';
import { createShaderInputs, type ShaderPlan, shaderTableJson } from './output/shaders.ts';
import { loadOrCreateToken, rotateToken } from './output/token-file.ts';
import { pluginRuntimeHandlers } from './plugins/handlers.ts';
import { createPluginService, type PluginService, type PluginServiceStatus } from './plugins/service.ts';
import type { Takeover } from './plugins/takeover.ts';
import type { Registry } from './state/registry.ts';
import type { Store } from './state/store.ts';
import type { SyncService } from './sync/service.ts';

// What the audience sees: the output page server and the plugin service that feeds it frames.
// Kept out of the composition root so daemon.ts stays a list of parts.

export type VisualsInit = {
  home: string;
  config: Config;
  registry: Registry;
  store: Store;
  rejections: Rejections;
  log: Logger;
  security: Logger;
  clock: SyncService['clock'];
  /** Origins that may frame the output page (the console's preview). */
  embedders?: () => readonly string[];
  /**
   * Whether anything outside the picture takes what plugins write (a linked peer, a feedback
   * target, a listener, a console): asked once a second. Default: always.
   */
  writesNeeded?: () => boolean;
  /** Plugins give way to a person's write here or on a linked peer (created with sync). */
  takeover?: Takeover;
};

/** How often the daemon asks whether plugin writes have an audience. */
export const WRITES_NEEDED_POLL_MS = 1000;

export type VisualsStatus = { output: OutputStats | null; plugins: PluginServiceStatus | null };

export type Visuals = { status(): VisualsStatus; handlers: Handlers; close(): Promise<void> };

export async function startVisuals(init: VisualsInit): Promise<Visuals> {
  const { config, registry, store, rejections, log, security } = init;
  // Plugins always need a beat. Until a timeline exists (nobody set a tempo yet) they count
  // locally from /tempo: a frozen 0 would jump back at every sample the frame child follows.
  const local = createLocalClock(() => {
    const v = store.get('/tempo')?.value;
    return typeof v === 'number' ? v : 120;
  });
  const clock = (): ClockSample => {
    const r = init.clock();
    return r.beat === null
      ? { ...local(), timeMs: r.timeMs }
      : { timeMs: r.timeMs, beat: r.beat, tempo: r.tempo };
  };
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  // Which plugin is on which mixer channel, and whose ISF shaders the page runs, from the
  // manifests of the plugins loaded last.
  let plan: LayerPlan = new Map();
  let shaderPlan: ShaderPlan = new Map();
  const inputs = createShaderInputs(store);
  // Set once the output page serves: (re)subscribes the mix to the current plan's paths.
  let watchMix = () => {};
  let unwatchMix = () => {};
  let plugins: PluginService | undefined;
  const quarantine = (id: string, reason: string) =>
    quarantinePlugin(init.home, id, reason).then((q) => {
      if (!q.ok)
        log.error(
          { event: 'plugin.quarantine-save-failed', plugin: id },
          `could not record the quarantine of ${id}: ${q.error}`,
        );
      return q.ok;
    });
  const shaderFaults = createShaderFaults({
    running: (id) => shaderPlan.has(id),
    now: () => Date.now(),
    onFault: (f, count) =>
      log.warn(
        { event: 'plugin.shader-fault', plugin: f.plugin, shader: f.shader, kind: f.kind, count },
        `${f.plugin}: shader ${f.shader} ${f.kind}: ${f.message}`,
      ),
    onQuarantine: (id, reason) => {
      // A security event, as every quarantine is (daemon/plugins/events.ts).
      security.error(
        { event: 'plugin.quarantined', plugin: id, reason: 'shader-fault' },
        `${id} quarantined: ${reason}`,
      );
      // Stopped by loading the plugin list again: a quarantined plugin is not loaded.
      void quarantine(id, reason).then((ok) => (ok ? plugins?.reload() : undefined));
    },
  });
  // A shader faults in the page, not in the plugin host: its count joins the plugin's row here.
  const withShaderFaults = (s: PluginServiceStatus | undefined): PluginServiceStatus | null => {
    if (!s) return null;
    const counts = shaderFaults.counts();
    return {
      ...s,
      plugins: s.plugins.map((p) =>
        shaderPlan.has(p.id) || counts[p.id] ? { ...p, shaderFaults: counts[p.id] ?? 0 } : p,
      ),
    };
  };
  try {
    let output: OutputServer | undefined;
    if (config.output.enabled) {
      const o = await startOutputServer({
        bind: config.output.bind,
        port: config.output.port,
        // Kept in the home unless the config fixes it: a page left open survives a restart.
        token: config.output.token ?? (await loadOrCreateToken(init.home, security)),
        allowNonLoopback: config.output.allowNonLoopback,
        maxClients: config.output.maxClients,
        ...(init.embedders && { embedders: init.embedders }),
        rejectIntervalMs: config.log.rejectIntervalMs,
        onPageMessage: (text, remote) => shaderFaults.report(text, remote),
        log,
        security,
      });
      output = o;
      closers.push(() => o.close());
      o.setMaster(readMaster(store));
      const unwatch = watchMaster(store, (m) => o.setMaster(m));
      // Bound to the paths of the plan that is loaded, and bound again with each new plan: every
      // other write (most OSC traffic) does not call it (subscribers.ts).
      watchMix = () => {
        unwatchMix();
        unwatchMix = store.subscribe(
          (changes) => {
            const touched = inputs.observe(changes);
            if (touched || changesTouchMix(changes, plan))
              o.setMix({ ...readMix(store, plan), inputs: inputs.values() });
          },
          { paths: [...mixPaths(plan), ...inputs.paths()] },
        );
      };
      watchMix();
      closers.push(async () => {
        unwatch();
        unwatchMix();
      });
    }

    if (config.plugins.enabled) {
      if (config.plugins.bundledExamples)
        await bootstrapBundledPlugins({ home: init.home, examplesDir: BUNDLED_EXAMPLES_DIR, log });
      const p = createPluginService({
        registry,
        store,
        rejections,
        log,
        security,
        clock,
        frameRate: config.plugins.frameRate,
        width: config.plugins.width,
        height: config.plugins.height,
        takeoverMs: config.plugins.takeoverMs,
        ...(init.takeover && { takeover: init.takeover }),
        // Drawing for nobody is wasted: plugins draw while a page watches (issue 18, idle).
        watched: (output?.stats().clients ?? 0) > 0,
        writesNeeded: init.writesNeeded?.() ?? true,
        host: {
          idleFps: config.plugins.idleFps,
          renewal: {
            ...(config.plugins.renewal.atMb !== undefined && { rssMb: config.plugins.renewal.atMb }),
            minAgeMs: config.plugins.renewal.afterMinutes * 60_000,
          },
        },
        policy: faultPolicy(config.plugins.faults),
        loadPlugins: async () => {
          // Every load re-verifies the installed files; a refusal is counted, not fatal.
          const r = await loadEnabledPlugins(init.home);
          if (!r.ok) throw new Error(r.error);
          for (const x of r.refused)
            rejections.reject('plugin-refused', x.id, x.error, { code: x.code, file: x.path });
          const shaders = planShaders(r.plugins, registry);
          for (const x of shaders.refused)
            rejections.reject('plugin-refused', x.id, x.error, { code: x.code, file: x.file });
          const running = r.plugins.filter((x) => !shaders.refused.some((b) => b.id === x.manifest.id));
          plan = new Map(
            running.flatMap((x) => (x.manifest.layer ? [[x.manifest.id, x.manifest.layer]] : [])),
          );
          shaderPlan = shaders.plan;
          inputs.setPlan(shaderPlan);
          watchMix();
          output?.setShaders(shaderTableJson(shaderPlan));
          output?.setMix({ ...readMix(store, plan), inputs: inputs.values() });
          return running;
        },
        onQuarantine: (id, reason) => {
          void quarantine(id, reason);
        },
      });
      plugins = p;
      closers.push(() => p.close());
      if (output) {
        const o = output;
        p.onFrame((f) => o.publish(f));
        o.onClients((n) => p.setWatched(n > 0));
      }
      const needed = init.writesNeeded;
      if (needed) {
        // Polled, not pushed: five parts each know their own audience, and a check a second
        // costs microseconds; an LFO that starts a second after a peer links is on time.
        const poll = setInterval(() => p.setWritesNeeded(needed()), WRITES_NEEDED_POLL_MS);
        poll.unref();
        closers.push(async () => clearInterval(poll));
      }
      await p.start();
    }
    return {
      status: () => ({
        output: output ? output.stats() : null,
        plugins: withShaderFaults(plugins?.status()),
      }),
      handlers: {
        ...outputHandlers(
          output,
          config.output.token === undefined ? () => rotateToken(init.home) : undefined,
        ),
        ...pluginRuntimeHandlers(plugins),
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
