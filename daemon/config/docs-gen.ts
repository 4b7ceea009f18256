import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_PARAMS, ParamSpec } from './params-schema.ts';
import { Config } from './schema.ts';

// docs/configuration.md is generated from the schema (`npm run docs:config`), and a test
// fails when the two differ, so the reference cannot drift from the code.

type JsonSchema = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  maxItems?: number;
  maxLength?: number;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  const?: unknown;
};

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((e) => `\`${JSON.stringify(e)}\``).join(' \\| ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.type === 'array') return `${s.items ? typeOf(s.items) : 'any'}[]`;
  return String(s.type ?? 'any');
}

function bounds(s: JsonSchema): string {
  const parts: string[] = [];
  if (s.minimum !== undefined && s.minimum > -MAX_SAFE) parts.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined && s.maximum < MAX_SAFE) parts.push(`≤ ${s.maximum}`);
  if (s.maxItems !== undefined) parts.push(`at most ${s.maxItems} items`);
  if (s.maxLength !== undefined) parts.push(`at most ${s.maxLength} chars`);
  return parts.join(', ');
}

function rows(schema: JsonSchema, prefix: string, out: string[][]): void {
  for (const [key, s] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (s.type === 'object' && s.properties) {
      rows(s, path, out);
      continue;
    }
    const def = s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``;
    out.push([`\`${path}\``, typeOf(s), def, [s.description ?? '', bounds(s)].filter(Boolean).join(' ')]);
    if (s.type === 'array' && s.items?.properties) rows(s.items, `${path}[]`, out);
  }
}

function table(head: string[], body: string[][]): string {
  const esc = (c: string) => c.replace(/\n/g, ' ');
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...body.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function configReference(): string {
  const config = z.toJSONSchema(Config, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const { params: _params, ...rest } = config.properties ?? {};
  const top: string[][] = [];
  rows({ properties: rest }, '', top);

  const specRows = new Map<string, string[]>();
  const spec = z.toJSONSchema(ParamSpec, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  for (const variant of spec.oneOf ?? spec.anyOf ?? []) {
    const type = variant.properties?.type?.const as string;
    for (const [key, s] of Object.entries(variant.properties ?? {})) {
      if (key === 'type') continue;
      const row = specRows.get(key) ?? [
        `\`${key}\``,
        '',
        s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``,
        s.description ?? '',
      ];
      row[1] = row[1] ? `${row[1]}, ${type}` : type;
      specRows.set(key, row);
    }
  }

  return `# Configuration reference

<!-- Generated from daemon/config/schema.ts by \`npm run docs:config\`; a test checks it is current. -->

hana reads one JSON file: \`--config FILE\`, else \`config.json\` in the daemon's home
(\`--home DIR\`, \`HANA_HOME\`, default \`~/.local/share/hana\`), else the embedded defaults below.
Every field is optional. Unknown fields are errors, so a typo is never silently ignored. An invalid
file stops the daemon before it opens any port, with a message naming the field:

\`\`\`
hana: invalid config in /home/me/.local/share/hana/config.json:
✖ Invalid input: expected number, received string
  → at osc.port
\`\`\`

Command-line flags override the file: \`--osc-port\` → \`osc.port\`, \`--osc-bind\` → \`osc.bind\`,
\`--name\` → \`name\`, \`--log-level\` → \`log.level\`.

## Daemon settings

${table(['field', 'type', 'default', 'meaning'], top)}

## Parameters (\`params\`)

\`params\` maps an OSC address (\`/part/part\`, no pattern characters) to its declaration. Only
declared addresses are accepted; an address cannot be both a parameter and the prefix of another.

| field | types | default | meaning |
|---|---|---|---|
| \`type\` | | | one of \`float\`, \`int\`, \`bool\`, \`string\`, \`trigger\`, \`color\` |
${[...specRows.values()].map((r) => `| ${r.join(' | ')} |`).join('\n')}

Coercion rules are in [osc.md](osc.md#types-and-coercion).

### Embedded default parameters

\`\`\`json
${JSON.stringify(DEFAULT_PARAMS, null, 2)}
\`\`\`

## Example: a TouchOSC tablet on the stage network

\`\`\`json
{
  "name": "stage-left",
  "osc": {
    "bind": "0.0.0.0",
    "allow": ["192.168.1.0/24"],
    "feedback": { "targets": [{ "host": "192.168.1.42", "port": 9000 }] }
  },
  "params": {
    "/layer/1/opacity": { "type": "float", "min": 0, "max": 1, "default": 1 },
    "/tempo": { "type": "float", "min": 20, "max": 999, "default": 120, "unit": "bpm", "outOfRange": "reject" },
    "/fx/strobe": { "type": "trigger", "description": "One flash" }
  }
}
\`\`\`
`;
}

export const CONFIG_DOC = join(import.meta.dirname, '..', '..', 'docs', 'configuration.md');

if (import.meta.main) {
  await writeFile(CONFIG_DOC, configReference());
  process.stdout.write(`wrote ${CONFIG_DOC}\n`);
}
