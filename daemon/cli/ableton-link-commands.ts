import type { AbletonLinkStatus } from '../ableton-link/service.ts';
import type { DaemonStatus } from '../daemon.ts';
import { type Parsed, UsageError } from './args.ts';
import { callOrReport, type Out, print } from './client-call.ts';

// `hana ableton-link status|play|stop`: the Link session as this daemon sees it, and Link's
// start/stop (hana has no transport of its own; tempo is /tempo, set like any parameter).

/** The `link` line of `hana status`. */
export function abletonLinkLine(s: AbletonLinkStatus): string {
  if (!s.enabled) return 'off (`hana start --ableton-link` or abletonLink.enabled turns it on)';
  const refused = s.refused ? `; ${s.refused} datagrams refused` : '';
  const peers = `${s.peers} Link peer${s.peers === 1 ? '' : 's'}`;
  return `${peers}, ${s.tempo.toFixed(2)} bpm, beat ${s.beat.toFixed(2)}, phase ${s.phase.toFixed(2)}/${s.quantum}, ${s.playing ? 'playing' : 'stopped'} (on ${s.interfaces.join(', ') || 'no interface'})${refused}`;
}

export async function abletonLinkCommand(args: Parsed, out: Out): Promise<number> {
  const [sub, ...rest] = args.positionals;
  if (rest.length || !sub) throw new UsageError('ableton-link takes status, play or stop');
  if (sub === 'status') {
    const s = (await callOrReport(args, out, 'status', {})) as DaemonStatus | undefined;
    if (!s) return 1;
    return print(args, out, s.abletonLink, () => {
      const link = s.abletonLink;
      if (!link.enabled) return `Ableton Link ${abletonLinkLine(link)}`;
      const reasons = Object.entries(link.rejected).map(([r, n]) => `  ${r} ${n}`);
      const clock =
        link.measuredErrorMs === null
          ? 'founded here: other Link apps measure this laptop'
          : `its clock measured within ±${link.measuredErrorMs.toFixed(2)} ms`;
      return [
        `Ableton Link: ${abletonLinkLine(link)}`,
        `session ${link.sessionId}, ${clock}`,
        ...reasons,
      ].join('\n');
    });
  }
  if (sub !== 'play' && sub !== 'stop') throw new UsageError('ableton-link takes status, play or stop');
  const r = await callOrReport(args, out, 'abletonLink.play', { playing: sub === 'play' });
  if (!r) return 1;
  return print(args, out, r, () => (sub === 'play' ? 'Link session: playing' : 'Link session: stopped'));
}
