import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

// The one adapter around @julusian/midi (RtMidi). Everything above it talks to `MidiBackend`,
// so mapping, learn and feedback are tested by feeding bytes through the same interface with
// an in-memory backend, while this file stays small enough to read at a glance.

export type MidiInputPort = { readonly name: string; close(): void };
export type MidiOutputPort = { readonly name: string; send(bytes: Uint8Array): void; close(): void };

/** `timing`: deliver clock (F8) and start/stop/continue too; controllers never need them. */
export type MidiInputOptions = { timing?: boolean };

export type MidiBackend = {
  /** Port names as the OS shows them; throws only on a backend failure. */
  list(): { inputs: string[]; outputs: string[] };
  openInput(name: string, onBytes: (bytes: Uint8Array) => void, options?: MidiInputOptions): MidiInputPort;
  openOutput(name: string): MidiOutputPort;
  /** A port other apps can connect to (ALSA, CoreMIDI); not on Windows. */
  openVirtualInput(name: string, onBytes: (bytes: Uint8Array) => void): MidiInputPort;
  openVirtualOutput(name: string): MidiOutputPort;
};

export type BackendResult = { ok: true; backend: MidiBackend } | { ok: false; reason: string };

type RtInput = {
  on(event: 'messageBuffer', fn: (deltaTime: number, message: Buffer) => void): void;
  ignoreTypes(sysex: boolean, timing: boolean, activeSensing: boolean): void;
  openPortByName(name: string): void;
  openVirtualPort(name: string): void;
  closePort(): void;
  destroy(): void;
};
type RtOutput = {
  openPortByName(name: string): void;
  openVirtualPort(name: string): void;
  send(message: Buffer): void;
  closePort(): void;
  destroy(): void;
};
type RtMidi = {
  verifyLibraryLoaded(): void;
  Input: { new (): RtInput; getPortNames(): string[] };
  Output: { new (): RtOutput; getPortNames(): string[] };
};

/**
 * Loads RtMidi lazily and checks it can reach the OS. Never throws: when MIDI cannot work here
 * (no ALSA sequencer, library missing) the reason is returned in plain words.
 */
export function loadMidiBackend(): BackendResult {
  // Without the sequencer device RtMidi fails after ALSA prints to stderr; check first so a
  // machine without sound support says one clear sentence instead.
  if (process.platform === 'linux' && !existsSync('/dev/snd/seq')) {
    return {
      ok: false,
      reason:
        'no ALSA sequencer (/dev/snd/seq is missing: the kernel has no sound support or the snd-seq module is not loaded)',
    };
  }
  let rt: RtMidi;
  try {
    rt = createRequire(import.meta.url)('@julusian/midi/lazy') as RtMidi;
    rt.verifyLibraryLoaded();
    rt.Input.getPortNames();
  } catch (err) {
    return { ok: false, reason: `the MIDI library could not start: ${(err as Error).message}` };
  }
  const input = (
    open: (i: RtInput) => void,
    name: string,
    onBytes: (b: Uint8Array) => void,
    options?: MidiInputOptions,
  ): MidiInputPort => {
    const i = new rt.Input();
    // Clock and active sensing arrive 24+ times per beat and map to no control: drop them in
    // C++, unless this port is the MIDI clock in.
    i.ignoreTypes(true, !options?.timing, true);
    i.on('messageBuffer', (_dt, message) => onBytes(message));
    open(i);
    return {
      name,
      close: () => {
        i.closePort();
        i.destroy();
      },
    };
  };
  const output = (open: (o: RtOutput) => void, name: string): MidiOutputPort => {
    const o = new rt.Output();
    open(o);
    return {
      name,
      send: (bytes) => o.send(Buffer.from(bytes)),
      close: () => {
        o.closePort();
        o.destroy();
      },
    };
  };
  return {
    ok: true,
    backend: {
      list: () => ({ inputs: rt.Input.getPortNames(), outputs: rt.Output.getPortNames() }),
      openInput: (name, onBytes, options) => input((i) => i.openPortByName(name), name, onBytes, options),
      openOutput: (name) => output((o) => o.openPortByName(name), name),
      openVirtualInput: (name, onBytes) => input((i) => i.openVirtualPort(name), name, onBytes),
      openVirtualOutput: (name) => output((o) => o.openVirtualPort(name), name),
    },
  };
}
