import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCommandArgs } from '../../daemon/cli/args.ts';
import { COMMANDS } from '../../daemon/cli/main.ts';
import { configKeyPaths } from '../../daemon/config/keys.ts';
import { Config } from '../../daemon/config/schema.ts';
import { CHANNELS } from '../../daemon/reasons.ts';

// Docs that cannot drift: every `hana …` command in README.md and docs/*.md (code blocks and
// inline code) is checked against the CLI's own parser (known command, subcommand and flags),
// and every config field they name against the zod schema.

const ROOT = join(import.meta.dirname, '..', '..');

type Found = { file: string; line: number; text: string; before?: string };

async function pages(): Promise<{ file: string; text: string }[]> {
  const docs = (await readdir(join(ROOT, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  return Promise.all(
    ['README.md', ...docs].map(async (file) => ({ file, text: await readFile(join(ROOT, file), 'utf8') })),
  );
}

/** Inline code spans and the lines of code blocks (not JSON or TypeScript ones), by line. */
function codeOf(page: { file: string; text: string }): {
  spans: Found[];
  blockLines: Found[];
  json: Found[];
} {
  const spans: Found[] = [];
  const blockLines: Found[] = [];
  const json: Found[] = [];
  let fence: { lang: string; start: number; body: string[] } | undefined;
  const lines = page.text.split('\n');
  lines.forEach((text, i) => {
    const line = i + 1;
    const open = /^\s*```(\w*)/.exec(text);
    if (open) {
      if (!fence) fence = { lang: open[1]!, start: line, body: [] };
      else {
        if (fence.lang === 'json')
          json.push({ file: page.file, line: fence.start, text: fence.body.join('\n') });
        fence = undefined;
      }
      return;
    }
    if (fence) {
      fence.body.push(text);
      if (fence.lang !== 'json' && fence.lang !== 'ts') blockLines.push({ file: page.file, line, text });
      return;
    }
    for (const m of text.matchAll(/(`+)(.+?)\1/g))
      spans.push({
        file: page.file,
        line,
        text: m[2]!,
        before: `${lines[i - 1] ?? ''}\n${text.slice(0, m.index)}`,
      });
  });
  return { spans, blockLines, json };
}

/** Shell-ish words: quotes kept together, usage brackets dropped, `…` left out. */
function words(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/'[^']*'|"[^"]*"|\S+/g)) {
    const w = m[0].startsWith("'") || m[0].startsWith('"') ? m[0].slice(1, -1) : m[0].replace(/[[\]]/g, '');
    if (w && w !== '…' && w !== '...') out.push(w);
  }
  return out;
}

/** The `hana …` words of a command line, or undefined when the line runs no hana command. */
function hanaCommand(text: string, inline: boolean): string[] | undefined {
  // A comment, a pipe or a command separator ends the command; inline, " | " separates usages.
  const first = text.split(/\s+#\s|\s+\|\|?\s+|\s+&&\s+|;\s|\s+>\s|\s+2>/)[0]!;
  // A diagram in a code block ("hana daemon ──fork──▶ …") is not a command line.
  if (/[─│┌└├▶◀]/.test(first)) return undefined;
  const w = words(first);
  const at = inline
    ? w[0] === 'hana'
      ? 0
      : w[0] === 'npx' && w[1] === 'hana'
        ? 1
        : -1
    : w.findIndex((x, i) => x === 'hana' && (i === 0 || ['npx', '$', 'sudo', 'run'].includes(w[i - 1]!)));
  if (at < 0) return undefined;
  const rest = w.slice(at + 1);
  if (rest[0] === '--' && w[at - 1] === 'run') rest.shift();
  // Not a command: output such as "hana 0.1.0 …", or prose about hana in a code span.
  if (rest.length === 0 || /^\d/.test(rest[0]!) || /^[A-Z]/.test(rest[0]!)) return undefined;
  return rest;
}

const placeholder = (w: string) => /^<.*>$/.test(w) || w === 'PATTERN';

/** Why the parser would refuse `hana <argv>`, or undefined if it knows every word. */
function refusal(argv: string[]): string | undefined {
  const [name, ...rest] = argv;
  if (['help', '--help', '-h', '--version', 'version'].includes(name!) || placeholder(name!))
    return undefined;
  const cmd = Object.hasOwn(COMMANDS, name!) ? COMMANDS[name!] : undefined;
  if (!cmd) return `unknown command "${name}"`;
  const args = rest.filter((w) => w !== '--help' && w !== '-h');
  // Prose names a flag without its value ("`hana pair --role`"): that is no drift.
  const last = args.at(-1)?.replace(/^--?/, '');
  if (last !== undefined && args.at(-1)!.startsWith('-') && cmd.flags[last] === 'string')
    args.push('<value>');
  let positionals: string[];
  try {
    positionals = parseCommandArgs(args, cmd.flags).positionals;
  } catch (err) {
    return (err as Error).message;
  }
  const [sub, second] = positionals;
  if (!cmd.subcommands || sub === undefined || placeholder(sub)) return undefined;
  for (const alt of sub.split('|')) {
    const known = cmd.subcommands.some((s) => {
      const [a, b] = s.split(' ');
      return (
        a === alt &&
        (b === undefined || second === undefined || placeholder(second) || second.split('|').includes(b))
      );
    });
    if (!known)
      return `"${name} ${alt}${second && cmd.subcommands.some((s) => s.startsWith(`${alt} `)) ? ` ${second}` : ''}" is not a subcommand`;
  }
  return undefined;
}

/** A backticked `section.field…` that names a config field (file names and values left out). */
const CONFIG_KEY = /^(log|osc|midi|peers|storage|audit|sync|output|plugins)\.[A-Za-z][\w.[\]]*$/;
const FILE = /\.(md|ts|js|json|jsonl|html|css|sh|py|sealed|scene|sig|pub|check)$/;

describe('docs that cannot drift', () => {
  it('every `hana …` command in README.md and docs/ is one the CLI parser accepts', async () => {
    const bad: string[] = [];
    let checked = 0;
    for (const page of await pages()) {
      const { spans, blockLines } = codeOf(page);
      for (const [found, inline] of [
        ...spans.map((f) => [f, true] as const),
        ...blockLines.map((f) => [f, false] as const),
      ]) {
        const argv = hanaCommand(found.text, inline);
        if (!argv) continue;
        checked++;
        const why = refusal(argv);
        if (why) bad.push(`${found.file}:${found.line}: hana ${argv.join(' ')} — ${why}`);
      }
    }
    assert.ok(checked > 100, `found ${checked} commands; the extraction is broken if this is small`);
    assert.deepEqual(bad, []);
  });

  it('every config field the docs name is in the schema', async () => {
    const known = configKeyPaths();
    const events = new Set(Object.values(CHANNELS).map((c) => c.event as string));
    const bad: string[] = [];
    for (const page of await pages()) {
      for (const span of codeOf(page).spans) {
        // `hana status --json` fields and log events share the dotted look; they are not config.
        if (/--json/.test(`${span.before}`) || /\b(event|logs?|logged( as)?)\s*$/.test(`${span.before}`))
          continue;
        const key = span.text.replace(/\s*[=:].*$/, '');
        if (!CONFIG_KEY.test(key) || FILE.test(key) || events.has(key)) continue;
        const path = key.replace(/\[\d*\]/g, '[]');
        if (!known.has(path) && !known.has(path.replace(/\[\]$/, '')))
          bad.push(`${span.file}:${span.line}: ${key}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it('every JSON example that is a whole config is one the schema accepts', async () => {
    const top = new Set(Object.keys(Config.shape));
    const bad: string[] = [];
    for (const page of await pages()) {
      for (const block of codeOf(page).json) {
        let value: unknown;
        try {
          value = JSON.parse(block.text);
        } catch {
          continue; // an excerpt with "…", not a file
        }
        if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
        const keys = Object.keys(value);
        if (keys.length === 0 || !keys.every((k) => top.has(k))) continue;
        const r = Config.safeParse(value);
        if (!r.success)
          bad.push(
            `${block.file}:${block.line}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
          );
      }
    }
    assert.deepEqual(bad, []);
  });

  it('catches drift: an unknown command, flag or subcommand, and an unknown field', () => {
    assert.match(refusal(['frobnicate'])!, /unknown command/);
    assert.match(refusal(['start', '--peer-prot', '1'])!, /unknown option --peer-prot/);
    assert.match(refusal(['trust', 'allowed', 'X'])!, /not a subcommand/);
    assert.match(refusal(['midi', 'map', 'delete', 'x'])!, /not a subcommand/);
    assert.equal(refusal(['midi', 'map', 'list', '--json']), undefined);
    assert.equal(refusal(['plugin', 'remove|enable|disable', '<id>']), undefined);
    assert.deepEqual(hanaCommand('ip netns exec a npx hana status --json | jq .peers', false), [
      'status',
      '--json',
    ]);
    assert.equal(hanaCommand('hana 0.1.0 "stage-left" (pid 4242)', false), undefined);
    assert.equal(configKeyPaths().has('output.width'), false);
    assert.equal(configKeyPaths().has('osc.rateLimit.burst'), true);
  });
});
