// OSC over a byte stream comes framed one of two ways, and clients do not say which: OSC 1.1's
// SLIP (Open Stage Control, TouchOSC, the osc package) or OSC 1.0's 32-bit size prefix (liblo's
// `osc.tcp://`, oscpack). The first byte tells them apart: a size prefix within any frame limit
// we accept starts with 0x00, which neither SLIP's END (0xC0) nor an OSC packet ('/', '#') does.

export type Framing = 'slip' | 'length-prefix';

/** A streaming frame decoder of either framing. */
export type StreamDecoder = {
  push(chunk: Uint8Array): void;
  /** Bytes of an unfinished frame (or of its size prefix) are held. */
  readonly partial: boolean;
};

/** The framing of a stream whose first byte is `first`. */
export function framingOf(first: number): Framing {
  return first === 0x00 ? 'length-prefix' : 'slip';
}
