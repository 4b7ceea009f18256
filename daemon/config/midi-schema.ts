import { z } from 'zod';
import { MidiClockConfig } from './midi-clock-schema.ts';
import { ParamAddress } from './params-schema.ts';

// MIDI controller mappings: (device pattern, channel, control) → parameter, with a curve.

export const MidiControlKind = z.enum(['cc', 'cc14', 'note', 'nrpn', 'rpn', 'pitchbend']);
export type MidiControlKind = z.infer<typeof MidiControlKind>;

export const MidiMapping = z
  .object({
    device: z
      .string()
      .min(1)
      .max(128)
      .default('*')
      .describe('Port name pattern, case-insensitive, `*` matches anything (e.g. "nanoKONTROL2*").'),
    channel: z.number().int().min(1).max(16).optional().describe('MIDI channel 1–16; omitted: any channel.'),
    control: MidiControlKind.describe(
      '`cc` (7-bit), `cc14` (MSB 0–31 + LSB 32–63), `note`, `nrpn`, `rpn` (14-bit), `pitchbend`.',
    ),
    number: z
      .number()
      .int()
      .min(0)
      .max(16383)
      .optional()
      .describe('CC number, note number, or (N)RPN parameter number; not used for pitchbend.'),
    path: ParamAddress.describe('The parameter this control drives.'),
    curve: z
      .enum(['linear', 'exponential', 'toggle', 'momentary', 'relative'])
      .optional()
      .describe(
        'linear/exponential: position → value; toggle: each press flips; momentary: pressed/released (or fire a trigger); relative: endless encoder. Default: momentary for triggers, toggle for bool notes, linear otherwise.',
      ),
    exponent: z
      .number()
      .min(0.1)
      .max(10)
      .default(2)
      .describe('Shape of the `exponential` curve: value ∝ position^exponent.'),
    encoding: z
      .enum(['twosComplement', 'offset64', 'signBit'])
      .default('twosComplement')
      .describe('How a `relative` encoder encodes its steps.'),
    step: z.number().positive().optional().describe('Value change per encoder step (default: range / 127).'),
    min: z
      .number()
      .optional()
      .describe('Value at the control’s lowest position (default: the parameter’s min, or 0).'),
    max: z
      .number()
      .optional()
      .describe('Value at the control’s highest position (default: the parameter’s max, or 1).'),
    feedback: z
      .boolean()
      .default(true)
      .describe('Send the value back to the controller (motor faders, LEDs).'),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.control !== 'pitchbend' && m.number === undefined) {
      ctx.addIssue({ code: 'custom', path: ['number'], message: `a ${m.control} mapping needs a number` });
    }
    if (m.curve === 'relative' && m.control !== 'cc') {
      // Endless encoders send 7-bit step codes; a 14-bit control carries positions.
      ctx.addIssue({
        code: 'custom',
        path: ['curve'],
        message: 'a relative (endless encoder) mapping must use control "cc"',
      });
    }
    const limit = { cc: 127, cc14: 31, note: 127, nrpn: 16383, rpn: 16383, pitchbend: 16383 }[m.control];
    if (m.number !== undefined && m.number > limit) {
      ctx.addIssue({ code: 'custom', path: ['number'], message: `${m.control} numbers go up to ${limit}` });
    }
  });
export type MidiMapping = z.infer<typeof MidiMapping>;
export type MidiMappingInput = z.input<typeof MidiMapping>;

export const MidiConfig = z
  .object({
    enabled: z.boolean().default(true).describe('Use MIDI devices when the system has MIDI.'),
    inputs: z
      .array(z.string().min(1).max(128))
      .default(['*'])
      .describe('Port name patterns to open as controllers (outputs with the same names get feedback).'),
    pollMs: z
      .number()
      .int()
      .min(100)
      .default(2000)
      .describe('How often to look for plugged and unplugged devices.'),
    virtualPort: z
      .string()
      .max(64)
      .optional()
      .describe('Also open a virtual in/out port with this name other apps can connect to.'),
    perControlHz: z
      .number()
      .min(1)
      .max(10000)
      .default(250)
      .describe(
        'A moving control writes its parameter at most this often; in between, the latest value wins.',
      ),
    eventsPerSecond: z
      .number()
      .min(1)
      .default(5000)
      .describe('Per device; a controller spraying more is dropped and counted as `midi-flood`.'),
    feedbackHz: z
      .number()
      .min(1)
      .max(1000)
      .default(60)
      .describe('Feedback messages per control per second, at most.'),
    learnTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(600)
      .default(30)
      .describe('How long `hana midi learn` waits.'),
    mappings: z.array(MidiMapping).max(4096).default([]).describe('Control → parameter mappings.'),
    clock: MidiClockConfig.prefault({}).describe('MIDI clock out and in (docs/tempo.md).'),
  })
  .strict();
export type MidiConfig = z.infer<typeof MidiConfig>;
export type MidiConfigInput = z.input<typeof MidiConfig>;
