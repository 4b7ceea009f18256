// One composed frame from the running plugins' latest display lists. The lists arrive already
// serialized and validated (sandbox/output.ts keeps the checked JSON), so composing is string
// concatenation: no re-serialization of up to 2,000 commands per plugin per frame. The result is
// exactly a `ComposedFrame` (display-list.ts) as JSON.
//
// The frame's byte cap is shared fairly. Filling it in layer order let eight plugins, each within
// its own 256 KiB cap, fill the 2 MiB frame so that a ninth plugin's layer never appeared. Now
// every layer within its fair share (the cap divided by the number of layers) is always in the
// frame; what those leave over goes to the larger layers in an order that rotates with the frame
// index, so a large layer that does not fit this frame is first in line for a later one.

/** The serialized composed frame stays under this. */
export const MAX_COMPOSED_BYTES = 2 * 1024 * 1024;

export type FrameHead = {
  readonly index: number;
  readonly time: number;
  readonly beat: number;
  readonly tempo: number;
  readonly width: number;
  readonly height: number;
};

export type Composed = {
  json: string;
  trimmed: boolean;
  /** Ids of the layers left out of this frame (larger than their fair share, and no room left). */
  leftOut: string[];
  /** The fair share of the frame's bytes each layer had, for messages. */
  shareBytes: number;
};

/** `layers`: plugin id and its display list as JSON, in layer order. */
export function composeFrame(
  head: FrameHead,
  layers: readonly { readonly id: string; readonly json: string }[],
  maxBytes = MAX_COMPOSED_BYTES,
): Composed {
  const start = `{"index":${head.index},"time":${head.time},"beat":${head.beat},"tempo":${head.tempo},"width":${head.width},"height":${head.height},"layers":[`;
  const n = layers.length;
  const parts = layers.map((l) => `{"id":${JSON.stringify(l.id)},"commands":${l.json}}`);
  // Each part costs its length and a comma.
  const room = maxBytes - start.length - 2;
  const shareBytes = n === 0 ? room : Math.floor(room / n);
  const keep: boolean[] = new Array(n).fill(false);
  let used = 0;
  const over: number[] = [];
  for (let i = 0; i < n; i++) {
    if (parts[i]!.length + 1 <= shareBytes) {
      keep[i] = true;
      used += parts[i]!.length + 1;
    } else {
      over.push(i);
    }
  }
  const leftOut: string[] = [];
  const first = over.length === 0 ? 0 : head.index % over.length;
  for (let k = 0; k < over.length; k++) {
    const i = over[(first + k) % over.length]!;
    const size = parts[i]!.length + 1;
    if (used + size <= room) {
      keep[i] = true;
      used += size;
    } else {
      leftOut.push(layers[i]!.id);
    }
  }
  const kept = leftOut.length === 0 ? parts : parts.filter((_, i) => keep[i]);
  return { json: `${start}${kept.join(',')}]}`, trimmed: leftOut.length > 0, leftOut, shareBytes };
}
