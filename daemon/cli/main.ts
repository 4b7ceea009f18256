import { VERSION } from '../daemon.ts';
import { type FlagSpec, type Parsed, parseCommandArgs, UsageError } from './args.ts';
import { AUDIT_FLAGS, AUDIT_USAGE, auditCommand } from './audit-commands.ts';
import type { Out } from './client-call.ts';
import { CLIENT_FLAGS, getCommand, paramsCommand, setCommand, statusCommand } from './client-commands.ts';
import { idCommand, LINK_FLAGS, peersCommand, trustCommand } from './link-commands.ts';
import { MIDI_FLAGS, midiCommand } from './midi-commands.ts';
import { OUTPUT_FLAGS, outputCommand } from './output-commands.ts';
import { PAIR_FLAGS, PAIR_USAGE, pairCommand } from './pair-commands.ts';
import { PLUGIN_FLAGS, PLUGIN_USAGE, pluginCommand } from './plugin-commands.ts';
import { PUBLISHER_FLAGS, PUBLISHER_USAGE, publisherCommand } from './publisher-commands.ts';
import { SCENE_FLAGS, SCENE_USAGE, sceneCommand } from './scene-commands.ts';
import { START_FLAGS, startCommand } from './start.ts';

// `hana <command>`: exit 0 ok, 1 failure, 2 usage error; errors on stderr in one sentence.

const USAGE = `usage: hana <command> [options]

commands:
  start [--home DIR] [--config FILE] [--osc-port N] [--osc-bind ADDR] [--peer-port N] [--name NAME]
        [--log-level LEVEL] [--log-json]     run the daemon in the foreground
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
  output [--json]                            the output page's URL (with its token) and counters
${PLUGIN_USAGE}
${PUBLISHER_USAGE}
${SCENE_USAGE}
${AUDIT_USAGE}

every command takes --home DIR (or HANA_HOME) to pick its daemon.
`;

/** The usage lines of one command (all of them when none matches), for `hana <command> --help`. */
export function helpFor(name: string): string {
  const lines = USAGE.split('\n');
  const own: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.trimStart().startsWith(`${name} `) && lines[i]!.trim() !== name) continue;
    own.push(lines[i]!);
    // Continuation lines are indented deeper than a command line.
    while (i + 1 < lines.length && /^ {6,}\S/.test(lines[i + 1]!) && !/^ {2}[a-z]/.test(lines[i + 1]!))
      own.push(lines[++i]!);
  }
  return own.length
    ? `usage: hana <command> [options]\n\n${own.join('\n')}\n\nevery command takes --home DIR (or HANA_HOME) to pick its daemon.\n`
    : USAGE;
}

type Command = { flags: FlagSpec; run: (args: Parsed, out: Out) => Promise<number> };

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

const COMMANDS: Record<string, Command> = {
  start: {
    flags: START_FLAGS,
    run: (args) => {
      const level = args.flags['log-level'];
      if (level !== undefined && !LEVELS.includes(level as string)) {
        throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}`);
      }
      return startCommand(args);
    },
  },
  status: { flags: CLIENT_FLAGS, run: statusCommand },
  params: { flags: CLIENT_FLAGS, run: paramsCommand },
  get: { flags: CLIENT_FLAGS, run: getCommand },
  set: { flags: CLIENT_FLAGS, run: setCommand },
  midi: { flags: MIDI_FLAGS, run: midiCommand },
  id: { flags: CLIENT_FLAGS, run: idCommand },
  peers: { flags: CLIENT_FLAGS, run: peersCommand },
  trust: { flags: LINK_FLAGS, run: trustCommand },
  pair: { flags: PAIR_FLAGS, run: pairCommand },
  output: { flags: OUTPUT_FLAGS, run: outputCommand },
  plugin: { flags: PLUGIN_FLAGS, run: pluginCommand },
  publisher: { flags: PUBLISHER_FLAGS, run: publisherCommand },
  scene: { flags: SCENE_FLAGS, run: sceneCommand },
  audit: { flags: AUDIT_FLAGS, run: auditCommand },
};

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
    out.stdout(helpFor(name));
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
