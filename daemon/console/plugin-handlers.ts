import { z } from 'zod';
import {
  disablePlugin,
  enablePlugin,
  type IndexChange,
  listInstalled,
  removePlugin,
} from '../../plugins/installed.ts';
import { loadPublishers } from '../../trust-store/publishers.ts';
import { controlError } from '../control/protocol.ts';
import type { Handlers } from '../control/server.ts';
import { NO_STREAM } from './bridge.ts';

// The console's plugin actions. `hana plugin enable|disable|remove` edits the home's index and
// asks the daemon to reload; the console does the same from inside the daemon, through the same
// functions and the same reload, so the two cannot disagree.

const Change = z
  .object({
    id: z.string().min(1).max(64),
    action: z.enum(['enable', 'disable', 'remove']),
  })
  .strict();

const RUN = { enable: enablePlugin, disable: disablePlugin, remove: removePlugin } as const;

/** `runtime` holds `plugins.reload` and `plugin.enable` (daemon/plugins/handlers.ts). */
export function consolePluginHandlers(home: string, runtime: Handlers): Handlers {
  const call = async (method: string, params: unknown) => {
    const h = runtime[method];
    if (!h) return undefined;
    return h(params, NO_STREAM);
  };
  return {
    async 'plugin.installed'() {
      const [list, pubs] = await Promise.all([listInstalled(home), loadPublishers(home)]);
      if (!list.ok) throw controlError('plugins-index', list.error);
      const names = new Map(pubs.ok ? pubs.file.publishers.map((p) => [p.keyId, p.name]) : []);
      return {
        plugins: list.plugins.map((p) => ({ ...p, publisherName: names.get(p.publisherKeyId) ?? null })),
      };
    },
    async 'plugin.change'(params) {
      const { id, action } = Change.parse(params);
      const r: IndexChange = await RUN[action](home, id);
      if (!r.ok) throw controlError(`plugin-${r.code}`, r.error);
      let reloaded = true;
      try {
        await call('plugins.reload', {});
        // The runtime may hold a quarantine in memory too; not being quarantined is fine.
        if (action === 'enable') await call('plugin.enable', { id }).catch(() => undefined);
      } catch {
        reloaded = false; // plugins off in the config: the index change stands
      }
      return { id, action, version: r.plugin.version, reloaded };
    },
  };
}
