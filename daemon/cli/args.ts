// A small argument parser: `--flag value`, `--flag=value`, boolean `--flag`, and positionals.
// Unlike node:util parseArgs it reads "-0.5" as a value, which `hana set /x -0.5` needs.

export type FlagSpec = Record<string, 'string' | 'boolean'>;
export type Parsed = { flags: Record<string, string | boolean>; positionals: string[] };

export class UsageError extends Error {
  override name = 'UsageError';
}

const NUMBER = /^-\d|^-\.\d/;

export function parseCommandArgs(argv: readonly string[], spec: FlagSpec): Parsed {
  const flags: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || NUMBER.test(arg) || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!kind) throw new UsageError(`unknown option --${name}`);
    if (kind === 'boolean') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    flags[name] = value;
  }
  return { flags, positionals };
}

export function portFlag(value: string | boolean | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n > 65535) {
    throw new UsageError(`--${name} must be a port number from 0 to 65535 (0 picks a free port)`);
  }
  return n;
}
