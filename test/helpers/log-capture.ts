import { pino } from 'pino';
import type { Logger } from '../../daemon/log.ts';

/** A real pino logger whose lines land in an array, for asserting on what was logged. */
export function captureLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'trace' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}
