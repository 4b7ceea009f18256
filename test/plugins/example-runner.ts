import ivm from 'isolated-vm';
import type { FrameInfo, ParamValue, SetupInfo } from '../../plugins/api/hana-plugin.d.ts';

// Runs a bundled plugin in a real isolated-vm isolate with a minimal `hana` shim, for the example
// tests and the output screenshot. The real sandbox (plugins/sandbox) adds limits, permission
// checks and the frame loop; this runs the same bundle the same way: a fresh isolate, the script
// evaluated as a classic script (so it defines the global `plugin`), `plugin.frame` called with a
// copy of the frame data and a copy of its result taken out.

export type FrameOutput = {
  list: unknown;
  /** hana.set calls made during this frame, in order. */
  writes: Array<[path: string, value: unknown]>;
  logs: unknown[][];
};

export type LoadedPlugin = {
  setup(info: SetupInfo): FrameOutput;
  frame(info: FrameInfo): FrameOutput;
  dispose(): void;
};

const SHIM = `
  const __writes = [];
  const __logs = [];
  globalThis.hana = Object.freeze({
    set(path, value) { __writes.push([path, value]); },
    log(...args) { __logs.push(args.map(String)); },
  });
  globalThis.__drain = () => ({ writes: __writes.splice(0), logs: __logs.splice(0) });
`;

const RUN = `(fn, info) => {
  const list = typeof plugin[fn] === 'function' ? plugin[fn](info) : undefined;
  return { list, ...__drain() };
}`;

const RUNAWAY_MS = 20_000;

export async function loadPlugin(bundle: string, memoryMb = 16): Promise<LoadedPlugin> {
  const isolate = new ivm.Isolate({ memoryLimit: memoryMb });
  const context = await isolate.createContext();
  context.evalSync(SHIM);
  const script = await isolate.compileScript(bundle, { filename: 'plugin.js' });
  // Generous wall-time bounds: they only stop a runaway example; the real sandbox's limits are
  // tested in test/plugins/sandbox. A 200 ms bound failed CI with Chromium busy beside it.
  await script.run(context, { timeout: RUNAWAY_MS });
  const run: ivm.Reference<(fn: string, info: unknown) => FrameOutput> = context.evalSync(RUN, {
    reference: true,
  });
  const call = (fn: string, info: unknown): FrameOutput =>
    run.applySync(undefined, [fn, info], {
      arguments: { copy: true },
      result: { copy: true },
      timeout: RUNAWAY_MS,
    });
  return {
    setup: (info) => call('setup', info),
    frame: (info) => call('frame', info),
    dispose: () => {
      if (!isolate.isDisposed) isolate.dispose();
    },
  };
}

/** FrameInfo at session time `time` for a steady tempo, with the given parameter values. */
export function frameAt(
  index: number,
  time: number,
  tempo: number,
  params: Record<string, ParamValue>,
  size = { width: 1280, height: 720 },
  events: FrameInfo['events'] = [],
): FrameInfo {
  const beat = (time * tempo) / 60;
  return {
    index,
    time,
    dt: index === 0 ? 0 : 1 / 60,
    beat,
    phase: beat - Math.floor(beat),
    tempo,
    width: size.width,
    height: size.height,
    params,
    events,
  };
}
