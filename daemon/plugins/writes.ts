import type { Permissions } from '../../plugins/sandbox/permissions.ts';
import type { PluginWrite, WriteValue } from '../../plugins/sandbox/sandbox.ts';
import type { OscArg } from '../../protocols/osc/types.ts';
import type { Rejections } from '../ingest/rejections.ts';
import { MASTER_BLACKOUT, MASTER_OPACITY } from '../output/master.ts';
import { isSecurityReason, type ReasonCode } from '../reasons.ts';
import { coerceArgs } from '../state/coerce.ts';
import type { Registry } from '../state/registry.ts';
import type { Store, Write } from '../state/store.ts';

// A plugin's writes take the same validated path as OSC: the plugin must have declared the path
// in `writes` (checked in the plugin host already, checked again here because the host is a
// separate process running untrusted code), the path must be a declared parameter, and the value
// goes through the parameter's coercion and range rules. One frame's writes are all-or-nothing,
// like one OSC packet, and are stamped with the writer "plugin:<id>". A write to a parameter a
// person has just written is skipped (takeover.ts): the person wins for `plugins.takeoverMs`,
// and for at least PERSON_LEAD_MS whatever that says, since the store ranks a person's write
// ahead of automation for that long on every laptop (state/write-order.ts).

export type WriteRefusal = {
  plugin: string;
  /** Security events (daemon/reasons.ts: "plugin-undeclared-write", "plugin-unknown-writer") or bad input. */
  reason: ReasonCode;
  message: string;
  paths: string[];
};

export type PluginWriterInit = {
  registry: Registry;
  store: Store;
  /** Permissions of the plugins currently loaded, by id. */
  permissions(plugin: string): Permissions | undefined;
  /** Logged by the caller (service.ts): permission breaches, and bad values when there is no `rejections`. */
  onRefused(refusal: WriteRefusal): void;
  /** The daemon's rejection counter: bad values are counted and logged there, like bad OSC. */
  rejections?: Rejections;
  /** Paths a person wrote moments ago (takeover.ts): a plugin's write to them is skipped, not refused. */
  held?: (path: string) => boolean;
};

export type PluginWriter = {
  write(plugin: string, writes: readonly PluginWrite[]): number;
  /** `held`: writes skipped because a person had just written the parameter. */
  stats(): { applied: number; refused: number; held: number };
};

function toArgs(value: WriteValue): OscArg[] {
  if (typeof value === 'boolean') return [value ? { type: 'T', value: true } : { type: 'F', value: false }];
  if (typeof value === 'number') return [{ type: 'd', value }];
  return [{ type: 's', value }];
}

export function createPluginWriter(init: PluginWriterInit): PluginWriter {
  const { registry, store } = init;
  let applied = 0;
  let refusedCount = 0;
  let heldCount = 0;

  function refuse(plugin: string, reason: ReasonCode, message: string, paths: string[]): number {
    refusedCount += paths.length || 1;
    // Bad values are ordinary rejected input (counted with the daemon's other rejections when
    // it passes them); permission breaches always go to the caller, which logs security events.
    if (init.rejections && !isSecurityReason('input', reason))
      init.rejections.reject(reason, `plugin:${plugin}`, message);
    else init.onRefused({ plugin, reason, message, paths });
    return 0;
  }

  return {
    write(plugin, writes) {
      const permissions = init.permissions(plugin);
      const paths = writes.map((w) => w.path);
      if (!permissions) {
        return refuse(plugin, 'plugin-unknown-writer', `writes from ${plugin}, which is not loaded`, paths);
      }
      const undeclared = paths.filter((p) => !permissions.canWrite(p));
      if (undeclared.length) {
        return refuse(
          plugin,
          'plugin-undeclared-write',
          `${plugin} wrote ${undeclared.join(', ')}, not declared in its manifest's writes`,
          undeclared,
        );
      }
      const master = paths.filter((p) => p === MASTER_OPACITY || p === MASTER_BLACKOUT);
      if (master.length) {
        return refuse(
          plugin,
          'plugin-master-write',
          `${plugin} wrote ${master.join(', ')}: the master is the performer's, never a plugin's`,
          master,
        );
      }
      const batch: Write[] = [];
      for (const w of writes) {
        if (init.held?.(w.path)) {
          heldCount++;
          continue;
        }
        const spec = registry.get(w.path);
        if (!spec) {
          return refuse(
            plugin,
            'plugin-unknown-address',
            `${plugin} wrote ${w.path}, not a declared parameter`,
            [w.path],
          );
        }
        const c = coerceArgs(spec, toArgs(w.value));
        if (!c.ok) return refuse(plugin, `plugin-${c.code}`, `${plugin} → ${w.path}: ${c.message}`, [w.path]);
        if (!c.noop) batch.push({ path: w.path, value: c.value });
      }
      if (batch.length === 0) return 0;
      // The store leaves out a write that a person's, made moments ago on any laptop, outranks
      // (state/write-order.ts): held too, even with plugins.takeoverMs 0.
      const done = store.apply(batch, `plugin:${plugin}`).length;
      applied += done;
      heldCount += batch.length - done;
      return done;
    },
    stats: () => ({ applied, refused: refusedCount, held: heldCount }),
  };
}
