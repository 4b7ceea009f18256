// `npm run bench`: every scenario prints its figures beside a baseline measured in the same
// run. Benchmarks never gate CI. Run one scenario with `npm run bench -- osc-ingest`.
import { readdir } from 'node:fs/promises';
import { cpus } from 'node:os';

const only = process.argv[2];
const files = (await readdir(import.meta.dirname)).filter(
  (f) => f.endsWith('.bench.ts') && (!only || f.includes(only)),
);
console.log(
  `hana benchmarks — node ${process.version}, ${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}, ${new Date().toISOString()}`,
);
for (const file of files.sort()) {
  console.log(`\n== ${file.replace('.bench.ts', '')}`);
  const mod = (await import(`./${file}`)) as { run(report: (line: string) => void): Promise<void> };
  await mod.run((line) => console.log(line));
}
