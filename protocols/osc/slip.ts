// SLIP framing (RFC 1055) for OSC 1.1 over TCP; frames are delimited by END on both sides.

import type { StreamDecoder } from './framing.ts';

const END = 0xc0;
const ESC = 0xdb;
const ESC_END = 0xdc;
const ESC_ESC = 0xdd;

export type SlipErrorCode = 'oversize' | 'bad-escape';

export type SlipDecoderInit = {
  maxFrameBytes: number;
  onFrame: (frame: Uint8Array) => void;
  onError: (code: SlipErrorCode, message: string) => void;
};

/** Streaming decoder; a bad frame is dropped whole and decoding resumes after the next END. */
export function createSlipDecoder(init: SlipDecoderInit): StreamDecoder {
  // One preallocated frame buffer: a client streaming garbage cannot make us allocate more.
  const buf = new Uint8Array(init.maxFrameBytes);
  let len = 0;
  let escaped = false;
  let discarding = false;

  return {
    get partial() {
      return len > 0 || escaped || discarding;
    },
    push(chunk) {
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!;
        if (b === END) {
          if (!discarding && !escaped && len > 0) init.onFrame(buf.slice(0, len));
          else if (escaped && !discarding) init.onError('bad-escape', 'frame ends inside an escape');
          len = 0;
          escaped = false;
          discarding = false;
          continue;
        }
        if (discarding) continue;
        let out = b;
        if (escaped) {
          escaped = false;
          if (b === ESC_END) out = END;
          else if (b === ESC_ESC) out = ESC;
          else {
            init.onError('bad-escape', `ESC followed by 0x${b.toString(16)}`);
            discarding = true;
            continue;
          }
        } else if (b === ESC) {
          escaped = true;
          continue;
        }
        if (len === buf.length) {
          init.onError('oversize', `frame longer than ${buf.length} bytes`);
          discarding = true;
          continue;
        }
        buf[len++] = out;
      }
    },
  };
}

export function slipEncode(frame: Uint8Array): Uint8Array {
  let extra = 2;
  for (const b of frame) if (b === END || b === ESC) extra++;
  const out = new Uint8Array(frame.length + extra);
  let j = 0;
  out[j++] = END;
  for (const b of frame) {
    if (b === END) {
      out[j++] = ESC;
      out[j++] = ESC_END;
    } else if (b === ESC) {
      out[j++] = ESC;
      out[j++] = ESC_ESC;
    } else out[j++] = b;
  }
  out[j] = END;
  return out;
}
