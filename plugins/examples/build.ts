import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

// Builds each example's src/index.ts into dist/plugin.js: one self-contained script that defines
// the global `plugin` (esbuild --bundle --format=iife --global-name=plugin). The output is
// deterministic (no sourcemap, no timestamps, paths relative to the example folder), so the
// committed dist/ can be compared with a fresh build.
//
//   node plugins/examples/build.ts           rebuild every example
//   node plugins/examples/build.ts --check   exit 1 if a committed dist/plugin.js is stale

export const EXAMPLES_DIR = fileURLToPath(new URL('.', import.meta.url));
export const ENTRY = 'src/index.ts';
export const OUTPUT = 'dist/plugin.js';

/** Example folders: those with a plugin.json. */
export async function listExamples(root = EXAMPLES_DIR): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const names = await readdir(join(root, e.name));
    if (names.includes('plugin.json')) out.push(e.name);
  }
  return out.sort();
}

/** The bundle for the plugin folder `dir`, as text. */
export async function bundleExample(dir: string): Promise<string> {
  const r = await build({
    absWorkingDir: dir,
    entryPoints: [ENTRY],
    bundle: true,
    format: 'iife',
    globalName: 'plugin',
    target: 'es2022',
    platform: 'neutral',
    sourcemap: false,
    legalComments: 'none',
    charset: 'utf8',
    write: false,
    logLevel: 'silent',
  });
  const file = r.outputFiles[0];
  if (!file) throw new Error(`esbuild produced no output for ${dir}`);
  return file.text;
}

async function main(argv: readonly string[]): Promise<number> {
  const check = argv.includes('--check');
  let stale = 0;
  for (const name of await listExamples()) {
    const dir = join(EXAMPLES_DIR, name);
    const text = await bundleExample(dir);
    const target = join(dir, OUTPUT);
    const current = await readFile(target, 'utf8').catch(() => undefined);
    if (current === text) continue;
    if (check) {
      process.stderr.write(`${name}/${OUTPUT} is stale: run \`npm run build:examples\`\n`);
      stale++;
    } else {
      await writeFile(target, text);
      process.stdout.write(`built ${name}/${OUTPUT} (${Buffer.byteLength(text)} bytes)\n`);
    }
  }
  return stale > 0 ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
