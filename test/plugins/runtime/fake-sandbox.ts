import { compilePermissions } from '../../../plugins/sandbox/permissions.ts';
import type { FrameOutcome, LoadResult, SandboxInit } from '../../../plugins/sandbox/sandbox.ts';

// A loaded plugin without an isolate, for engine tests that must decide exactly what each frame
// call answers, when, and what it claims to have cost.

/** A frame drawn within its limits: `json` as the display list, `cpuMs` as its cost. */
export const drawn = (json: string, cpuMs: number): FrameOutcome => ({
  ok: true,
  commands: [],
  json,
  writes: [],
  refused: [],
  logs: [],
  droppedLogs: 0,
  droppedWrites: 0,
  cpuMs,
});

/** A successful load whose sandbox answers each frame call with `frame()`. */
export function fakeLoaded(init: SandboxInit, frame: () => Promise<FrameOutcome>): LoadResult {
  return {
    ok: true,
    sandbox: {
      id: init.manifest.id,
      permissions: compilePermissions(init.manifest),
      setupLogs: [],
      disposed: false,
      dispose() {},
      frame,
    },
  };
}
