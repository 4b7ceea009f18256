import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import { CONFIG_DOC, configReference } from '../../daemon/config/docs-gen.ts';
import { Config } from '../../daemon/config/schema.ts';

it('docs/configuration.md is generated from the current schema (run `npm run docs:config`)', async () => {
  assert.equal(await readFile(CONFIG_DOC, 'utf8'), configReference());
});

it('every JSON example in docs/configuration.md that looks like a config is valid', async () => {
  const text = await readFile(CONFIG_DOC, 'utf8');
  const blocks = [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!));
  const configs = blocks.filter((b) => 'osc' in b || 'name' in b);
  assert.ok(configs.length >= 1);
  for (const c of configs) assert.equal(Config.safeParse(c).success, true, JSON.stringify(c));
});
