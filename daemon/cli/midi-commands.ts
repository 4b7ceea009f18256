import type { MidiPorts } from '../midi/service.ts';
import { type Parsed, UsageError } from './args.ts';
import { callOrReport, type Out, print } from './client-call.ts';
import { table } from './format.ts';
import { midiClockCommand } from './midi-clock-commands.ts';

// `hana midi ports|monitor|learn|map list|map remove|clock`.

type MappingView = {
  id: string;
  origin: string;
  device: string;
  channel?: number;
  control: string;
  number?: number;
  path: string;
  curve: string;
  feedback: boolean;
};

function portsText(p: MidiPorts): string {
  if (!p.available)
    return `MIDI is off: ${p.reason}.\nOSC and everything else work as usual; see docs/midi.md (troubleshooting).`;
  const rows = [
    ['PORT', 'DIRECTION', 'OPEN'],
    ...p.inputs.map((n) => [n, 'in', p.open.inputs.includes(n) ? 'yes' : 'no (not in midi.inputs)']),
    ...p.outputs.map((n) => [n, 'out', p.open.outputs.includes(n) ? 'yes' : 'no']),
  ];
  return rows.length > 1
    ? table(rows)
    : 'No MIDI ports found. Plug in a controller; hana notices within midi.pollMs.';
}

function mappingsText(ms: MappingView[]): string {
  if (ms.length === 0)
    return 'No MIDI mappings. Make one with `hana midi learn <path>` or in the config (docs/midi.md).';
  return table([
    ['ID', 'DEVICE', 'CH', 'CONTROL', 'PATH', 'CURVE', 'FEEDBACK'],
    ...ms.map((m) => [
      m.id,
      m.device,
      m.channel === undefined ? 'any' : String(m.channel),
      m.number === undefined ? m.control : `${m.control} ${m.number}`,
      m.path,
      m.curve,
      m.feedback ? 'yes' : 'no',
    ]),
  ]);
}

export async function midiCommand(args: Parsed, out: Out): Promise<number> {
  const [sub, ...rest] = args.positionals;
  switch (sub) {
    case 'ports': {
      const r = (await callOrReport(args, out, 'midi.ports', {})) as MidiPorts | undefined;
      return r ? print(args, out, r, () => portsText(r)) : 1;
    }
    case 'monitor': {
      out.stderr('hana: showing MIDI events; Ctrl-C to stop.\n');
      const r = await callOrReport(
        args,
        out,
        'midi.monitor',
        {},
        {
          timeoutMs: null,
          onEvent: (e) => out.stdout(`${JSON.stringify(e)}\n`),
        },
      );
      return r ? 0 : 1;
    }
    case 'learn': {
      const [path, ...extra] = rest;
      if (!path || extra.length)
        throw new UsageError(
          'midi learn takes one parameter address, e.g. `hana midi learn /layer/1/opacity`',
        );
      const t = args.flags.timeout;
      const timeoutSeconds = t === undefined ? undefined : Number(t);
      if (
        timeoutSeconds !== undefined &&
        !(Number.isInteger(timeoutSeconds) && timeoutSeconds >= 1 && timeoutSeconds <= 600)
      ) {
        throw new UsageError('--timeout is whole seconds from 1 to 600');
      }
      const r = (await callOrReport(
        args,
        out,
        'midi.learn',
        { path, ...(timeoutSeconds && { timeoutSeconds }) },
        {
          timeoutMs: ((timeoutSeconds ?? 600) + 5) * 1000,
          onEvent: () => out.stderr(`hana: move the control for ${path} now…\n`),
        },
      )) as { mapping: MappingView } | undefined;
      if (!r) return 1;
      const m = r.mapping;
      return print(
        args,
        out,
        r,
        () =>
          `learned: ${m.device} ch ${m.channel} ${m.control}${m.number === undefined ? '' : ` ${m.number}`} → ${m.path} (${m.curve})`,
      );
    }
    case 'map': {
      const [action, id, ...extra] = rest;
      if (action === 'list' && !id) {
        const r = (await callOrReport(args, out, 'midi.mappings', {})) as
          | { mappings: MappingView[] }
          | undefined;
        return r ? print(args, out, r.mappings, () => mappingsText(r.mappings)) : 1;
      }
      if (action === 'remove' && id && !extra.length) {
        const r = await callOrReport(args, out, 'midi.remove', { id });
        return r ? print(args, out, r, () => `removed ${id}`) : 1;
      }
      throw new UsageError('usage: hana midi map list | hana midi map remove <id>');
    }
    case 'clock':
      return midiClockCommand(args, out, rest);
    default:
      throw new UsageError(
        'usage: hana midi ports | monitor | learn <path> | map list | map remove <id> | clock [play|stop|continue]',
      );
  }
}
