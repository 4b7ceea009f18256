// OSCQuery (daemon/oscquery/) in a real daemon, each figure beside a baseline from the same run:
// 1. fetching a 10,000-parameter namespace (unchanged, and after a value changed) against a
//    bare HTTP server sending the same bytes;
// 2. LISTEN fan-out to 50 WebSockets at 1,000 changes/s: frames delivered per second against
//    what was asked (changes/s × sockets);
// 3. OSC ingest (a UDP blast from another process) with 50 sockets LISTENing against none.
// The WebSocket clients share this process's event loop; the daemon and the sender do not.
import { execFile } from 'node:child_process';
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ParamMap } from '../../daemon/config/params-schema.ts';
import { startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { openSocket } from '../helpers/oscquery-client.ts';

const exec = promisify(execFile);
const SENDER = join(import.meta.dirname, 'osc-sender.ts');
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const fmt = (n: number) => Math.round(n).toLocaleString('en');

function get(port: number, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    });
    req.on('error', reject);
    req.end();
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Times `once`, after `prepare` (not timed) each time. */
async function timed(
  n: number,
  once: () => Promise<unknown>,
  prepare: () => Promise<unknown> = async () => {},
): Promise<string> {
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    await prepare();
    const s = nowMs();
    await once();
    t.push(nowMs() - s);
  }
  t.sort((a, b) => a - b);
  return `p50 ${percentile(t, 50).toFixed(2)} ms, p99 ${percentile(t, 99).toFixed(2)} ms`;
}

async function namespaceFetch(report: (line: string) => void): Promise<void> {
  const params: ParamMap = {};
  for (let i = 0; i < 10_000; i++) {
    params[`/bank/${i % 100}/p${i}`] = { type: 'float', min: 0, max: 1, outOfRange: 'clamp' };
  }
  const d = await startDaemon({ config: { params } });
  const bare = createServer((_, res) => res.end(body));
  let body: Buffer = Buffer.alloc(0);
  try {
    const port = (await d.status()).oscquery!.port;
    body = await get(port, '/');
    await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
    const barePort = (bare.address() as { port: number }).port;
    const N = 100;
    report(`namespace fetch, 10,000 parameters (${fmt(body.length)} bytes), ${N} fetches each`);
    report(`  bare HTTP server, same bytes   ${await timed(N, () => get(barePort, '/'))}`);
    report(`  hana, unchanged (cached)       ${await timed(N, () => get(port, '/'))}`);
    let v = 0;
    const change = async () => {
      v = v === 0.5 ? 0.25 : 0.5;
      await d.cli('set', '/bank/7/p4207', String(v));
    };
    report(`  hana, a value changed before   ${await timed(N, () => get(port, '/'), change)}`);
  } finally {
    bare.close();
    await d.stop();
  }
}

async function fanOut(d: TestDaemon, report: (line: string) => void): Promise<void> {
  const port = (await d.status()).oscquery!.port;
  const SOCKETS = 50;
  const sockets = await Promise.all(Array.from({ length: SOCKETS }, () => openSocket(port)));
  try {
    for (const s of sockets) s.listen('/bench/seq');
    await new Promise((r) => setTimeout(r, 200));
    const before = sockets.reduce((n, s) => n + s.frames.length, 0);
    const q0 = (await d.status()).oscquery!;
    const RATE = 1000;
    const SECONDS = 5;
    const start = nowMs();
    const sent = JSON.parse(
      (
        await exec(process.execPath, [
          SENDER,
          String(d.udpPort),
          'paced',
          String(RATE * SECONDS),
          String(RATE),
        ])
      ).stdout,
    ) as { sent: number };
    await new Promise((r) => setTimeout(r, 500));
    const elapsed = (nowMs() - start) / 1000;
    const delivered = sockets.reduce((n, s) => n + s.frames.length, 0) - before;
    report(
      `LISTEN fan-out, ${SOCKETS} sockets, ${RATE} changes/s for ${SECONDS} s (UDP from another process)`,
    );
    report(`  asked       ${fmt((sent.sent * SOCKETS) / elapsed)} frames/s (changes × sockets)`);
    report(
      `  delivered   ${fmt(delivered / elapsed)} frames/s (${((100 * delivered) / (sent.sent * SOCKETS)).toFixed(1)} %)`,
    );
    // Where the rest went: coalesced by the daemon (a turn's changes to a path are one frame),
    // dropped for a client too far behind, or still unread by these clients.
    const q1 = (await d.status()).oscquery!;
    report(
      `  daemon      ${fmt(q1.sent - q0.sent)} frames sent, ${fmt(q1.dropped - q0.dropped)} dropped (client > 1 MiB behind)`,
    );
  } finally {
    for (const s of sockets) s.close();
  }
}

async function ingestWithListeners(d: TestDaemon, report: (line: string) => void): Promise<void> {
  const port = (await d.status()).oscquery!.port;
  const rate = async () => {
    const w0 = (await d.status()).ingest.writes;
    const r = JSON.parse(
      (await exec(process.execPath, [SENDER, String(d.udpPort), 'blast', '100000'], { timeout: 120_000 }))
        .stdout,
    ) as { elapsedMs: number };
    await new Promise((res) => setTimeout(res, 500));
    return ((await d.status()).ingest.writes - w0) / (r.elapsedMs / 1000);
  };
  const none = await rate();
  const sockets = await Promise.all(Array.from({ length: 50 }, () => openSocket(port)));
  try {
    for (const s of sockets) s.listen('/bench/seq');
    await new Promise((r) => setTimeout(r, 200));
    const fifty = await rate();
    report('OSC ingest, 100,000-packet UDP blast from another process');
    report(`  no listener     ${fmt(none)} writes/s`);
    report(`  50 listeners    ${fmt(fifty)} writes/s (ratio ${(fifty / none).toFixed(2)})`);
  } finally {
    for (const s of sockets) s.close();
  }
}

export async function run(report: (line: string) => void): Promise<void> {
  const { loadavg } = await import('node:os');
  report(`load average ${loadavg()[0]!.toFixed(1)} at start: figures on a busy machine are noisy`);
  await namespaceFetch(report);
  const d = await startDaemon({
    config: {
      osc: { rateLimit: { unitsPerSecond: 1e9, burst: 65_536 }, fairness: { cpuShare: 1 } },
      params: { '/bench/seq': { type: 'int', min: 0, max: 2147483647 } },
    },
  });
  try {
    await fanOut(d, report);
    await ingestWithListeners(d, report);
  } finally {
    await d.stop();
  }
}
