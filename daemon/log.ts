import { type DestinationStream, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

// Structured logs. Security events carry `security: true` so an operator can filter them
// (`hana start | jq 'select(.security)'`); nothing here ever logs key material.

export type { Logger };

export type LogInit = {
  level: string;
  /** Human-readable output; default: when stdout is a terminal. */
  pretty?: boolean;
  destination?: DestinationStream;
};

export function createLogger(init: LogInit): Logger {
  const wantPretty = init.pretty ?? process.stdout.isTTY === true;
  // pino-pretty as an in-process stream (not a worker transport): logs survive a crash.
  const stream =
    init.destination ?? (wantPretty ? pretty({ colorize: true, sync: true }) : pino.destination(1));
  return pino(
    { level: init.level, base: { pid: process.pid }, redact: ['secret', 'passphrase', 'key'] },
    stream,
  );
}

/** A child logger whose every line is a security event of the given kind. */
export function securityLogger(log: Logger): Logger {
  return log.child({ security: true });
}
