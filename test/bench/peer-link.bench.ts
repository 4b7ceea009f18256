// Peer links, one file per scenario, each printing its figures beside a baseline measured in
// the same run:
//  1. dial → trusted link on loopback against the bare DTLS handshake (peer-link-trusted.ts);
//  2. the handshake with and without our verification of it, and verifyHandshake alone
//     (peer-link-checks.ts);
//  3. 100-byte records/s through our endpoint against werift alone and bare UDP
//     (peer-link-records.ts);
//  4. two real daemons in private namespaces: daemon.ready → first mdns.found → link.trusted
//     (peer-link-discovery.ts).
// Traffic stays on 127.0.0.0/8 or inside namespaces created (and deleted) there.
import { createIdentity, type Identity } from '../../trust-store/identity.ts';
import { handshakeChecks } from './peer-link-checks.ts';
import { now, type Report, rejections, warnings } from './peer-link-common.ts';
import { discoveryToLink } from './peer-link-discovery.ts';
import { recordThroughput } from './peer-link-records.ts';
import { handshakeToTrusted, LINKS, WARMUP } from './peer-link-trusted.ts';

export async function run(report: Report): Promise<void> {
  const t0 = now();
  const ids: Identity[] = [];
  for (let i = 0; i < WARMUP + LINKS + 1; i++) ids.push(await createIdentity());
  report(`(${ids.length} identities generated in ${(now() - t0).toFixed(0)} ms, outside every timing)`);
  const server = ids.pop()!;
  // A failing scenario is printed and the next one still runs: benchmarks print, never assert.
  const scenarios: [string, () => Promise<void>][] = [
    ['handshake to trusted link', () => handshakeToTrusted(report, ids, server)],
    ['handshake checks', () => handshakeChecks(report, ids[0]!, server)],
    ['records/s', () => recordThroughput(report, ids[0]!, server)],
    ['first discovery to link', () => discoveryToLink(report)],
  ];
  for (const [name, scenario] of scenarios) {
    const s0 = now();
    try {
      await scenario();
    } catch (err) {
      report(`${name}: FAILED — ${(err as Error).message}`);
    }
    report(`  (${name}: ${((now() - s0) / 1000).toFixed(1)} s)`);
  }
  if (rejections.size > 0) {
    const byCode = [...rejections].map(([code, n]) => `${code} ${n}`).join(', ');
    report(`(endpoint rejections during the run: ${byCode})`);
  }
  if (warnings.length > 0) {
    report(`(${warnings.length} warnings logged; first: ${warnings[0]!.slice(0, 200).trim()})`);
  }
}
