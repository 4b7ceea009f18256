import { clockStatusLine } from '../clock/status-line.ts';
import type { ParamView } from '../control/handlers.ts';
import type { DaemonStatus } from '../daemon.ts';
import { abletonLinkLine } from './ableton-link-commands.ts';
import { type Parsed, UsageError } from './args.ts';
import { callOrReport as call, type Out, print } from './client-call.ts';
import { formatValue, paramsTable, table } from './format.ts';
import { launchLine } from './launch-line.ts';
import { midiClockLine } from './midi-clock-commands.ts';

// Commands that talk to a running daemon over its control socket.

function mdnsText(m: DaemonStatus['mdns']): string {
  if (!m.enabled) return 'off';
  const reasons = Object.entries(m.rejected).map(([r, n]) => `${r} ${n}`);
  return `${m.peers} found, ${m.rejectedTotal} announcements ignored${reasons.length ? ` (${reasons.join(', ')})` : ''}`;
}

const byReason = (counts: Record<string, number>) => Object.entries(counts).map(([r, n]) => `${r} ${n}`);

function refusalsText(p: DaemonStatus['peers']): string | undefined {
  const parts = [
    ...byReason(p.refusals ?? {}).map((r) => `link ${r}`),
    ...byReason(p.rotationRefusals ?? {}).map((r) => `rotation ${r}`),
    ...byReason(p.introductions?.refused ?? {}).map((r) => `introduction ${r}`),
  ];
  return parts.length ? parts.join(', ') : undefined;
}

/** The sync line: the usual counts, then each kind of trouble only when there is some. */
function syncText(y: DaemonStatus['sync']): string {
  const parts = [`${y.links} links, ${y.applied} applied, ${y.stale} stale, ${y.refused} refused`];
  if (y.unknownPaths.count) parts.push(`${y.unknownPaths.count} undeclared paths kept aside`);
  if (y.held.count)
    parts.push(`${y.held.count} writes held from ${y.held.origins.length} unpaired laptop(s)`);
  if (y.badSignatures) parts.push(`${y.badSignatures} bad signatures`);
  if (y.equivocations) parts.push(`${y.equivocations} equivocations`);
  if (y.futureStamps) parts.push(`${y.futureStamps} stamps too far ahead`);
  if (y.rateLimited) parts.push(`${y.rateLimited} batches over budget`);
  return parts.join(', ');
}

function oscQueryLine(q: DaemonStatus['oscquery']): string {
  if (!q) return 'off';
  const host = q.bind.includes(':') ? `[${q.bind}]` : q.bind;
  return `http://${host}:${q.port}/ (${q.clients} WebSockets, ${q.listens} listens, ${q.sent} sent, ${q.dropped} dropped, ${q.rejectedTotal} refused)`;
}

export function statusText(s: DaemonStatus): string {
  const refusals = refusalsText(s.peers);
  const lines = [
    `hana ${s.version} "${s.name}" (pid ${s.pid}, up ${s.uptimeSeconds}s)`,
    `home      ${s.home}`,
    `config    ${s.config}`,
    `osc       udp ${s.osc.bind}:${s.osc.udpPort}${s.osc.tcpPort !== null ? `, tcp ${s.osc.bind}:${s.osc.tcpPort} (${s.osc.tcpConnections} connected)` : ''}`,
    `allowed   ${s.osc.allow.join(', ')}`,
    `oscquery  ${oscQueryLine(s.oscquery)}`,
    `params    ${s.params} declared`,
    `ingest    ${s.ingest.packets} packets, ${s.ingest.messages} messages, ${s.ingest.writes} writes, ${s.ingest.scheduled} scheduled, ${s.ingest.rejected ?? 0} rejected`,
    `feedback  ${s.feedback.targets} targets, ${s.feedback.subscribers} subscribers, ${s.feedback.sent} sent, ${s.feedback.dropped} dropped, ${s.feedback.expired} expired, ${s.feedback.echoed} corrected`,
    ...s.feedback.subscriptions.map(
      (x) =>
        `          ${x.to}${x.format ? ` (${x.format})` : ''}: subscribed ${x.ageS} s ago, renew within ${x.expiresInS} s`,
    ),
    `peers     ${s.peers.linked} linked, ${s.peers.pending} pending, ${s.peers.refused} refused; udp ${s.peers.port}, policy ${s.peers.policy}, ensemble "${s.peers.ensemble}"${s.peers.pairing.state === 'none' ? '' : `; pairing code ${s.peers.pairing.state}${s.peers.pairing.state === 'open' ? ` (${s.peers.pairing.triesLeft} tries left)` : ''}`}`,
    ...(refusals ? [`refusals  ${refusals}`] : []),
    ...(s.peers.warning ? [`WARNING   ${s.peers.warning}`] : []),
    `identity  ${s.peers.deviceId}`,
    ...(s.peers.rotation
      ? [
          s.peers.rotation.pending.length === 0
            ? `rotation  switching to ${s.peers.rotation.next}: the old key goes with the switch`
            : `rotation  old key kept until ${s.peers.rotation.pending.length} peer(s) move their pin: ${s.peers.rotation.pending.map((p) => p.name ?? p.id).join(', ')}`,
        ]
      : []),
    `midi      ${s.midi.available ? `${s.midi.inputs} inputs, ${s.midi.outputs} outputs, ${s.midi.mappings} mappings, ${s.midi.events} events` : `off (${s.midi.reason})`}`,
    `sync      ${syncText(s.sync)}`,
    `clock     ${clockStatusLine(s.sync.clock)}`,
    `link      ${abletonLinkLine(s.abletonLink)}`,
    `midiclock ${midiClockLine(s.midiClock)}`,
    ...(launchLine(s.sceneLaunches) ? [`launch    ${launchLine(s.sceneLaunches)}`] : []),
    `storage   ${s.storage.persist ? `saved ${s.storage.persist.lastSavedAt ?? 'never'} (${s.storage.persist.saves} saves, ${s.storage.persist.failures} failed${s.storage.persist.unknownPaths ? `, ${s.storage.persist.unknownPaths} kept, not restored` : ''})` : 'persist off'}; ${s.storage.scenes} scenes; key ${s.storage.key.kind}`,
    `audit     ${s.storage.audit ? `${s.storage.audit.records} records, ${s.storage.audit.dropped} dropped` : 'off'}`,
    `output    ${s.output ? `${s.output.clients} page(s), ${s.output.sent} frames sent, ${s.output.dropped} dropped (\`hana output\` for the URL)` : 'off'}`,
    `console   ${s.console ? `${s.console.bind}:${s.console.port}, ${s.console.clients} page(s), ${s.console.rejectedTotal} refused (\`hana ui\` for the URL)` : 'off'}`,
    `plugins   ${s.plugins ? s.plugins.plugins.map((p) => `${p.id} ${p.state} (${p.fps} fps, ${p.cpuMs} ms CPU a frame, ${p.frames} frames, ${p.overruns} overruns, ${p.restarts} restarts${p.shaderFaults ? `, ${p.shaderFaults} shader faults` : ''})`).join('; ') || 'none installed and enabled' : 'off'}`,
    `mdns      ${mdnsText(s.mdns)}`,
    `rejected  ${s.rejectedTotal}`,
  ];
  if (s.peers.held > 0) {
    lines.push(
      `SECURITY  ${s.peers.held} refused key change(s): a peer used a pinned name with another key. See \`hana trust list\`.`,
    );
  }
  const reasons = Object.entries(s.rejected);
  if (reasons.length) lines.push(table(reasons.map(([r, n]) => [`  ${r}`, String(n)])));
  return lines.join('\n');
}

export async function statusCommand(args: Parsed, out: Out): Promise<number> {
  if (args.positionals.length) throw new UsageError('status takes no arguments');
  const s = (await call(args, out, 'status', {})) as DaemonStatus | undefined;
  return s ? print(args, out, s, () => statusText(s)) : 1;
}

export async function paramsCommand(args: Parsed, out: Out): Promise<number> {
  if (args.positionals.length) throw new UsageError('params takes no arguments');
  const r = (await call(args, out, 'params', {})) as { params: ParamView[] } | undefined;
  return r ? print(args, out, r.params, () => paramsTable(r.params, true)) : 1;
}

export async function getCommand(args: Parsed, out: Out): Promise<number> {
  const [pattern, ...rest] = args.positionals;
  if (!pattern || rest.length)
    throw new UsageError('get takes one address or pattern, e.g. `hana get /layer/*/opacity`');
  const r = (await call(args, out, 'get', { pattern })) as { params: ParamView[] } | undefined;
  if (!r) return 1;
  if (!args.flags.json && r.params.length === 1)
    return print(args, out, r.params, () => formatValue(r.params[0]!.value));
  return print(args, out, r.params, () => paramsTable(r.params, false));
}

export async function setCommand(args: Parsed, out: Out): Promise<number> {
  const [path, ...words] = args.positionals;
  if (!path) throw new UsageError('set takes an address and a value, e.g. `hana set /layer/1/opacity 0.5`');
  const r = (await call(args, out, 'set', { path, words })) as
    | { params: ParamView[]; clamped: boolean }
    | undefined;
  if (!r) return 1;
  const p = r.params[0]!;
  return print(
    args,
    out,
    r,
    () => `${p.path} = ${formatValue(p.value)}${r.clamped ? ' (clamped to range)' : ''}`,
  );
}
