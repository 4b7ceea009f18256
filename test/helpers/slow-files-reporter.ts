// A node:test reporter that names where the suite's time goes: the slowest test files, so a
// speed-up starts from a measurement rather than a guess. Use it beside the usual reporter:
//   node --no-node-snapshot --test --test-concurrency=2 --test-timeout=120000 \
//     --test-reporter=spec --test-reporter-destination=/dev/null \
//     --test-reporter=./test/helpers/slow-files-reporter.ts --test-reporter-destination=stdout \
//     "test/**/*.test.ts"
// A file's time is its nesting-0 entry's duration when the runner reports one (it does under
// process isolation: the file is the top-level test); otherwise the sum of its top-level tests.
// SLOW_FILES=N prints N files instead of 30.
import { relative } from 'node:path';

type Event = {
  type: string;
  data?: { name?: string; file?: string; nesting?: number; details?: { duration_ms?: number } };
};

export default async function* slowFiles(source: AsyncIterable<Event>): AsyncGenerator<string> {
  const asFile = new Map<string, number>();
  const summed = new Map<string, number>();
  let passed = 0;
  let failed = 0;
  for await (const ev of source) {
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue;
    const d = ev.data;
    if (d?.nesting !== 0) continue;
    const ms = d.details?.duration_ms ?? 0;
    const file = d.file ?? d.name ?? '?';
    if (d.name && file.endsWith(d.name)) asFile.set(file, ms);
    else summed.set(file, (summed.get(file) ?? 0) + ms);
    if (ev.type === 'test:pass') passed++;
    else failed++;
  }
  const files = new Map(summed);
  for (const [f, ms] of asFile) files.set(f, ms);
  const rows = [...files].sort((a, b) => b[1] - a[1]);
  const n = Number(process.env.SLOW_FILES ?? 30);
  const total = rows.reduce((s, [, ms]) => s + ms, 0);
  yield `slowest ${Math.min(n, rows.length)} of ${rows.length} files (sum of file times ${(total / 1000).toFixed(1)} s; top-level ${passed} passed, ${failed} failed)\n`;
  for (const [f, ms] of rows.slice(0, n))
    yield `${(ms / 1000).toFixed(1).padStart(7)} s  ${relative(process.cwd(), f)}\n`;
}
