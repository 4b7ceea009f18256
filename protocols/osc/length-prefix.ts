import type { StreamDecoder } from './framing.ts';

// OSC 1.0 over a stream: each packet preceded by its size as a 32-bit big-endian integer. This
// is how liblo (`oscsend osc.tcp://…`), oscpack and most C/C++ clients frame OSC over TCP.

export type LengthPrefixErrorCode = 'oversize' | 'empty-frame';

export type LengthPrefixDecoderInit = {
  maxFrameBytes: number;
  onFrame: (frame: Uint8Array) => void;
  /**
   * A length the stream cannot be trusted past: the caller closes the connection, since a
   * length-prefixed stream has no delimiter to find the next frame by.
   */
  onError: (code: LengthPrefixErrorCode, message: string) => void;
};

/** Streaming decoder; after an error it ignores everything (the connection is to be closed). */
export function createLengthPrefixDecoder(init: LengthPrefixDecoderInit): StreamDecoder {
  // One preallocated frame buffer, as the SLIP decoder: a length says how much, never allocates.
  const buf = new Uint8Array(init.maxFrameBytes);
  const header = new Uint8Array(4);
  let headerLen = 0;
  let want = -1; // -1: reading the header
  let len = 0;
  let dead = false;

  return {
    get partial() {
      return !dead && (headerLen > 0 || want >= 0);
    },
    push(chunk) {
      let i = 0;
      while (i < chunk.length && !dead) {
        if (want < 0) {
          header[headerLen++] = chunk[i++]!;
          if (headerLen < 4) continue;
          headerLen = 0;
          const size = ((header[0]! << 24) | (header[1]! << 16) | (header[2]! << 8) | header[3]!) >>> 0;
          if (size === 0) {
            dead = true;
            init.onError('empty-frame', 'a length prefix of 0: not an OSC packet');
          } else if (size > buf.length) {
            dead = true;
            init.onError(
              'oversize',
              `a length prefix of ${size} bytes, over the ${buf.length}-byte frame limit`,
            );
          } else {
            want = size;
            len = 0;
          }
          continue;
        }
        const n = Math.min(want - len, chunk.length - i);
        buf.set(chunk.subarray(i, i + n), len);
        len += n;
        i += n;
        if (len === want) {
          want = -1;
          init.onFrame(buf.slice(0, len));
        }
      }
    },
  };
}

/** One packet with its 4-byte big-endian size in front. */
export function lengthPrefixEncode(packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + packet.length);
  new DataView(out.buffer).setUint32(0, packet.length);
  out.set(packet, 4);
  return out;
}
