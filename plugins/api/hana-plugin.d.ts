// The plugin API: what a hana visual plugin sees inside its sandbox, and what it returns.
//
// A plugin is one bundled script (esbuild `--bundle --format=iife --global-name=plugin`). Its
// entry module exports `frame` (required) and `setup` (optional); the bundle therefore defines a
// global `plugin` with those functions. The sandbox calls `frame` once per frame with a fresh
// copy of the frame data and takes a copy of the display list it returns. Nothing else crosses:
// no require, no file system, no network, no timers, no host objects.

/** A parameter value as the daemon stores it. Colours are "#rrggbbaa" text. */
export type ParamValue = number | boolean | string | null;

/** A trigger that fired since this plugin's previous frame (a hit on /strobe, a scene cue …). */
export interface TriggerEvent {
  /** The trigger's path, one the manifest declares in `reads`. */
  readonly address: string;
  /** The stored value: null for a trigger (a trigger carries no value, only the moment). */
  readonly value: ParamValue;
  /** Session beat when the daemon applied it: earlier than this frame's `beat` by up to a frame. */
  readonly beat: number;
}

export interface FrameInfo {
  /** Frames since this plugin started (0, 1, 2 …). */
  readonly index: number;
  /** Session time in seconds, shared by every linked daemon (the peers' clocks are aligned). */
  readonly time: number;
  /** Seconds since the previous frame of this plugin. */
  readonly dt: number;
  /** Beats since the session's origin at the shared tempo (fractional). */
  readonly beat: number;
  /** Position inside the current beat, 0 ≤ phase < 1. */
  readonly phase: number;
  /** Shared tempo in beats per minute (the /tempo parameter). */
  readonly tempo: number;
  /** Logical output size: draw in these units; the output page scales them to the screen. */
  readonly width: number;
  readonly height: number;
  /** Current values of the parameters the manifest declares in `reads`, by path. */
  readonly params: Readonly<Record<string, ParamValue>>;
  /**
   * Triggers the manifest reads that fired since this plugin's previous frame, oldest first, each
   * delivered to exactly one frame (at most 64 per frame; older ones beyond that are dropped).
   * A trigger's entry in `params` is always null: react to it here.
   */
  readonly events: readonly TriggerEvent[];
}

export interface SetupInfo {
  readonly id: string;
  readonly width: number;
  readonly height: number;
}

/** "#rgb", "#rrggbb" or "#rrggbbaa". */
export type Color = string;
export type Blend = 'normal' | 'add' | 'multiply' | 'screen';
/** A 2D affine matrix [a, b, c, d, e, f] as in canvas `setTransform`, applied to this command. */
export type Transform = readonly [number, number, number, number, number, number];

export interface Style {
  /** Defaults to "#ffffff". */
  readonly color?: Color;
  /** 0–1, multiplied with the colour's own alpha. Defaults to 1. */
  readonly alpha?: number;
  /** Defaults to "normal". */
  readonly blend?: Blend;
  /** Outline width for rect/circle when fill is false, and for line/polyline. Defaults to 1. */
  readonly lineWidth?: number;
  /** rect/circle/polyline: fill (default true for rect and circle, false for polyline). */
  readonly fill?: boolean;
  readonly transform?: Transform;
}

export type Command =
  | { readonly op: 'clear'; readonly color?: Color }
  | ({
      readonly op: 'rect';
      readonly x: number;
      readonly y: number;
      readonly w: number;
      readonly h: number;
    } & Style)
  | ({ readonly op: 'circle'; readonly x: number; readonly y: number; readonly r: number } & Style)
  | ({
      readonly op: 'line';
      readonly x1: number;
      readonly y1: number;
      readonly x2: number;
      readonly y2: number;
    } & Style)
  | ({
      readonly op: 'polyline';
      /** Flat list of coordinates: x0, y0, x1, y1, … (at most 2,000 numbers). */
      readonly points: readonly number[];
      readonly closed?: boolean;
    } & Style)
  | ({
      readonly op: 'text';
      readonly x: number;
      readonly y: number;
      /** At most 200 characters. */
      readonly text: string;
      /** Font size in output units; defaults to 24. */
      readonly size?: number;
      readonly align?: 'left' | 'center' | 'right';
    } & Style);

/** What `frame` returns: at most 2,000 commands, drawn in order on this plugin's layer. */
export type DisplayList = readonly Command[];

export interface HanaApi {
  /**
   * Asks the daemon to set a parameter the manifest declares in `writes`. Applied after the frame
   * through the same validated path as OSC (type, range), attributed to this plugin. A path not
   * declared in `writes` is refused and counted.
   */
  set(path: string, value: number | boolean | string): void;
  /** Writes a line to the daemon's log, tagged with the plugin's id (rate-limited). */
  log(...args: unknown[]): void;
}

declare global {
  const hana: HanaApi;
}

/** The shape of a plugin's entry module. */
export interface PluginModule {
  setup?(info: SetupInfo): void;
  frame(frame: FrameInfo): DisplayList;
}
