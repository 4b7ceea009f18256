import type { MidiBackend, MidiInputPort, MidiOutputPort } from '../../protocols/midi/device.ts';

// An in-memory MIDI backend: the same interface the RtMidi adapter implements, so the daemon's
// MIDI code is exercised byte for byte without sound hardware. Tests plug and unplug ports,
// play bytes into inputs and read what the daemon sent to outputs.

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
  const listeners = new Map<string, (b: Uint8Array) => void>();
  const sent = new Map<string, number[]>();
  const input = (name: string, onBytes: (b: Uint8Array) => void): MidiInputPort => {
    listeners.set(name, onBytes);
    return { name, close: () => listeners.delete(name) };
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
      openInput: (name, onBytes) => {
        if (!plugged.has(name)) throw new Error(`no port ${name}`);
        return input(name, onBytes);
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
    play: (name, bytes) =>
      listeners.get(name)?.(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes)),
    sent: (name) => sent.get(name) ?? [],
    clearSent: () => sent.clear(),
  };
}
