// MIDI events per second through parser + 14-bit/NRPN assembly + mapping + validated store
// write, against the parser alone over the same bytes, in one run.
import { MidiConfig } from '../../daemon/config/midi-schema.ts';
import { ParamMap } from '../../daemon/config/params-schema.ts';
import { createRejections } from '../../daemon/ingest/rejections.ts';
import { createMidiService } from '../../daemon/midi/service.ts';
import { createHlc } from '../../daemon/state/hlc.ts';
import { createRegistry } from '../../daemon/state/registry.ts';
import { createStore } from '../../daemon/state/store.ts';
import { createMidiParser } from '../../protocols/midi/parser.ts';
import { captureLogger } from '../helpers/log-capture.ts';
import { midiLoopback } from '../helpers/midi-loopback.ts';

const FADERS = 64;
const EVENTS = 500_000;

function bytes(): Uint8Array {
  const out = new Uint8Array(EVENTS * 3);
  for (let i = 0; i < EVENTS; i++) out.set([0xb0, i % FADERS, (i * 7) & 127], i * 3);
  return out;
}

function rate(fn: () => void): number {
  fn(); // warm up
  const t = performance.now();
  fn();
  return EVENTS / ((performance.now() - t) / 1000);
}

export async function run(report: (line: string) => void): Promise<void> {
  const data = bytes();
  // Feed in 3-byte messages, as RtMidi delivers them.
  const messages = Array.from({ length: 4096 }, (_, i) => data.subarray(i * 3, i * 3 + 3));
  const feed = (push: (b: Uint8Array) => void) => {
    for (let i = 0; i < EVENTS; i++) push(messages[i % 4096]!);
  };

  let parsed = 0;
  const parser = createMidiParser({ onEvent: () => parsed++, onError: () => {} });
  const parserRate = rate(() => feed(parser.push));

  const params = ParamMap.parse(
    Object.fromEntries(
      Array.from({ length: FADERS }, (_, i) => [`/bench/fader/${i}`, { type: 'float', min: 0, max: 1 }]),
    ),
  );
  const registry = createRegistry(params);
  const store = createStore({ registry, hlc: createHlc({ node: 'bench' }) });
  let writes = 0;
  store.subscribe((c) => {
    writes += c.length;
  });
  const { log } = captureLogger();
  const lb = midiLoopback();
  lb.plug('bench');
  const service = createMidiService({
    // Coalescing disabled (one write per event) so the figure is the full path's cost.
    config: MidiConfig.parse({
      perControlHz: 10000,
      eventsPerSecond: 1e9,
      mappings: Array.from({ length: FADERS }, (_, i) => ({
        control: 'cc',
        number: i,
        path: `/bench/fader/${i}`,
      })),
    }),
    backend: { ok: true, backend: lb.backend },
    registry,
    store,
    rejections: createRejections({ log, security: log, intervalMs: 10000 }),
    log,
    learned: [],
    saveLearned: async () => {},
    // A clock that advances 1 ms per event, so every event is outside its control's interval.
    now: (() => {
      let t = 0;
      return () => (t += 1);
    })(),
  });
  service.start();
  const before = writes;
  const fullRate = rate(() => feed((b) => lb.play('bench', b)));
  service.close();
  report(`${EVENTS.toLocaleString('en')} CC events over ${FADERS} mapped faders`);
  report(`  parser alone                          ${Math.round(parserRate).toLocaleString('en')} events/s`);
  report(
    `  parser + mapping + validated write    ${Math.round(fullRate).toLocaleString('en')} events/s (${writes - before} writes)`,
  );
  report(`  ratio full/parser                     ${(fullRate / parserRate).toFixed(3)}`);
}
