import type { Command, DisplayList, FrameInfo, ParamValue } from '../../../api/hana-plugin.d.ts';

// Flashes on the shared beat. There is no audio analysis: the beat comes from the session clock
// that every linked daemon agrees on, so two laptops running this flash on the same frame.
//
// The manifest puts it on mixer channel 2: the output page applies /layer/2/opacity (the "lfo"
// example sweeps it) and /layer/2/blend to the whole layer; /layer/2/color tints it. A row of four squares at the top counts the beats of the bar, so the plugin shows something
// even while the flash level is 0.

const BEATS_PER_BAR = 4;

/** The parameter's "#rrggbbaa" as "#rrggbb" (the alpha is applied through `alpha` instead). */
function rgb(v: ParamValue | undefined, fallback: string): string {
  return typeof v === 'string' && /^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/.test(v) ? v.slice(0, 7) : fallback;
}

export function frame(f: FrameInfo): DisplayList {
  const color = rgb(f.params['/layer/2/color'], '#ffffff');
  const beatInBar = ((Math.floor(f.beat) % BEATS_PER_BAR) + BEATS_PER_BAR) % BEATS_PER_BAR;
  // Sharp attack on the beat, quick decay; the bar's first beat hits harder.
  const decay = (1 - f.phase) ** 4;
  const flash = decay * (beatInBar === 0 ? 1 : 0.6);

  const out: Command[] = [];
  if (flash > 0.002) {
    out.push({ op: 'rect', x: 0, y: 0, w: f.width, h: f.height, color, alpha: flash, blend: 'add' });
  }
  const size = Math.min(f.width, f.height) / 24;
  const gap = size / 2;
  const left = f.width / 2 - (BEATS_PER_BAR * size + (BEATS_PER_BAR - 1) * gap) / 2;
  const top = size;
  for (let i = 0; i < BEATS_PER_BAR; i++) {
    const on = i === beatInBar;
    out.push({
      op: 'rect',
      x: left + i * (size + gap),
      y: top,
      w: size,
      h: size,
      color,
      alpha: on ? 0.5 + 0.5 * decay : 0.6,
      fill: on,
      lineWidth: 2,
    });
  }
  return out;
}
