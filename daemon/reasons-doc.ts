import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CHANNELS, type ChannelSpec } from './reasons.ts';

// docs/reasons.md is generated from the registry (`npm run docs:reasons`), and a test
// fails when the two differ, so the page cannot drift from the codes the daemon emits.

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function section(spec: ChannelSpec): string {
  return `## ${spec.title}

Log event \`${spec.event}\`; counted in ${spec.counted}.

| reason | security | meaning |
|---|---|---|
${spec.reasons.map((r) => `| \`${r.code}\` | ${r.security ? 'yes' : 'no'} | ${cell(r.doc)} |`).join('\n')}
`;
}

export function reasonsReference(): string {
  return `# Rejection reasons

<!-- Generated from daemon/reasons.ts by \`npm run docs:reasons\`; a test checks it is current. -->

Every piece of outside input the daemon refuses is counted under one of these codes and logged
at most once per reason and source per interval (the rest are counted as \`suppressed\`). A
**security** reason is logged on the security logger (\`"security":true\`); the others are plain
bad input, logged as warnings. To follow them live:

\`\`\`sh
npx hana status                                          # counts by reason
npx hana start --log-json | jq -c 'select(.security)'    # security lines only
\`\`\`

${Object.values(CHANNELS).map(section).join('\n')}`;
}

export const REASONS_DOC = join(import.meta.dirname, '..', 'docs', 'reasons.md');

if (import.meta.main) {
  await writeFile(REASONS_DOC, reasonsReference());
  process.stdout.write(`wrote ${REASONS_DOC}\n`);
}
