import { VERSION } from '../version.ts';
import { type FlagSpec, type Parsed, parseCommandArgs, UsageError } from './args.ts';
import type { Out } from './client-call.ts';
import {
  ABLETON_LINK_FLAGS,
  ABLETON_LINK_USAGE,
  AUDIT_FLAGS,
  AUDIT_USAGE,
  CLIENT_FLAGS,
  LINK_FLAGS,
  MIDI_FLAGS,
  OUTPUT_FLAGS,
  PAIR_FLAGS,
  PAIR_USAGE,
  PLUGIN_FLAGS,
  PLUGIN_USAGE,
  PUBLISHER_FLAGS,
  PUBLISHER_USAGE,
  SCENE_FLAGS,
  SCENE_USAGE,
  START_FLAGS,
  UI_FLAGS,
  UI_USAGE,
} from './command-specs.ts';

// `hana <command>`: exit 0 ok, 1 failure, 2 usage error; errors on stderr in one sentence.

const USAGE = `usage: hana <command> [options]

commands:
  start [--home DIR] [--config FILE] [--osc-port N] [--osc-bind ADDR] [--peer-port N] [--name NAME]
        [--ableton-link] [--log-level LEVEL] [--log-json]
                                             run the daemon in the foreground
  status [--json]                            ports, counters, rejections
  params [--json]                            declared parameters and their values
  get <address-or-pattern> [--json]          e.g. hana get '/layer/*/opacity'
  set <address> <value...>                   e.g. hana set /layer/1/color '#ff0000'
  id [--json]                                this daemon's device ID and name
  peers [--json]                             linked peers: state, role, RTT, last heard
  trust list [--json]                        pinned peers and refused key changes
  trust allow <id> [--role performer|observer] [--name NAME] | trust block <id> | trust forget <id>
  trust rotate                               new identity, announced to peers signed by the old key
${PAIR_USAGE}
  midi ports [--json]                        MIDI ports, or why MIDI is off
  midi monitor                               print incoming MIDI events
  midi learn <address> [--timeout S]         bind the next control that moves
  midi map list [--json] | map remove <id>   MIDI mappings
  midi clock [--json]                        MIDI clock out and in, start/stop, tempo source
  midi clock play|stop|continue              start (on the next bar), stop or continue the clock
  output [--json] [--new-token]              the output page's URL (with its token) and counters;
                                             --new-token replaces the token (old pages are cut off)
${UI_USAGE}
${ABLETON_LINK_USAGE}
${PLUGIN_USAGE}
${PUBLISHER_USAGE}
${SCENE_USAGE}
${AUDIT_USAGE}

every command takes --home DIR (or HANA_HOME) to pick its daemon.
`;

/** The synopsis of a usage line: the part before its description (two or more spaces). */
const synopsis = (line: string) => line.trim().split(/\s{2,}/)[0]!;

/**
 * The usage lines of one command, or of one of its subcommands when `sub` names one (all of
 * them when nothing matches), for `hana <command> [sub] --help`.
 */
export function helpFor(name: string, sub?: string): string {
  const lines = USAGE.split('\n');
  const own: string[][] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.trimStart().startsWith(`${name} `) && lines[i]!.trim() !== name) continue;
    const entry = [lines[i]!];
    // Continuation lines are indented deeper than a command line.
    while (i + 1 < lines.length && /^ {6,}\S/.test(lines[i + 1]!) && !/^ {2}[a-z]/.test(lines[i + 1]!))
      entry.push(lines[++i]!);
    own.push(entry);
  }
  // "trust allow <id> | trust block <id>", "plugin remove|enable|disable <id>": a subcommand is
  // a word of the synopsis bounded by spaces or bars.
  const word = sub && new RegExp(`(^|[\\s|])${sub.replace(/\s+/g, '\\s+')}(?=[\\s|]|$)`);
  const subs = word ? own.filter((e) => word.test(synopsis(e[0]!).slice(name.length))) : [];
  const chosen = subs.length ? subs : own;
  return chosen.length
    ? `usage: hana <command> [options]\n\n${chosen.flat().join('\n')}\n\nevery command takes --home DIR (or HANA_HOME) to pick its daemon.\n`
    : USAGE;
}

export type Command = {
  flags: FlagSpec;
  /** The words that may follow the command ("map list" is two); none: it takes no subcommand. */
  subcommands?: readonly string[];
  run: (args: Parsed, out: Out) => Promise<number>;
};

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

type Run = Command['run'];

/**
 * A command whose module is imported when it runs, not when `hana` starts: `hana status` then
 * loads the client and its formatting, not the daemon behind `start` or the plugin toolchain
 * (test/daemon/cli/lazy-load.test.ts checks which modules each client command loads).
 */
const lazy =
  <M>(importer: () => Promise<M>, pick: (m: M) => Run): Run =>
  async (args, out) =>
    pick(await importer())(args, out);

// Each command's module, imported by the first command that runs from it.
const load = {
  start: () => import('./start.ts'),
  client: () => import('./client-commands.ts'),
  midi: () => import('./midi-commands.ts'),
  link: () => import('./link-commands.ts'),
  pair: () => import('./pair-commands.ts'),
  output: () => import('./output-commands.ts'),
  ui: () => import('./ui-commands.ts'),
  plugin: () => import('./plugin-commands.ts'),
  publisher: () => import('./publisher-commands.ts'),
  scene: () => import('./scene-commands.ts'),
  audit: () => import('./audit-commands.ts'),
  abletonLink: () => import('./ableton-link-commands.ts'),
};

/** The parser's command table: what `hana` accepts, and what the docs test checks the docs against. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  start: {
    flags: START_FLAGS,
    run: (args, out) => {
      const level = args.flags['log-level'];
      if (level !== undefined && !LEVELS.includes(level as string)) {
        throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}`);
      }
      return lazy(load.start, (m) => m.startCommand)(args, out);
    },
  },
  status: { flags: CLIENT_FLAGS, run: lazy(load.client, (m) => m.statusCommand) },
  params: { flags: CLIENT_FLAGS, run: lazy(load.client, (m) => m.paramsCommand) },
  get: { flags: CLIENT_FLAGS, run: lazy(load.client, (m) => m.getCommand) },
  set: { flags: CLIENT_FLAGS, run: lazy(load.client, (m) => m.setCommand) },
  midi: {
    flags: MIDI_FLAGS,
    subcommands: ['ports', 'monitor', 'learn', 'map list', 'map remove', 'clock'],
    run: lazy(load.midi, (m) => m.midiCommand),
  },
  id: { flags: CLIENT_FLAGS, run: lazy(load.link, (m) => m.idCommand) },
  peers: { flags: CLIENT_FLAGS, run: lazy(load.link, (m) => m.peersCommand) },
  trust: {
    flags: LINK_FLAGS,
    subcommands: ['list', 'allow', 'block', 'forget', 'rotate'],
    run: lazy(load.link, (m) => m.trustCommand),
  },
  pair: { flags: PAIR_FLAGS, run: lazy(load.pair, (m) => m.pairCommand) },
  output: { flags: OUTPUT_FLAGS, run: lazy(load.output, (m) => m.outputCommand) },
  ui: { flags: UI_FLAGS, run: lazy(load.ui, (m) => m.uiCommand) },
  plugin: {
    flags: PLUGIN_FLAGS,
    subcommands: [
      'keygen',
      'sign',
      'verify',
      'pack',
      'audit',
      'install',
      'list',
      'remove',
      'enable',
      'disable',
    ],
    run: lazy(load.plugin, (m) => m.pluginCommand),
  },
  publisher: {
    flags: PUBLISHER_FLAGS,
    subcommands: ['trust', 'list', 'revoke'],
    run: lazy(load.publisher, (m) => m.publisherCommand),
  },
  scene: {
    flags: SCENE_FLAGS,
    subcommands: ['save', 'load', 'status', 'list', 'delete'],
    run: lazy(load.scene, (m) => m.sceneCommand),
  },
  audit: { flags: AUDIT_FLAGS, run: lazy(load.audit, (m) => m.auditCommand) },
  'ableton-link': {
    flags: ABLETON_LINK_FLAGS,
    subcommands: ['status', 'play', 'stop'],
    run: lazy(load.abletonLink, (m) => m.abletonLinkCommand),
  },
};

/** The subcommand the positionals start with, if the command has that one. */
export function subcommandOf(cmd: Command, positionals: readonly string[]): string | undefined {
  return cmd.subcommands?.find((s) => s.split(' ').every((w, i) => positionals[i] === w));
}

/** The positionals of a `--help` command line, flag values left out where the flags parse. */
function helpWords(rest: readonly string[], cmd: Command): string[] {
  const bare = rest.filter((a) => a !== '--help' && a !== '-h');
  try {
    return parseCommandArgs(bare, cmd.flags).positionals;
  } catch {
    return bare.filter((a) => !a.startsWith('-'));
  }
}

export async function main(argv: readonly string[], out: Out): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    out.stdout(USAGE);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    out.stdout(`hana ${VERSION}\n`);
    return 0;
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (cmd && (rest.includes('--help') || rest.includes('-h'))) {
    out.stdout(helpFor(name, subcommandOf(cmd, helpWords(rest, cmd))));
    return 0;
  }
  try {
    if (!cmd) throw new UsageError(`unknown command "${name}"`);
    return await cmd.run(parseCommandArgs(rest, cmd.flags), out);
  } catch (err) {
    if (err instanceof UsageError) {
      out.stderr(`hana: ${err.message}; see \`hana --help\`.\n`);
      return 2;
    }
    throw err;
  }
}
