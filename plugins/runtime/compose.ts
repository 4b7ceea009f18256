// One composed frame from the running plugins' latest display lists. The lists arrive already
// serialized and validated (sandbox/output.ts keeps the checked JSON), so composing is string
// concatenation: no re-serialization of up to 2,000 commands per plugin per frame. The result is
// exactly a `ComposedFrame` (display-list.ts) as JSON.

/** The serialized composed frame stays under this; later layers are left out of a frame that would not. */
export const MAX_COMPOSED_BYTES = 2 * 1024 * 1024;

export type FrameHead = {
  readonly index: number;
  readonly time: number;
  readonly beat: number;
  readonly tempo: number;
  readonly width: number;
  readonly height: number;
};

/** `layers`: plugin id and its display list as JSON, in layer order. */
export function composeFrame(
  head: FrameHead,
  layers: Iterable<{ readonly id: string; readonly json: string }>,
  maxBytes = MAX_COMPOSED_BYTES,
): { json: string; trimmed: boolean } {
  const start = `{"index":${head.index},"time":${head.time},"beat":${head.beat},"tempo":${head.tempo},"width":${head.width},"height":${head.height},"layers":[`;
  let size = start.length + 2;
  const parts: string[] = [];
  let trimmed = false;
  for (const layer of layers) {
    const part = `{"id":${JSON.stringify(layer.id)},"commands":${layer.json}}`;
    if (size + part.length + 1 > maxBytes) {
      trimmed = true;
      continue;
    }
    size += part.length + 1;
    parts.push(part);
  }
  return { json: `${start}${parts.join(',')}]}`, trimmed };
}
