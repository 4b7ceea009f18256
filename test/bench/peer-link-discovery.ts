// Scenario 2 of peer-link.bench.ts: two real daemons on two "hosts" (namespaces on a bridge
// that itself lives in a namespace, DESIGN.md §5), found over real mDNS and linked with no
// set-up. Times come from the daemons' own JSON log lines (`time`, epoch ms, one clock).
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { type LogLine, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { deleteNetns, makeBridgedHosts, netnsUnavailable } from '../helpers/netns.ts';

const exec = promisify(execFile);
const ROUNDS = 3;
const ROUND_LIMIT_MS = 20_000;

const first = (logs: readonly LogLine[], event: string) =>
  logs.find((l) => l.event === event)?.time as number | undefined;

/**
 * Stops the daemons, then kills by PID anything still inside our namespaces (a daemon whose
 * start failed is not stopped by the helper), then deletes the namespaces.
 */
async function teardown(daemons: TestDaemon[], namespaces: string[]): Promise<void> {
  for (const d of daemons) await d.stop().catch(() => {});
  for (const ns of namespaces) {
    const { stdout } = await exec('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }));
    for (const pid of stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  await deleteNetns(namespaces);
}

type Round = {
  readyGap: number;
  found: number;
  trusted: number;
  both: number;
  closed: number;
  warnings: number;
};

async function round(i: number): Promise<Round> {
  const { hosts, all } = await makeBridgedHosts(2);
  const daemons: TestDaemon[] = [];
  try {
    // Started together, so neither daemon's probing has a head start.
    const started = await Promise.allSettled(
      hosts.map((ns, h) =>
        startDaemon({
          wrap: ['ip', 'netns', 'exec', ns],
          config: { name: `bench-r${i}-h${h + 1}`, peers: { bind: '0.0.0.0', discovery: true } },
        }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') daemons.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    const bothTrusted = () => daemons.every((d) => first(d.logs, 'link.trusted') !== undefined);
    const deadline = performance.now() + ROUND_LIMIT_MS;
    while (!bothTrusted() && performance.now() < deadline) await sleep(20);
    if (!bothTrusted()) throw new Error(`no link within ${ROUND_LIMIT_MS / 1000} s in round ${i + 1}`);
    // Let a crossed dial settle, so a duplicate link dropped just after shows in the count.
    await sleep(300);
    const ready = daemons.map((d) => first(d.logs, 'daemon.ready')!);
    const found = daemons.map((d) => first(d.logs, 'mdns.found') ?? Number.POSITIVE_INFINITY);
    const trusted = daemons.map((d) => first(d.logs, 'link.trusted')!);
    const t0 = Math.max(...ready);
    const count = (event: string) =>
      daemons.reduce((n, d) => n + d.logs.filter((l) => l.event === event).length, 0);
    return {
      readyGap: Math.max(...ready) - Math.min(...ready),
      found: Math.min(...found) - t0,
      trusted: Math.min(...trusted) - t0,
      both: Math.max(...trusted) - t0,
      closed: count('link.closed'),
      warnings: count('mdns.warning'),
    };
  } finally {
    await teardown(daemons, all);
  }
}

export async function discoveryToLink(report: (line: string) => void): Promise<void> {
  const why = netnsUnavailable();
  if (why) {
    report(`first discovery to link: skipped (${why})`);
    return;
  }
  report(
    `first discovery to link, two daemons on a private bridge (${ROUNDS} rounds, fresh namespaces and homes)`,
  );
  report(
    '  from the later daemon.ready:  first mdns.found   first link.trusted   both trusted   found→trusted',
  );
  for (let i = 0; i < ROUNDS; i++) {
    const r = await round(i);
    const ms = (x: number) => `${x.toFixed(0)} ms`.padStart(8);
    const extra = [
      `ready gap ${r.readyGap} ms`,
      ...(r.closed ? [`${r.closed} link.closed`] : []),
      ...(r.warnings ? [`${r.warnings} mdns.warning`] : []),
    ].join(', ');
    report(
      `  round ${i + 1}                      ${ms(r.found)}          ${ms(r.trusted)}     ${ms(r.both)}      ${ms(r.trusted - r.found)}   (${extra})`,
    );
  }
}
