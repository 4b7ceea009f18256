import type {
  MidiBackend,
  MidiInputOptions,
  MidiInputPort,
  MidiOutputPort,
} from '../../protocols/midi/device.ts';

// An in-memory MIDI backend: the same interface the RtMidi adapter implements, so the daemon's
// MIDI code is exercised byte for byte without sound hardware. Tests plug and unplug ports,
// play bytes into inputs and read what the daemon sent to outputs. A port can be open twice
// (the controller service and the MIDI clock in), as on ALSA and CoreMIDI; like RtMidi, an input
// opened without `timing` never hears clock bytes (F8, F9).

export type Loopback = {
  backend: MidiBackend;
  plug(name: string): void;
  unplug(name: string): void;
  /** Bytes as if the controller `name` sent them. */
  play(name: string, bytes: readonly number[] | Uint8Array): void;
  /** Everything sent to output `name`, concatenated. */
  sent(name: string): number[];
  clearSent(): void;
};

export function midiLoopback(): Loopback {
  const plugged = new Set<string>();
  const listeners = new Map<string, Set<(b: Uint8Array) => void>>();
  const sent = new Map<string, number[]>();
  const input = (
    name: string,
    onBytes: (b: Uint8Array) => void,
    options?: MidiInputOptions,
  ): MidiInputPort => {
    const timing = options?.timing === true;
    const fn = (b: Uint8Array) => {
      const kept = timing ? b : b.filter((x) => x !== 0xf8 && x !== 0xf9);
      if (kept.length) onBytes(kept);
    };
    if (!listeners.has(name)) listeners.set(name, new Set());
    listeners.get(name)!.add(fn);
    return { name, close: () => listeners.get(name)?.delete(fn) };
  };
  const output = (name: string): MidiOutputPort => ({
    name,
    send: (bytes) => {
      sent.set(name, [...(sent.get(name) ?? []), ...bytes]);
    },
    close: () => {},
  });
  return {
    backend: {
      list: () => ({ inputs: [...plugged], outputs: [...plugged] }),
      openInput: (name, onBytes, options) => {
        if (!plugged.has(name)) throw new Error(`no port ${name}`);
        return input(name, onBytes, options);
      },
      openOutput: (name) => {
        if (!plugged.has(name)) throw new Error(`no port ${name}`);
        return output(name);
      },
      openVirtualInput: input,
      openVirtualOutput: output,
    },
    plug: (name) => plugged.add(name),
    unplug: (name) => {
      plugged.delete(name);
    },
    play: (name, bytes) => {
      const b = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
      for (const fn of listeners.get(name) ?? []) fn(b);
    },
    sent: (name) => sent.get(name) ?? [],
    clearSent: () => sent.clear(),
  };
}
