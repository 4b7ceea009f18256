// One of several processes fighting over a file lock: runs `rounds` × `parallel` increments of a
// counter file, each a read-modify-write under withLock. A lost increment means two holders
// overlapped. Prints "done <refused>" when finished.
import { readFile, writeFile } from 'node:fs/promises';
import { withLock } from '../../trust-store/file-lock.ts';

const [lockPath, counterPath, roundsArg, parallelArg] = process.argv.slice(2);
if (!lockPath || !counterPath) throw new Error('usage: lock-counter-cli LOCK COUNTER ROUNDS PARALLEL');
const rounds = Number(roundsArg);
const parallel = Number(parallelArg);
let refused = 0;
const increment = async () => {
  const r = await withLock(lockPath, async () => {
    const n = Number(await readFile(counterPath, 'utf8'));
    await writeFile(counterPath, String(n + 1));
  });
  if (!r.ok) refused++;
};
for (let i = 0; i < rounds; i++) await Promise.all(Array.from({ length: parallel }, increment));
process.stdout.write(`done ${refused}\n`);
