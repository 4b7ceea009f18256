import type { Logger } from '../log.ts';

// Every rejected input is counted under a stable reason code and logged at most once per
// (reason, source) per interval, with how many were suppressed since, so a flood cannot
// turn into a log flood.

export type RejectionsInit = {
  log: Logger;
  security: Logger;
  intervalMs: number;
  now?: () => number;
  /** Reasons that are security events (flood, not allowed…) rather than plain bad input. */
  securityReasons: ReadonlySet<string>;
  /** The `event` field of the log lines; default "input.rejected". */
  event?: string;
};

export type Rejections = {
  /** `fields` are added to the log line (never to the suppression key). */
  reject(reason: string, source: string, message: string, fields?: Record<string, unknown>): void;
  counts(): Record<string, number>;
  total(): number;
};

const MAX_TRACKED = 2048;

export function createRejections(init: RejectionsInit): Rejections {
  const now = init.now ?? Date.now;
  const event = init.event ?? 'input.rejected';
  const counts = new Map<string, number>();
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
      const logger = init.securityReasons.has(reason) ? init.security : init.log;
      logger.warn({ event, reason, source, suppressed: seen?.suppressed ?? 0, ...fields }, message);
    },
    counts: () => Object.fromEntries([...counts.entries()].sort()),
    total: () => total,
  };
}
