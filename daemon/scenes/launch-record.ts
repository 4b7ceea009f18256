import { z } from 'zod';
import type { ParamSpec } from '../config/params-schema.ts';
import type { Stamp } from '../state/hlc.ts';
import { FadeLength } from './launch-spec.ts';

// A quantized scene launch as one replicated register, like the timeline: the laptop that
// launches writes the scene's target values and then this record in one batch, all signed and
// replicated as ordinary writes. The record says when the fade starts (a beat of the shared
// timeline, or a session time when there is no beat) and how long it lasts; each laptop renders
// the fade itself from it (fade-view.ts). Which writes the record governs is told by stamps,
// not by a list (a scene does not fit in one 256-character value): the writes of the record's
// origin stamped after `after` and before the record itself, which one batch makes exactly the
// scene's targets.

/** Where the last launch lives in the store. Under /hana/, which no config may declare. */
export const LAUNCH_PATH = '/hana/scene/launch';
const PREFIX = 'sl1';
export const MAX_ENCODED_LENGTH = 256;

export const launchParam: ParamSpec = {
  type: 'string',
  maxLength: MAX_ENCODED_LENGTH,
  description:
    'The last quantized scene launch: start beat, fade and the stamp its targets follow, written by the laptop that launched it. See `hana scene status`; it is not an OSC parameter.',
};

export const LaunchRecord = z
  .object({
    scene: z
      .string()
      .max(64)
      .regex(/^[a-z0-9][a-z0-9._-]*$/),
    /** The beat of the shared timeline the fade starts on; null when launched without a timeline. */
    startBeat: z.number().nullable(),
    /** Session ms of the start as the launching laptop computed it (used when startBeat is null). */
    startMs: z.number(),
    fade: FadeLength,
    /** The targets are the origin's writes stamped after this and before the record. */
    after: z.object({ t: z.number().min(0), c: z.number().int().min(0) }).strict(),
  })
  .strict();
export type LaunchRecord = z.infer<typeof LaunchRecord>;

const num = (x: number): string => (Object.is(x, -0) ? '0' : String(x));

/** `sl1 <startBeat|-> <startMs> <ms|beats> <length> <after.t> <after.c> <scene>` */
export function encodeLaunch(r: LaunchRecord): string {
  return [
    PREFIX,
    r.startBeat === null ? '-' : num(r.startBeat),
    num(r.startMs),
    r.fade.unit,
    num(r.fade.length),
    String(r.after.t),
    String(r.after.c),
    r.scene,
  ].join(' ');
}

/** Reads a register value; undefined for anything encodeLaunch would not have written. */
export function decodeLaunch(value: unknown): LaunchRecord | undefined {
  if (typeof value !== 'string' || value.length > MAX_ENCODED_LENGTH) return undefined;
  const p = value.split(' ');
  if (p.length !== 8 || p[0] !== PREFIX) return undefined;
  const n = (s: string) => (s.trim() === s && s !== '' ? Number(s) : Number.NaN);
  const candidate = {
    scene: p[7],
    startBeat: p[1] === '-' ? null : n(p[1]!),
    startMs: n(p[2]!),
    fade: { unit: p[3], length: n(p[4]!) },
    after: { t: n(p[5]!), c: n(p[6]!) },
  };
  const r = LaunchRecord.safeParse(candidate);
  return r.success ? r.data : undefined;
}

/** Whether a write stamped `s` is one of the targets of a record stamped `record`. */
export function governs(rec: LaunchRecord, record: Stamp, s: Stamp): boolean {
  if (s.node !== record.node) return false;
  const afterOk = s.t > rec.after.t || (s.t === rec.after.t && s.c > rec.after.c);
  const beforeOk = s.t < record.t || (s.t === record.t && s.c < record.c);
  return afterOk && beforeOk;
}
