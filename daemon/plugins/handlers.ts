import { z } from 'zod';
import { controlError } from '../control/protocol.ts';
import type { Handlers } from '../control/server.ts';
import type { PluginService } from './service.ts';

// The plugin runtime on the control socket: its status, `hana plugin enable <id>` (clears a
// runtime quarantine) and the reload every plugin install/remove/enable/disable asks for.

const IdParam = z.object({ id: z.string().min(1).max(64) }).strict();

/** `service` is undefined when plugins are off in the config. */
export function pluginRuntimeHandlers(service: PluginService | undefined): Handlers {
  return {
    'plugin.runtime': () =>
      service
        ? { enabled: true, ...service.status() }
        : { enabled: false, host: null, plugins: [], writes: { applied: 0, refused: 0 }, events: {} },
    async 'plugins.reload'() {
      if (!service) {
        throw controlError(
          'plugins-off',
          'plugins are off in this daemon: set plugins.enabled to true and restart',
        );
      }
      await service.reload();
      return { reloaded: true, plugins: service.status().plugins.map((p) => p.id) };
    },
    'plugin.enable'(params) {
      const parsed = IdParam.safeParse(params);
      if (!parsed.success) throw controlError('bad-params', 'plugin.enable takes {"id": "<plugin id>"}');
      const { id } = parsed.data;
      if (!service) {
        throw controlError(
          'plugins-off',
          'plugins are off: set plugins.enabled to true in the config and restart',
        );
      }
      if (!service.enable(id)) {
        throw controlError(
          'not-quarantined',
          `${id} is not a quarantined plugin (see \`hana plugin status\` for each plugin's state)`,
        );
      }
      return { enabled: id };
    },
  };
}
