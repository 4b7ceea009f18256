// Decoded OSC, independent of the codec library's shapes. Everything above protocols/osc sees
// only these types.

/** NTP time tag: seconds since 1900 and 2^-32 fractions. (0, 1) means "immediately". */
export type Timetag = { readonly seconds: number; readonly fraction: number };

export type OscArg =
  | { type: 'i' | 'h' | 'f' | 'd'; value: number }
  | { type: 's' | 'S' | 'c'; value: string }
  | { type: 'T' | 'F'; value: boolean }
  | { type: 'N' | 'I'; value: null }
  /** RGBA, each 0–255. */
  | { type: 'r'; value: { r: number; g: number; b: number; a: number } }
  | { type: 'b' | 'm'; value: Uint8Array }
  | { type: 't'; value: Timetag }
  | { type: '['; value: OscArg[] };

export type OscMessage = {
  readonly kind: 'message';
  readonly address: string;
  readonly args: readonly OscArg[];
};
export type OscBundle = {
  readonly kind: 'bundle';
  readonly timetag: Timetag;
  readonly elements: readonly OscPacket[];
};
export type OscPacket = OscMessage | OscBundle;

/** Stable reason codes for undecodable input; they appear in counters, logs and docs/osc.md. */
export type OscDecodeCode =
  | 'truncated'
  | 'unterminated-string'
  | 'bad-type-tag'
  | 'bad-bundle-size'
  | 'bad-address'
  | 'trailing-bytes'
  | 'too-deep'
  | 'oversize';

export type OscDecodeError = { readonly code: OscDecodeCode; readonly message: string };
export type OscDecodeResult = { ok: true; packet: OscPacket } | { ok: false; error: OscDecodeError };
