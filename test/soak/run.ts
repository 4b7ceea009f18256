// The long-show soak (issue 17 item 3): three laptops in network namespaces, OSC at 200 msgs/s
// into each over loopback inside its namespace, the bundled example plugins running, a pulled
// cable every 5 minutes (a laptop's veth taken down for a few seconds) and a SIGKILL and restart
// of one daemon every 10 minutes. Each laptop's output page is open in a headless Chromium inside
// its namespace for the whole run (pages.ts), so the drawing plugins draw. Every 10 s each daemon
// is sampled (sample.ts); at the end the slope per hour of each metric is printed with a verdict
// (trend.ts) and plotted (chart.ts), with each plugin's fps and overruns (fps.ts).
//   npm run soak -- 30m [--pull 5m] [--kill 10m] [--every 10s] [--out docs/images/soak-30m.png] [--probe-host] [--no-pages] [--laptops 1-3] [--renew-at MiB] [--renew-after 5m]
//   (--renew-at, --renew-after: the config's plugins.renewal, so a run can show the plugin host's
//   planned renewal within its length; the defaults renew at 60 % of the ceiling after 10 min)
//   (--no-pages: no output page, as the soak ran before; the drawing plugins then stay paused)
//   (--probe-host: each plugin host also samples its own heap spaces and arenas, host-memory-probe.ts)
//   npm run soak -- --from /tmp/hana-soak-<n>.json [--out file.png]   (redraws a kept run)
// Exit code 0 when every metric of every laptop is flat, 1 when one grows, 2 on a usage error.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { encodeOscPacket, oscMessage } from '../../protocols/osc/codec.ts';
import { ROOT } from '../helpers/daemon.ts';
import { type Mesh, startMesh } from '../helpers/mesh.ts';
import { netnsUnavailable } from '../helpers/netns.ts';
import { missingTool } from '../helpers/tools.ts';
import { CHROMIUM } from './chart.ts';
import { createCpuMeter } from './cpu-meter.ts';
import { openSoakPages, type SoakPages } from './pages.ts';
import { type PageRecord, report, type SoakRecord } from './report.ts';
import { childPids, type Sample, sampleDaemon } from './sample.ts';
import { parseDuration } from './trend.ts';

const exec = promisify(execFile);
const OSC_RATE = 200;
const CABLE_OUT_MS = 5_000;
const BLAST = join(ROOT, 'test', 'helpers', 'osc-blast-cli.ts');
/** The output page's port: fixed, so a restarted daemon serves the page where it was (each namespace has its own). */
const OUTPUT_PORT = 7410;
/** How long a page may take to reconnect after its daemon's restart before it counts as lost. */
const RECONNECT_MS = 60_000;

function usage(why: string): never {
  process.stderr.write(
    `${why}\nusage: npm run soak -- <duration e.g. 30m, 2h, 90s> [--pull 5m] [--kill 10m] [--every 10s] [--out file.png] [--probe-host] [--no-pages] [--laptops 1-3] [--renew-at MiB] [--renew-after 5m]\n       npm run soak -- --from <samples.json> [--out file.png]   (redraw a kept run)\n`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]) {
  const opts = {
    durationSec: 0,
    pullSec: 300,
    killSec: 600,
    everySec: 10,
    out: '',
    probeHost: false,
    pages: true,
    laptops: 3,
    renewAtMb: 0,
    renewAfterSec: 0,
  };
  const durations: Record<string, 'pullSec' | 'killSec' | 'everySec' | 'renewAfterSec'> = {
    '--pull': 'pullSec',
    '--kill': 'killSec',
    '--every': 'everySec',
    '--renew-after': 'renewAfterSec',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--probe-host') opts.probeHost = true;
    else if (a === '--pages' || a === '--no-pages') opts.pages = a === '--pages';
    else if (a === '--laptops') {
      // Fewer laptops to tell what one daemon does alone from what its peers bring.
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1 || n > 3) usage(`--laptops takes 1, 2 or 3, not ${argv[i]}`);
      opts.laptops = n;
    } else if (a === '--renew-at') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 16)
        usage(`--renew-at takes MiB, a whole number of at least 16, not ${argv[i]}`);
      opts.renewAtMb = n;
    } else if (a in durations || a === '--out') {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      if (a === '--out') opts.out = v;
      else opts[durations[a]!] = parseDuration(v) ?? usage(`${a} takes a duration like 5m, not ${v}`);
    } else if (opts.durationSec === 0) {
      opts.durationSec =
        parseDuration(a) ?? usage(`the duration is a number with s, m or h (30m, 2h, 90s), not ${a}`);
    } else usage(`unexpected argument ${a}`);
  }
  if (opts.durationSec === 0) usage('give the soak a duration');
  opts.out ||= join(ROOT, 'docs', 'images', `soak-${argv[0]}.png`);
  return opts;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An OSC sender at OSC_RATE into laptop i's daemon, from inside its namespace. */
async function startBlaster(ns: string, port: number, laptop: number): Promise<ChildProcess> {
  const packets = Array.from({ length: 20 }, (_, k) =>
    Buffer.from(
      encodeOscPacket(oscMessage(`/layer/${laptop + 1}/opacity`, [{ type: 'f', value: k / 20 }])),
    ).toString('hex'),
  );
  // `ip netns exec` execs node, so the PID is the sender's own and it is killed by it.
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, BLAST, String(port), '0', String(OSC_RATE), '1', ...packets],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const first = await createInterface({ input: child.stdout! })[Symbol.asyncIterator]().next();
  if (first.value !== 'ready') throw new Error(`OSC sender for laptop-${laptop + 1} did not start`);
  return child;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--from') {
    if (!argv[1]) usage('--from needs the samples file a soak printed');
    const kept = JSON.parse(await readFile(argv[1], 'utf8')) as SoakRecord;
    if (argv[2] === '--out' && argv[3]) kept.opts.out = argv[3];
    return report(kept, false);
  }
  const opts = parseArgs(argv);
  const LAPTOPS = opts.laptops;
  const why = netnsUnavailable() ?? missingTool('nft', 'nftables') ?? missingTool(CHROMIUM, 'chromium');
  if (why) {
    process.stderr.write(`The soak cannot run here: ${why}.\n`);
    return 2;
  }
  let stopping = false;
  let wake: () => void = () => {};
  process.on('SIGINT', () => {
    process.stderr.write('\nCtrl-C: stopping the soak, cleaning up namespaces and processes…\n');
    stopping = true;
    wake();
  });

  const log = (msg: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
  // Set before the daemons start, so they and their plugin hosts inherit it. Only a process with
  // an IPC channel samples (the plugin host); the daemons and senders load the probe and idle.
  // Each row names the host's pid and its daemon's (ppid); the three laptops share the file.
  const probeOut = join(tmpdir(), `hana-soak-host-${process.pid}.jsonl`);
  if (opts.probeHost) {
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${join(import.meta.dirname, 'host-memory-probe.ts')}`;
    process.env.HANA_MEM_PROBE_OUT = probeOut;
  }
  const mesh: Mesh = await startMesh({
    count: LAPTOPS,
    config: () => ({
      plugins: {
        enabled: true,
        bundledExamples: true,
        renewal: {
          ...(opts.renewAtMb > 0 && { atMb: opts.renewAtMb }),
          ...(opts.renewAfterSec > 0 && { afterMinutes: opts.renewAfterSec / 60 }),
        },
      },
      output: { port: OUTPUT_PORT },
    }),
  });
  if (opts.probeHost)
    log(`plugin host samples: ${probeOut}; daemons ${mesh.daemons.map((d) => d.proc.pid).join(', ')}`);
  const hosts = mesh.namespaces.slice(1);
  const bridge = mesh.namespaces[0]!;
  const blasters: (ChildProcess | undefined)[] = [];
  const lives = Array.from({ length: LAPTOPS }, () => 0);
  const samples: Sample[] = [];
  const cpu = createCpuMeter();
  const events: string[] = [];
  const pending = new Set<Promise<void>>();
  let orphans = 0;
  let pages: SoakPages | undefined;
  const pageRecords: PageRecord[] = Array.from({ length: LAPTOPS }, (_, laptop) => ({
    laptop,
    connects: 0,
    reconnectSec: [],
    lost: 0,
  }));
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(', ');
  // Restarted when the show starts: opening the pages on a loaded machine takes a minute, and
  // the samples would otherwise catch up on that minute in a burst.
  let t0 = Date.now();
  const now = () => (Date.now() - t0) / 1000;
  const note = (msg: string) => {
    events.push(`${(now() / 60).toFixed(1)} min: ${msg}`);
    log(msg);
  };
  const detach = (p: Promise<void>) => {
    const q = p
      .catch((err) => note(`event failed: ${(err as Error).message}`))
      .finally(() => pending.delete(q));
    pending.add(q);
  };

  const pullCable = async (i: number) => {
    note(`cable of laptop-${i + 1} pulled for ${CABLE_OUT_MS / 1000} s`);
    await exec('ip', ['-n', bridge, 'link', 'set', `p-${i + 1}`, 'down']);
    await sleep(CABLE_OUT_MS);
    await exec('ip', ['-n', bridge, 'link', 'set', `p-${i + 1}`, 'up']);
    note(`cable of laptop-${i + 1} back`);
  };
  const killAndRestart = async (i: number) => {
    const old = mesh.daemons[i]!;
    const kids = await childPids(old.proc.pid!);
    const connectsBefore = pages ? ((await pages.stats(i))?.connects ?? 0) : 0;
    blasters[i]?.kill('SIGTERM');
    note(`SIGKILL laptop-${i + 1} (pid ${old.proc.pid})`);
    await old.stop('SIGKILL', { keepHome: true });
    // Its plugin host must not outlive it: a child left behind is a leak no daemon metric shows.
    await sleep(5_000);
    const left = kids.filter((k) => {
      try {
        process.kill(k, 0);
        return true;
      } catch {
        return false;
      }
    });
    if (left.length) {
      orphans += left.length;
      note(`laptop-${i + 1}'s children outlived it: ${left.join(', ')} (killed now)`);
      for (const k of left) process.kill(k, 'SIGKILL');
    }
    const d = await mesh.restart(i);
    lives[i]!++;
    blasters[i] = await startBlaster(hosts[i]!, d.udpPort, i);
    note(`laptop-${i + 1} restarted (pid ${d.proc.pid})`);
    if (!pages) return;
    // The page was left open: it must find the new daemon by itself, same address and token.
    const took = await pages.reconnected(i, connectsBefore, RECONNECT_MS);
    if (took === undefined) {
      pageRecords[i]!.lost++;
      note(`laptop-${i + 1}'s page did not reconnect within ${RECONNECT_MS / 1000} s`);
    } else {
      pageRecords[i]!.reconnectSec.push(took);
      note(`laptop-${i + 1}'s page reconnected ${took.toFixed(1)} s after the restart`);
    }
  };

  try {
    if (opts.pages) {
      pages = await openSoakPages(mesh.daemons, hosts);
      log(`output pages open in Chromium, pids ${pages.pids.join(', ')} (not counted in hana's memory)`);
    }
    for (let i = 0; i < LAPTOPS; i++)
      blasters[i] = await startBlaster(hosts[i]!, mesh.daemons[i]!.udpPort, i);
    log(
      `soak for ${opts.durationSec} s: ${LAPTOPS} laptops, OSC ${OSC_RATE}/s each, cable pull every ${opts.pullSec} s, SIGKILL every ${opts.killSec} s, ${opts.pages ? 'an output page on each' : 'no output pages'}`,
    );
    t0 = Date.now();
    note(`load average ${load()} at the start`);
    let loadNoted = false;
    let nextSample = 0;
    let nextPull = opts.pullSec;
    let nextKill = opts.killSec;
    let pulls = 0;
    let kills = 0;
    while (!stopping && now() < opts.durationSec) {
      const t = now();
      if (!loadNoted && t >= opts.durationSec / 2) {
        note(`load average ${load()} half-way`);
        loadNoted = true;
      }
      if (t >= nextPull) {
        detach(pullCable(pulls++ % LAPTOPS));
        nextPull += opts.pullSec;
      }
      if (t >= nextKill) {
        // A different laptop from the one whose cable is pulled at the same moment.
        detach(killAndRestart((kills++ + 1) % LAPTOPS));
        nextKill += opts.killSec;
      }
      if (t >= nextSample) {
        nextSample += opts.everySec;
        const round: Sample[] = [];
        for (let i = 0; i < LAPTOPS; i++) {
          // A daemon being killed or restarting has no status to give: skipped, not zero.
          const s = await sampleDaemon(mesh.daemons[i]!, i, lives[i]!, t, cpu).catch(() => undefined);
          const page = await pages?.stats(i);
          if (s) round.push(page ? { ...s, page } : s);
        }
        samples.push(...round);
        log(
          round
            .map(
              (s) =>
                `L${s.laptop + 1} rss ${s.rssMiB.toFixed(0)}M host ${s.childRssMiB.toFixed(0)}M fds ${s.fds} h ${s.handles} t ${s.timers} p99 ${s.loopP99Ms}ms cpu ${s.cpuPct ?? '-'}%+${s.childCpuPct ?? '-'}% linked ${s.linked} fps≥${s.minFps} ovr ${s.overruns}${s.page ? ` page ${s.page.connected ? 'on' : 'OFF'} ${s.page.fps}fps` : ''}`,
            )
            .join(' | '),
        );
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 500);
      });
    }
    await Promise.all(pending);
    note(`load average ${load()} at the end`);
    for (let i = 0; i < LAPTOPS && pages; i++)
      pageRecords[i]!.connects = (await pages.stats(i))?.connects ?? 0;
  } finally {
    await pages?.close();
    for (const b of blasters) b?.kill('SIGTERM');
    await mesh.close();
  }

  return report(
    {
      opts,
      events,
      samples,
      orphans,
      minutes: now() / 60,
      laptops: LAPTOPS,
      oscRate: OSC_RATE,
      ...(opts.pages && { pages: pageRecords }),
    },
    true,
  );
}

process.exitCode = await main();
