import { shortId } from '../../trust-store/short-id.ts';
import type { FadeViewStatus, LaunchStatus } from '../scenes/fade-view.ts';

// Scene launches in words, for `hana scene status` and the `launch` line of `hana status`. Apart
// from scene-commands.ts, whose --fade/--at parsing pulls in zod, which `hana status` need not load.

/** One launch in words: what, when, how long, and how far it got on this laptop. */
export function launchText(l: LaunchStatus): string {
  const when =
    l.startBeat === null ? `at session ${l.startMs.toFixed(1)} ms` : `on beat ${l.startBeat.toFixed(2)}`;
  const head = `${l.scene} from ${shortId(l.origin)} ${when}, fade ${l.fade}`;
  switch (l.state) {
    case 'pending':
      return `${head}: waiting (${l.fading} parameter(s))`;
    case 'active':
      return `${head}: fading (${l.fading} parameter(s)), started at beat ${l.startedAt?.beat?.toFixed(3) ?? '?'}`;
    case 'done':
      return `${head}: done${l.startedAt ? `, started at beat ${l.startedAt.beat?.toFixed(3) ?? '?'}` : ''}`;
    case 'ignored':
      return `${head}: not rendered (${l.note ?? 'no targets'})`;
  }
}

/** The `launch` line of `hana status`: only while something waits or fades. */
export function launchLine(s: FadeViewStatus | undefined): string | undefined {
  const live = s?.launches.filter((l) => l.state === 'pending' || l.state === 'active') ?? [];
  return live.length ? live.map(launchText).join('; ') : undefined;
}
