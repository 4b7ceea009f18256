import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/daemon.ts';
import type { Sample } from './sample.ts';

// The soak's plot: Chart.js (a devDependency) draws each metric per laptop in headless Debian
// Chromium, which screenshots the page to a PNG. Nothing is drawn by hand.

const exec = promisify(execFile);
export const CHROMIUM = '/usr/bin/chromium';

export const PLOTTED: { key: keyof Sample; title: string }[] = [
  { key: 'rssMiB', title: 'daemon RSS (MiB)' },
  { key: 'childRssMiB', title: 'plugin host RSS (MiB)' },
  { key: 'anonMiB', title: 'daemon anonymous RSS (MiB)' },
  { key: 'fileMiB', title: 'daemon file-backed RSS (MiB)' },
  { key: 'childAnonMiB', title: 'plugin host anonymous RSS (MiB)' },
  { key: 'heapMiB', title: 'V8 heap used (MiB)' },
  { key: 'heapTotalMiB', title: 'V8 heap held (MiB)' },
  { key: 'newSpaceMiB', title: 'V8 young generation, resident (MiB)' },
  { key: 'externalMiB', title: 'memory JS objects own outside the heap (MiB)' },
  { key: 'fds', title: 'open fds' },
  { key: 'handles', title: 'active handles and requests' },
  { key: 'timers', title: 'active timers' },
  { key: 'loopP99Ms', title: 'event-loop delay p99 (ms)' },
  { key: 'load1', title: "the machine's load average (1 min)" },
  { key: 'cpuPct', title: 'daemon CPU (% of one core, since the previous sample)' },
  { key: 'childCpuPct', title: 'plugin host CPU (% of one core, since the previous sample)' },
  { key: 'linked', title: 'peers linked' },
  { key: 'minFps', title: 'lowest plugin fps (hana status, one-second reading)' },
  { key: 'overruns', title: 'overruns, all plugins, since the daemon started' },
];

const COLOURS = ['#d62728', '#1f77b4', '#2ca02c'];

/** The plotted metrics a record has: one kept before a metric was added has no panel for it. */
const plottedIn = (samples: readonly Sample[]) =>
  PLOTTED.filter((m) => samples.some((s) => s[m.key] !== undefined));

/** Window height for `panels` charts two to a row (250 px and an 8 px gap each) under the caption. */
const plotHeight = (panels: number) => 60 + Math.ceil(panels / 2) * 258;

function page(
  samples: readonly Sample[],
  plotted: readonly (typeof PLOTTED)[number][],
  laptops: number,
  caption: string,
  chartJs: string,
): string {
  const charts = plotted.map((m) => ({
    title: m.title,
    datasets: Array.from({ length: laptops }, (_, i) => ({
      label: `laptop-${i + 1}`,
      borderColor: COLOURS[i % COLOURS.length],
      backgroundColor: COLOURS[i % COLOURS.length],
      pointRadius: 0,
      borderWidth: 1.5,
      data: samples.filter((s) => s.laptop === i).map((s) => ({ x: s.tSec / 60, y: s[m.key] ?? null })),
    })),
  }));
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;font:14px sans-serif;background:#fff}h1{font-size:16px;margin:8px 12px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:8px;padding:0 8px}.c{height:250px}
</style><script>${chartJs}</script></head><body><h1>${caption}</h1><div class="grid">
${charts.map((_, i) => `<div class="c"><canvas id="c${i}"></canvas></div>`).join('')}
</div><script>
const charts = ${JSON.stringify(charts)};
charts.forEach((c, i) => new Chart(document.getElementById('c' + i), {
  type: 'line', data: { datasets: c.datasets },
  options: { animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
    plugins: { title: { display: true, text: c.title } },
    scales: { x: { type: 'linear', title: { display: true, text: 'minutes' } }, y: { beginAtZero: true } } },
}));
</script></body></html>`;
}

/** Writes the PNG at `out`; throws with Chromium's stderr when it made none. */
export async function renderPlot(samples: readonly Sample[], laptops: number, caption: string, out: string) {
  const chartJs = await readFile(join(ROOT, 'node_modules', 'chart.js', 'dist', 'chart.umd.min.js'), 'utf8');
  const plotted = plottedIn(samples);
  const dir = await mkdtemp(join(tmpdir(), 'hana-soak-plot-'));
  try {
    const html = join(dir, 'plot.html');
    await writeFile(html, page(samples, plotted, laptops, caption, chartJs));
    await mkdir(dirname(out), { recursive: true });
    // --no-sandbox: the soak runs as root, where Chromium refuses its sandbox.
    await exec(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--hide-scrollbars',
        `--user-data-dir=${join(dir, 'profile')}`,
        `--window-size=1400,${plotHeight(plotted.length)}`,
        '--virtual-time-budget=3000',
        `--screenshot=${out}`,
        `file://${html}`,
      ],
      { timeout: 60_000 },
    );
    // Chromium says nothing when it cannot write the file: check it is there.
    const made = await stat(out).catch(() => undefined);
    if (!made?.size) throw new Error(`Chromium wrote no plot at ${out}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
