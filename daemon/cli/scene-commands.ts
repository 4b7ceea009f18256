import type { FadeViewStatus } from '../scenes/fade-view.ts';
import { launchOptions } from '../scenes/launch-spec.ts';
import type { LaunchResult } from '../scenes/launcher.ts';
import type { SaveResult, SceneInfo } from '../scenes/scenes.ts';
import { type Parsed, UsageError } from './args.ts';
import { callOrReport, type Out, print } from './client-call.ts';
import { formatValue, printable, table } from './format.ts';
import { launchText } from './launch-line.ts';

// `hana scene save <name> [--only PATTERN] [--force] | load <name> [--fade F] [--at A] | status |
// list [--json] | delete <name>`.

type Ok<T> = Extract<T, { ok: true }>;

// Decrypting scenes under a passphrase costs ~0.1 s each; a long list needs longer than the default.
const LIST_TIMEOUT_MS = 120_000;
const SCENE_TIMEOUT_MS = 30_000;

function kb(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} kB`;
}

function listText(scenes: SceneInfo[]): string {
  if (scenes.length === 0) return 'No scenes yet. Save one with `hana scene save <name>`.';
  // The reason a scene cannot be read is a sentence of any length: below the table, not in it.
  const rows = table([
    ['NAME', 'SAVED', 'PARAMS', 'SIZE'],
    ...scenes.map((s) => [
      s.name,
      s.error ? 'UNREADABLE' : (s.savedAt ?? ''),
      s.params === null ? '' : String(s.params),
      kb(s.bytes),
    ]),
  ]);
  const why = scenes.filter((s) => s.error).map((s) => `${printable(s.name)}: ${printable(s.error!)}`);
  return why.length ? `${rows}\n\nunreadable:\n${why.map((w) => `  ${w}`).join('\n')}` : rows;
}

function statusText(s: FadeViewStatus): string {
  if (s.launches.length === 0) return 'No scene launches since the daemon started.';
  const lines = s.launches.map(launchText);
  if (s.cancelled) lines.push(`${s.cancelled} fade(s) ended early by a write to the parameter`);
  if (s.badRecords) lines.push(`${s.badRecords} launch record(s) that did not decode were ignored`);
  return lines.join('\n');
}

function loadText(r: Ok<LaunchResult>): string {
  const when = !r.launch
    ? ''
    : r.launch.at === 'now'
      ? `, starting now, fade ${r.launch.fade}`
      : `, starting on beat ${r.launch.startBeat?.toFixed(2)} (next ${r.launch.at}), fade ${r.launch.fade}`;
  const lines = [
    `loaded scene ${r.name} (saved ${r.savedAt}): ${r.applied} value(s) applied, ${r.changed} changed${when}`,
  ];
  for (const c of r.clamped) {
    lines.push(
      `  clamped ${c.path}: saved ${formatValue(c.saved)}, applied ${formatValue(c.applied)} (range changed)`,
    );
  }
  if (r.skipped.length) {
    lines.push(`  skipped ${r.skipped.length} value(s) the current config does not take:`);
    for (const s of r.skipped) lines.push(`  skipped ${s.path}: ${s.reason}`);
  }
  return lines.join('\n');
}

export async function sceneCommand(args: Parsed, out: Out): Promise<number> {
  const [sub, name, ...extra] = args.positionals;
  const only = args.flags.only as string | undefined;
  const force = args.flags.force === true;
  const fade = args.flags.fade as string | undefined;
  const at = args.flags.at as string | undefined;
  if (sub !== 'save' && (only !== undefined || force))
    throw new UsageError('--only and --force go with `scene save`');
  if (sub !== 'load' && (fade !== undefined || at !== undefined))
    throw new UsageError('--fade and --at go with `scene load`');
  if (extra.length) throw new UsageError(`scene ${sub} takes one name`);
  switch (sub) {
    case 'save': {
      if (!name) throw new UsageError('scene save takes a name, e.g. `hana scene save intro`');
      const r = (await callOrReport(
        args,
        out,
        'scene.save',
        { name, ...(only !== undefined && { only }), ...(force && { force }) },
        { timeoutMs: SCENE_TIMEOUT_MS },
      )) as Ok<SaveResult> | undefined;
      if (!r) return 1;
      return print(
        args,
        out,
        r,
        () =>
          `${r.replaced ? 'replaced' : 'saved'} scene ${r.name}: ${r.params} parameter(s), ${kb(r.bytes)} sealed`,
      );
    }
    case 'load': {
      if (!name) throw new UsageError('scene load takes a name, e.g. `hana scene load intro`');
      const o = launchOptions(fade, at);
      if (!o.ok) throw new UsageError(o.error);
      const r = (await callOrReport(
        args,
        out,
        'scene.load',
        { name, ...(fade !== undefined && { fade }), ...(at !== undefined && { at }) },
        { timeoutMs: SCENE_TIMEOUT_MS },
      )) as Ok<LaunchResult> | undefined;
      if (!r) return 1;
      print(args, out, r, () => loadText(r));
      if (r.applied === 0 && r.skipped.length > 0) {
        out.stderr(
          `hana: scene ${r.name} has no value the current config takes: check the declared parameters (\`hana params\`).\n`,
        );
        return 1;
      }
      return 0;
    }
    case 'status': {
      if (name) throw new UsageError('scene status takes no name');
      const r = (await callOrReport(args, out, 'scene.status', {})) as FadeViewStatus | undefined;
      return r ? print(args, out, r, () => statusText(r)) : 1;
    }
    case 'list': {
      if (name) throw new UsageError('scene list takes no name');
      const r = (await callOrReport(args, out, 'scene.list', {}, { timeoutMs: LIST_TIMEOUT_MS })) as
        | { scenes: SceneInfo[] }
        | undefined;
      return r ? print(args, out, r.scenes, () => listText(r.scenes)) : 1;
    }
    case 'delete': {
      if (!name) throw new UsageError('scene delete takes a name');
      const r = (await callOrReport(args, out, 'scene.delete', { name })) as { name: string } | undefined;
      return r ? print(args, out, r, () => `deleted scene ${r.name}`) : 1;
    }
    default:
      throw new UsageError(
        'usage: hana scene save <name> [--only PATTERN] [--force] | load <name> [--fade 2s|4b] [--at bar|beat|now] | status | list | delete <name>',
      );
  }
}
