import type { BackendResult, MidiInputPort, MidiOutputPort } from '../../protocols/midi/device.ts';
import type { OscArg } from '../../protocols/osc/types.ts';
import type { MidiConfig, MidiMapping } from '../config/midi-schema.ts';
import type { Rejections } from '../ingest/rejections.ts';
import type { Logger } from '../log.ts';
import { coerceArgs, type Value } from '../state/coerce.ts';
import type { Registry } from '../state/registry.ts';
import type { Store } from '../state/store.ts';
import { createControlReader } from './controls.ts';
import { createMidiFeedback } from './feedback.ts';
import { createLearner, type LearnResult } from './learn.ts';
import type { ControlEvent } from './mapping.ts';
import {
  type CompiledMapping,
  compileMapping,
  devicePattern,
  type Mapped,
  mapEvent,
  matches,
} from './mapping.ts';
import { listPorts } from './ports.ts';
import { createCoalescer, realTimers, type Timers } from './rate.ts';

// MIDI in the daemon: opens controllers, turns their bytes into parameter writes through the
// same validation as OSC, sends feedback, learns bindings. Works without MIDI hardware: when
// the backend is unavailable it says why, once, and everything else keeps running.

export type MonitorEvent = { device: string; event: unknown };

export type MidiServiceInit = {
  config: MidiConfig;
  backend: BackendResult;
  registry: Registry;
  store: Store;
  rejections: Rejections;
  log: Logger;
  learned: MidiMapping[];
  saveLearned: (mappings: readonly MidiMapping[]) => Promise<void>;
  now?: () => number;
  timers?: Timers;
};

/** The reason `ports()` gives when the config turned MIDI off (rather than the machine). */
export const MIDI_DISABLED = 'midi.enabled is false in the config';

export type MidiPorts = {
  available: boolean;
  reason?: string;
  inputs: string[];
  outputs: string[];
  open: { inputs: string[]; outputs: string[] };
};

type OpenInput = { port: MidiInputPort };

export type MidiService = ReturnType<typeof createMidiService>;

export function createMidiService(init: MidiServiceInit) {
  const { config, registry, store, rejections, log } = init;
  const now = init.now ?? (() => performance.now());
  const timers = init.timers ?? realTimers;
  const backend = init.backend.ok ? init.backend.backend : undefined;
  const unavailable = init.backend.ok ? undefined : init.backend.reason;
  const inputs = new Map<string, OpenInput>();
  const outputs = new Map<string, MidiOutputPort>();
  const monitors = new Set<(e: MonitorEvent) => void>();
  const lastChannel = new Map<string, number>();
  const pending = new Map<string, Value>();
  const wanted = config.inputs.map(devicePattern);
  let learned = [...init.learned];
  let mappings: CompiledMapping[] = [];
  // Mappings by control kind and number: an event checks only the mappings that could match
  // it (a linear scan over 64 faders' mappings cost more than the rest of the path).
  let byControl = new Map<string, CompiledMapping[]>();
  const controlKey = (kind: string, number: number | undefined) => `${kind}:${number ?? 0}`;
  let events = 0;

  function compileAll(): { ok: true } | { ok: false; error: string } {
    const next: CompiledMapping[] = [];
    const all: [MidiMapping, string, CompiledMapping['origin']][] = [
      ...config.mappings.map((m, i) => [m, `config:${i + 1}`, 'config'] as [MidiMapping, string, 'config']),
      ...learned.map((m, i) => [m, `learned:${i + 1}`, 'learned'] as [MidiMapping, string, 'learned']),
    ];
    for (const [m, id, origin] of all) {
      const r = compileMapping(m, id, origin, registry);
      if (!r.ok) return r;
      next.push(r.mapping);
    }
    mappings = next;
    byControl = new Map();
    for (const c of next) {
      const key = controlKey(c.mapping.control, c.mapping.number);
      byControl.set(key, [...(byControl.get(key) ?? []), c]);
    }
    return { ok: true };
  }

  const writes = createCoalescer<{ c: CompiledMapping; value: Value; source: string }>(
    1000 / config.perControlHz,
    (_path, { c, value, source }) => {
      pending.delete(c.mapping.path);
      write(c, { kind: 'write', value }, source);
    },
    now,
    timers,
  );

  function toArgs(value: Value, type: string): OscArg[] {
    if (typeof value === 'boolean') return [value ? { type: 'T', value: true } : { type: 'F', value: false }];
    return [{ type: type === 'int' ? 'i' : 'd', value: value as number }];
  }

  /** The same coercion and range rules as OSC, attributed to the device. */
  function write(c: CompiledMapping, mapped: Mapped, source: string): void {
    if (mapped.kind === 'none') return;
    const args = mapped.kind === 'fire' ? [] : toArgs(mapped.value, c.spec.type);
    const r = coerceArgs(c.spec, args);
    if (!r.ok) {
      rejections.reject(`midi-${r.code}`, source, `${c.id} → ${c.mapping.path}: ${r.message}`);
      return;
    }
    if (!r.noop) store.apply([{ path: c.mapping.path, value: r.value }], source);
  }

  const learner = createLearner({
    registry,
    timers,
    onLearned: async (m) => {
      learned = [...learned, m];
      compileAll();
      await init.saveLearned(learned);
    },
  });

  function onControl(ev: ControlEvent): void {
    events++;
    if (learner.offer(ev)) return;
    const candidates = byControl.get(controlKey(ev.kind, ev.number));
    if (!candidates) return;
    const source = `midi:${ev.device}`;
    for (const c of candidates) {
      if (!matches(c, ev)) continue;
      lastChannel.set(c.id, ev.channel);
      const path = c.mapping.path;
      const current = pending.has(path) ? pending.get(path)! : (store.get(path)?.value ?? null);
      const mapped = mapEvent(c, ev, current);
      // Positions coalesce (latest wins); presses and fires are discrete and go straight through.
      if (mapped.kind === 'write' && c.curve !== 'toggle' && c.curve !== 'momentary') {
        pending.set(path, mapped.value);
        writes.push(path, { c, value: mapped.value, source });
      } else {
        write(c, mapped, source);
      }
    }
  }

  const feedback = createMidiFeedback({
    mappings: () => mappings,
    outputs: () => outputs.values(),
    lastChannel: (id) => lastChannel.get(id),
    feedbackHz: config.feedbackHz,
    now,
    timers,
  });
  const unsubscribe = store.subscribe(feedback.onChanges);

  function openInput(name: string, open: (onBytes: (b: Uint8Array) => void) => MidiInputPort): void {
    const reader = createControlReader({
      device: name,
      eventsPerSecond: config.eventsPerSecond,
      now,
      onControl,
      onRaw: (event) => {
        for (const fn of monitors) fn({ device: name, event });
      },
      onReject: (code, detail) => rejections.reject(`midi-${code}`, `midi:${name}`, detail),
    });
    try {
      inputs.set(name, { port: open((b) => reader.push(b)) });
      log.info({ event: 'midi.input-open', device: name }, `MIDI input ${name} connected`);
    } catch (err) {
      log.warn({ event: 'midi.open-failed', device: name, err }, `cannot open MIDI input ${name}`);
    }
  }

  function openOutput(name: string, open: () => MidiOutputPort): void {
    try {
      outputs.set(name, open());
    } catch (err) {
      log.warn({ event: 'midi.open-failed', device: name, err }, `cannot open MIDI output ${name}`);
    }
  }

  /** Opens newly plugged matching ports and forgets unplugged ones. */
  function poll(): void {
    if (!backend) return;
    const list = listPorts(backend, log);
    if (!list) return;
    const want = (n: string) => n !== config.virtualPort && wanted.some((w) => w(n));
    for (const [name, input] of inputs) {
      if (name !== config.virtualPort && !list.inputs.includes(name)) {
        input.port.close();
        inputs.delete(name);
        log.info({ event: 'midi.input-gone', device: name }, `MIDI input ${name} unplugged`);
      }
    }
    for (const [name, out] of outputs) {
      if (name !== config.virtualPort && !list.outputs.includes(name)) {
        out.close();
        outputs.delete(name);
      }
    }
    for (const name of list.inputs)
      if (!inputs.has(name) && want(name)) openInput(name, (cb) => backend.openInput(name, cb));
    for (const name of list.outputs)
      if (!outputs.has(name) && want(name)) openOutput(name, () => backend.openOutput(name));
  }

  let pollTimer: unknown;
  return {
    /** Compiles mappings and opens devices; an invalid mapping is a start-up error. */
    start(): { ok: true } | { ok: false; error: string } {
      const compiled = compileAll();
      if (!compiled.ok) return compiled;
      if (!config.enabled) {
        log.info({ event: 'midi.off', reason: 'disabled in config' }, 'MIDI is off: midi.enabled is false');
        return compiled;
      }
      if (!backend) {
        log.warn(
          { event: 'midi.off', reason: unavailable },
          `MIDI is off: ${unavailable}. OSC and everything else work as usual.`,
        );
        return compiled;
      }
      if (config.virtualPort) {
        const name = config.virtualPort;
        openInput(name, (cb) => backend.openVirtualInput(name, cb));
        openOutput(name, () => backend.openVirtualOutput(name));
      }
      poll();
      const tick = () => {
        poll();
        pollTimer = timers.set(config.pollMs, tick);
      };
      pollTimer = timers.set(config.pollMs, tick);
      return compiled;
    },
    ports(): MidiPorts {
      let list = { inputs: [] as string[], outputs: [] as string[] };
      try {
        if (backend) list = backend.list();
      } catch {
        // Reported by poll(); here an empty list is the honest answer.
      }
      return {
        available: backend !== undefined && config.enabled,
        ...(!config.enabled ? { reason: MIDI_DISABLED } : unavailable ? { reason: unavailable } : {}),
        ...list,
        open: { inputs: [...inputs.keys()], outputs: [...outputs.keys()] },
      };
    },
    status: () => ({
      available: backend !== undefined && config.enabled,
      reason: !config.enabled ? 'disabled in config' : unavailable,
      inputs: inputs.size,
      outputs: outputs.size,
      mappings: mappings.length,
      events,
      feedback: feedback.stats(),
      learning: learner.armed(),
    }),
    mappings: () => mappings.map((c) => ({ id: c.id, origin: c.origin, curve: c.curve, ...c.mapping })),
    async removeMapping(id: string): Promise<{ ok: true } | { ok: false; error: string }> {
      const m = /^learned:(\d+)$/.exec(id);
      if (!m) {
        return id.startsWith('config:')
          ? { ok: false, error: `${id} comes from the config file: remove it there and restart` }
          : { ok: false, error: `no mapping ${id} (see \`hana midi map list\`)` };
      }
      const index = Number(m[1]) - 1;
      if (index < 0 || index >= learned.length)
        return { ok: false, error: `no mapping ${id} (see \`hana midi map list\`)` };
      learned = learned.filter((_, i) => i !== index);
      compileAll();
      await init.saveLearned(learned);
      return { ok: true };
    },
    learn: (path: string, timeoutMs: number): Promise<LearnResult> => learner.arm(path, timeoutMs),
    monitor(fn: (e: MonitorEvent) => void): () => void {
      monitors.add(fn);
      return () => monitors.delete(fn);
    },
    close(): void {
      if (pollTimer !== undefined) timers.clear(pollTimer);
      learner.cancel();
      writes.close();
      feedback.close();
      unsubscribe();
      for (const i of inputs.values()) i.port.close();
      for (const o of outputs.values()) o.close();
      inputs.clear();
      outputs.clear();
    },
  };
}
