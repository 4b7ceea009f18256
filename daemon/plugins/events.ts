import type { HostEvent } from '../../plugins/runtime/protocol.ts';
import type { Logger } from '../log.ts';
import { isSecurityReason } from '../reasons.ts';

// Plugin runtime events → log lines. Every event is counted; lines are rate-limited per
// (kind, plugin) so a plugin failing 60 times a second costs one line per interval (with the
// number suppressed since), while restarts, quarantines and host crashes are always logged.
// Which kinds are security events (`security: true`: permission breaches, CPU escapes, calls that
// would not stop, quarantines) comes from the registry, daemon/reasons.ts, channel pluginFault.

type Rule = { level: 'info' | 'warn' | 'error'; limited: boolean; what: string };

const RULES: Record<HostEvent['kind'], Rule> = {
  started: { level: 'info', limited: false, what: 'plugin started' },
  log: { level: 'info', limited: true, what: 'plugin log' },
  overrun: { level: 'warn', limited: true, what: 'plugin overran its frame budget' },
  starved: {
    level: 'info',
    limited: true,
    what: 'plugin frame lost to a loaded machine (not counted against the plugin)',
  },
  hung: { level: 'warn', limited: true, what: 'plugin call did not stop at its time limit' },
  'over-share': {
    level: 'warn',
    limited: true,
    what: 'plugin layer over its fair share of the composed frame',
  },
  'cpu-share': { level: 'warn', limited: true, what: 'plugin slowed to its fair CPU share' },
  exception: { level: 'warn', limited: true, what: 'plugin threw' },
  'invalid-output': { level: 'warn', limited: true, what: 'plugin returned invalid output' },
  memory: { level: 'warn', limited: true, what: 'plugin hit its memory limit' },
  'load-failed': { level: 'error', limited: true, what: 'plugin failed to load' },
  escape: { level: 'warn', limited: true, what: 'plugin ran code outside its frame' },
  'undeclared-write': {
    level: 'warn',
    limited: true,
    what: 'plugin wrote an undeclared path',
  },
  restart: { level: 'warn', limited: false, what: 'plugin restarting' },
  quarantine: { level: 'error', limited: false, what: 'plugin quarantined' },
  'host-crash': { level: 'error', limited: false, what: 'plugin host crashed' },
  'host-restart': { level: 'info', limited: false, what: 'plugin host restarted' },
  bisect: { level: 'warn', limited: false, what: 'plugin host crash bisection' },
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
      const logger = isSecurityReason('pluginFault', e.kind) ? init.security : init.log;
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
