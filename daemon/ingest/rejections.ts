import type { Logger } from '../log.ts';
import { CHANNELS, type Channel, isSecurityReason, type ReasonCode } from '../reasons.ts';

// Every rejected input is counted under a stable reason code and logged at most once per
// (reason, source) per interval, with how many were suppressed since, so a flood cannot
// turn into a log flood. The codes, their log event and which are security events come from
// the one registry, daemon/reasons.ts.

export type RejectionsInit<C extends Channel = 'input'> = {
  /** The registry channel: its codes, its log event; default "input" (input.rejected). */
  channel?: C;
  log: Logger;
  security: Logger;
  intervalMs: number;
  now?: () => number;
};

export type Rejections<C extends Channel = 'input'> = {
  /** `fields` are added to the log line (never to the suppression key). */
  reject(reason: ReasonCode<C>, source: string, message: string, fields?: Record<string, unknown>): void;
  counts(): Partial<Record<ReasonCode<C>, number>>;
  total(): number;
};

const MAX_TRACKED = 2048;

export function createRejections<C extends Channel = 'input'>(init: RejectionsInit<C>): Rejections<C> {
  const channel: Channel = init.channel ?? 'input';
  const now = init.now ?? Date.now;
  const event = CHANNELS[channel].event;
  const counts = new Map<ReasonCode<C>, number>();
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  let total = 0;

  return {
    reject(reason, source, message, fields) {
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
      total++;
      const key = `${reason} ${source}`;
      const t = now();
      const seen = lastLogged.get(key);
      if (seen && t - seen.at < init.intervalMs) {
        seen.suppressed++;
        return;
      }
      if (lastLogged.size >= MAX_TRACKED) lastLogged.clear();
      lastLogged.set(key, { at: t, suppressed: 0 });
      const logger = isSecurityReason(channel, reason) ? init.security : init.log;
      logger.warn({ event, reason, source, suppressed: seen?.suppressed ?? 0, ...fields }, message);
    },
    counts: () =>
      Object.fromEntries([...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) as Partial<
        Record<ReasonCode<C>, number>
      >,
    total: () => total,
  };
}
