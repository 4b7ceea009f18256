import { writeSync } from 'node:fs';
import type { PluginWrite } from '../sandbox/sandbox.ts';
import { createClockFollower } from './clock.ts';
import { createEngine, type Engine, type PluginSpec, type RuntimeEvent } from './engine.ts';
import {
  CATASTROPHIC_MARKER,
  type ClockMessage,
  capEvent,
  MAX_EVENTS_PER_MESSAGE,
  MAX_WRITE_BATCHES,
  type ToChild,
} from './protocol.ts';

// The plugin host process: forked by the daemon (host.ts), runs the frame engine with one
// isolate per plugin, and talks to the daemon only over the fork IPC channel. Living in its own
// process is what lets the daemon survive what isolated-vm calls a catastrophic error (V8 lost
// control of an isolate: the only safe answer is to end the process) and any other crash here.

const send = process.send?.bind(process);
if (!send) {
  process.stderr.write('hana: the plugin host runs as a child of the daemon (plugins/runtime/host.ts)\n');
  process.exit(2);
}
process.title = 'hana-plugin-host';

const testHooks = process.env.HANA_PLUGIN_HOST_TEST_HOOKS === '1';
// A test of the daemon's ready timeout: this child hangs before it ever says `ready`.
const stallAtInit = testHooks && process.env.HANA_PLUGIN_HOST_TEST_STALL === '1';
// A test of a renewal whose fresh host cannot run a plugin the old one draws: this child's copy
// of that plugin throws at load, through the engine's own load-failed path.
const failLoad = testHooks ? process.env.HANA_PLUGIN_HOST_TEST_FAIL_LOAD || undefined : undefined;
// A test of a renewal whose fresh host dies of a catastrophic error while it warms up: this
// child reports one naming that plugin, as isolated-vm's handler does, right after `ready`.
const catastrophicAtStart = testHooks
  ? process.env.HANA_PLUGIN_HOST_TEST_CATASTROPHIC || undefined
  : undefined;
const withTestFaults = (plugins: readonly PluginSpec[]): readonly PluginSpec[] =>
  failLoad === undefined
    ? plugins
    : plugins.map((p) =>
        p.manifest.id === failLoad
          ? { ...p, entrySource: "throw new Error('load failure simulated by a test');" }
          : p,
      );
const follower = createClockFollower();
let engine: Engine | undefined;
let writes: { plugin: string; writes: PluginWrite[] }[] = [];
let events: RuntimeEvent[] = [];
let droppedEvents = 0;
let droppedFrames = 0;
let sendingFrame = false;
let flushScheduled = false;
/** Whether the engine ticks at all: a page watches, or the writers' writes have an audience. */
let active = true;

function catastrophic(plugin: string, message: string): never {
  // Synchronous, because the next line ends the process: an IPC message might never leave.
  try {
    writeSync(2, `${CATASTROPHIC_MARKER}${JSON.stringify({ plugin, message: message.slice(0, 500) })}\n`);
  } finally {
    process.abort();
  }
}

/**
 * Every send takes this callback: a send that fails means the daemon is gone (killed, or it closed
 * the channel while a message was on its way), and without a callback Node raises it as an
 * unhandled 'error' (EPIPE) that ended this process with a stack trace. Gone is what 'disconnect'
 * means too: nothing to draw for.
 */
function sent(err: Error | null): void {
  if (err) daemonGone();
}

function daemonGone(): void {
  engine?.close();
  process.exit(0);
}

function flush(): void {
  flushScheduled = false;
  if (writes.length === 0 && events.length === 0 && droppedEvents === 0) return;
  const msg = { t: 'out', writes, events, droppedEvents };
  writes = [];
  events = [];
  droppedEvents = 0;
  send!(msg, sent);
}

function soon(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setTimeout(flush, 4);
}

function applyClock(c: ClockMessage): void {
  follower.update({ timeMs: c.timeMs, beat: c.beat, tempo: c.tempo }, BigInt(c.ns));
}

const STATS_ACTIVE_MS = 250;
const STATS_IDLE_MS = 1000;
const STATE_CHANGES = new Set(['started', 'restart', 'quarantine', 'load-failed']);
let statsScheduled = false;

function sendStats(): void {
  statsScheduled = false;
  if (!engine) return;
  const totals = engine.totals();
  send!(
    {
      t: 'stats',
      plugins: engine.stats(),
      frames: totals.frames,
      trimmed: totals.trimmed,
      droppedFrames,
    },
    sent,
  );
}

/**
 * Stats 4 times a second while frames run; once a second while nothing does (the counters do
 * not move, and the daemon only needs to hear from us within its hang timeout, 5 s).
 */
function statsLoop(): void {
  setTimeout(
    () => {
      sendStats();
      statsLoop();
    },
    active ? STATS_ACTIVE_MS : STATS_IDLE_MS,
  );
}

process.on('message', (raw: unknown) => {
  const msg = raw as ToChild;
  switch (msg.t) {
    case 'init': {
      if (engine) return;
      if (stallAtInit) for (;;);
      applyClock(msg.clock);
      engine = createEngine({
        frameRate: msg.frameRate,
        width: msg.width,
        height: msg.height,
        policy: msg.policy,
        ...(msg.cpuMsPerSecond !== undefined ? { cpuMsPerSecond: msg.cpuMsPerSecond } : {}),
        watched: msg.watched,
        writesNeeded: msg.writesNeeded,
        ...(msg.idleFps !== undefined ? { idleFps: msg.idleFps } : {}),
        clock: follower.read,
        onFrame(frame) {
          // A daemon that has not taken the previous frame yet gets none: frames are dropped,
          // never queued, so a busy daemon sees fewer frames instead of a growing backlog.
          if (sendingFrame) {
            droppedFrames++;
            return;
          }
          sendingFrame = true;
          send!(
            { t: 'frame', index: frame.index, time: frame.time, json: frame.json },
            undefined,
            {},
            (err) => {
              sendingFrame = false;
              sent(err);
            },
          );
          flush();
        },
        onWrites(plugin, w) {
          writes.push({ plugin, writes: w });
          // The daemon refuses a message with more than MAX_WRITE_BATCHES batches: send before that.
          if (writes.length >= MAX_WRITE_BATCHES) flush();
          else soon();
        },
        onEvent(event) {
          if (events.length >= MAX_EVENTS_PER_MESSAGE) droppedEvents++;
          else events.push(capEvent(event));
          soon();
          if (STATE_CHANGES.has(event.kind) && !statsScheduled) {
            statsScheduled = true;
            setTimeout(sendStats, 0);
          }
        },
        onCatastrophicError: catastrophic,
      });
      engine.updateParams(msg.params);
      engine.setPlugins(withTestFaults(msg.plugins), msg.quarantined);
      active = msg.watched || msg.writesNeeded;
      statsLoop();
      send!({ t: 'ready' }, sent);
      if (catastrophicAtStart) setImmediate(() => catastrophic(catastrophicAtStart, 'simulated by a test'));
      return;
    }
    case 'plugins':
      engine?.setPlugins(withTestFaults(msg.plugins), msg.quarantined);
      sendStats();
      return;
    case 'params':
      engine?.updateParams(msg.values);
      return;
    case 'events':
      engine?.pushEvents(msg.events);
      return;
    case 'clock':
      applyClock(msg);
      return;
    case 'watched':
      engine?.setWritesNeeded(msg.writesNeeded);
      engine?.setWatched(msg.watched);
      active = msg.watched || msg.writesNeeded;
      return;
    case 'enable':
      engine?.enable(msg.id);
      sendStats();
      return;
    case 'test-catastrophic':
      if (testHooks) catastrophic(msg.id, 'simulated by a test');
      return;
    case 'test-hang':
      if (testHooks) for (;;);
      return;
  }
});

// The daemon went away (or closed the channel to stop us): nothing to draw for.
process.on('disconnect', daemonGone);
