import assert from 'node:assert/strict';
import {
  createSandbox,
  type FrameInput,
  type FrameOutcome,
  type Sandbox,
  type SandboxInit,
} from '../../../plugins/sandbox/sandbox.ts';
import * as src from '../../fixtures/plugins/sources.ts';

// Real isolates for the sandbox tests: load a bundle as a plugin, build frame inputs, and check
// a fault's code. disposeSandboxes() ends every isolate loaded here.

const open: Sandbox[] = [];

export function disposeSandboxes(): void {
  for (const s of open.splice(0)) s.dispose();
}

export async function loadSandbox(
  source: string,
  extra: Record<string, unknown> = {},
  init: Partial<SandboxInit> = {},
  id = 'com.example.test',
): Promise<Sandbox> {
  const r = await createSandbox({
    manifest: src.manifest(id, extra),
    entrySource: source,
    width: 640,
    height: 360,
    ...init,
  });
  if (!r.ok) assert.fail(`${r.code}: ${r.error}`);
  open.push(r.sandbox);
  return r.sandbox;
}

export const frameInput = (
  index = 0,
  params: FrameInput['params'] = {},
  events: FrameInput['events'] = [],
): FrameInput => ({
  index,
  time: index / 60,
  dt: 1 / 60,
  beat: index / 30,
  phase: (index / 30) % 1,
  tempo: 120,
  width: 640,
  height: 360,
  params,
  events,
});

/**
 * The outcome once the plugin has been judged: a `starved` frame (the machine gave it no CPU)
 * is not a verdict, and the next call has a longer wall-clock limit (MAX_TIMEOUT_STRETCH), so a
 * plugin that really loops is judged by its CPU within a few calls. Bounded: 12 calls.
 */
export async function judged(
  s: Sandbox,
  input = frameInput(),
): Promise<{ outcome: FrameOutcome; starved: number }> {
  let starved = 0;
  for (let i = 0; i < 12; i++) {
    const outcome = await s.frame(input);
    if (outcome.ok || outcome.code !== 'starved') return { outcome, starved };
    starved++;
  }
  assert.fail('still starved after 12 calls');
}

/** The outcome as a fault with `code`; fails the test otherwise. */
export function failedWith(o: FrameOutcome, code: string): Extract<FrameOutcome, { ok: false }> {
  if (o.ok) assert.fail(`expected ${code}, the frame succeeded`);
  assert.equal(o.code, code, o.error);
  return o;
}
