import type { HostEvent } from '../../plugins/runtime/protocol.ts';
import type { Logger } from '../log.ts';

// Plugin runtime events → log lines. Every event is counted; lines are rate-limited per
// (kind, plugin) so a plugin failing 60 times a second costs one line per interval (with the
// number suppressed since), while restarts, quarantines and host crashes are always logged.
// Permission breaches, CPU escapes and quarantines are security events (`security: true`).

type Rule = { level: 'info' | 'warn' | 'error'; security: boolean; limited: boolean; what: string };

const RULES: Record<HostEvent['kind'], Rule> = {
  started: { level: 'info', security: false, limited: false, what: 'plugin started' },
  log: { level: 'info', security: false, limited: true, what: 'plugin log' },
  overrun: { level: 'warn', security: false, limited: true, what: 'plugin overran its frame budget' },
  exception: { level: 'warn', security: false, limited: true, what: 'plugin threw' },
  'invalid-output': { level: 'warn', security: false, limited: true, what: 'plugin returned invalid output' },
  memory: { level: 'warn', security: false, limited: true, what: 'plugin hit its memory limit' },
  'load-failed': { level: 'error', security: false, limited: true, what: 'plugin failed to load' },
  escape: { level: 'warn', security: true, limited: true, what: 'plugin ran code outside its frame' },
  'undeclared-write': {
    level: 'warn',
    security: true,
    limited: true,
    what: 'plugin wrote an undeclared path',
  },
  restart: { level: 'warn', security: false, limited: false, what: 'plugin restarting' },
  quarantine: { level: 'error', security: true, limited: false, what: 'plugin quarantined' },
  'host-crash': { level: 'error', security: false, limited: false, what: 'plugin host crashed' },
  'host-restart': { level: 'info', security: false, limited: false, what: 'plugin host restarted' },
};

export type EventLog = {
  record(event: HostEvent): void;
  /** Events seen, by kind. */
  counts(): Record<string, number>;
};

const MAX_TRACKED = 2048;

export function createEventLog(init: {
  log: Logger;
  security: Logger;
  /** One line per (kind, plugin) per this interval for repeated faults. */
  intervalMs: number;
  /** Plugin log lines (hana.log): one frame's lines per plugin per this interval (default 100 ms). */
  pluginLogIntervalMs?: number;
  now?: () => number;
}): EventLog {
  const now = init.now ?? Date.now;
  const counts = new Map<string, number>();
  const last = new Map<string, { at: number; suppressed: number }>();

  return {
    record(e) {
      counts.set(e.kind, (counts.get(e.kind) ?? 0) + 1);
      const rule = RULES[e.kind];
      let suppressed = 0;
      if (rule.limited) {
        const key = `${e.kind} ${e.plugin ?? ''}`;
        const t = now();
        const seen = last.get(key);
        const interval = e.kind === 'log' ? (init.pluginLogIntervalMs ?? 100) : init.intervalMs;
        if (seen && t - seen.at < interval) {
          seen.suppressed++;
          return;
        }
        suppressed = seen?.suppressed ?? 0;
        if (last.size >= MAX_TRACKED) last.clear();
        last.set(key, { at: t, suppressed: 0 });
      }
      const logger = rule.security ? init.security : init.log;
      const fields = {
        event: `plugin.${e.kind}`,
        plugin: e.plugin,
        reason: e.reason,
        code: e.code,
        ...(e.items ? { items: e.items } : {}),
        ...(e.delayMs !== undefined ? { delayMs: e.delayMs, attempt: e.attempt } : {}),
        ...(suppressed ? { suppressed } : {}),
      };
      const who = e.plugin ? `${e.plugin}: ` : '';
      const text =
        e.kind === 'log' ? `${who}${(e.items ?? []).join(' | ')}` : `${rule.what}: ${who}${e.reason}`;
      logger[rule.level](fields, text);
    },
    counts: () => Object.fromEntries([...counts.entries()].sort()),
  };
}
