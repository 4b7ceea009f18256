import type { WebSocket } from 'ws';
import type { Change, Store } from '../state/store.ts';

// Every parameter change, pushed to every console page. Changes are gathered per path (the last
// value wins) and sent at most once a frame, so a fader written 1,000 times a second costs each
// page 60 small messages, never a backlog. A change after a quiet frame leaves at the end of its
// event-loop turn, not a frame later.

/** A page whose socket holds this much unsent is too far behind: it is dropped and reconnects. */
const HIGH_WATER = 4 << 20;

export type ChangePush = { readonly pushed: number; close(): void };

export function pushChanges(
  store: Pick<Store, 'subscribe'>,
  pages: ReadonlySet<WebSocket>,
  coalesceMs = 16,
): ChangePush {
  const pending = new Map<string, { path: string; value: unknown; source: string }>();
  let timer: NodeJS.Timeout | undefined;
  let lastFlush = -Infinity;
  let pushed = 0;
  const flush = () => {
    timer = undefined;
    lastFlush = performance.now();
    if (pending.size === 0) return;
    const text = JSON.stringify({ type: 'changes', changes: [...pending.values()] });
    pending.clear();
    for (const ws of pages) {
      if (ws.readyState !== ws.OPEN) continue;
      if (ws.bufferedAmount > HIGH_WATER) {
        ws.terminate(); // it reconnects and reads every value afresh
        continue;
      }
      ws.send(text);
      pushed++;
    }
  };
  const unsubscribe = store.subscribe((changes: readonly Change[]) => {
    if (pages.size === 0) return;
    for (const c of changes) pending.set(c.path, { path: c.path, value: c.value, source: c.source });
    timer ??= setTimeout(flush, Math.max(0, lastFlush + coalesceMs - performance.now()));
  });
  return {
    get pushed() {
      return pushed;
    },
    close() {
      unsubscribe();
      if (timer) clearTimeout(timer);
    },
  };
}
