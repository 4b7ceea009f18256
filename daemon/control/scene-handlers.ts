import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Logger } from '../log.ts';
import type { FadeView } from '../scenes/fade-view.ts';
import { launchOptions } from '../scenes/launch-spec.ts';
import { type Launcher, type LaunchResult, loadRecord } from '../scenes/launcher.ts';
import type { LoadResult, SceneFailure, Scenes } from '../scenes/scenes.ts';
import { controlError } from './protocol.ts';
import type { Handlers } from './server.ts';

// `hana scene save|load|list|delete`. The control socket is the operator's (mode 0600 in a
// 0700 home), so the scene's own writes carry "scene:<name>" and the operator's action is
// recorded as "cli".

const Name = z.object({ name: z.string().min(1).max(256) }).strict();
const Save = Name.extend({
  only: z.string().min(1).max(256).optional(),
  force: z.boolean().optional(),
}).strict();

const Load = Name.extend({
  fade: z.string().max(32).optional(),
  at: z.string().max(32).optional(),
}).strict();

export type SceneHandlerContext = {
  scenes: Scenes;
  audit?: AuditLog;
  security?: Logger;
  /** Quantized launches and fades; without it `--fade` and `--at` other than now are refused. */
  launcher?: Launcher;
  fades?: FadeView;
  /** Who the audit names for the operator's action: `cli` (default) or `ui` (the console). */
  writer?: string;
};

const withoutLaunch = (r: LoadResult): LaunchResult => (r.ok ? { ...r, launch: null } : r);

/** Codes meaning the file on disk is not what hana wrote with this key. */
const SUSPECT = new Set([
  'wrong-key-or-tampered',
  'truncated',
  'not-sealed',
  'unsupported-version',
  'bad-scene',
  'too-large',
]);

const refuse = (r: SceneFailure): never => {
  throw controlError(r.code === 'bad-name' ? 'bad-scene-name' : `scene-${r.code}`, r.error);
};

export function sceneHandlers(ctx: SceneHandlerContext): Handlers {
  const { scenes, audit } = ctx;
  const writer = ctx.writer ?? 'cli';
  return {
    async 'scene.save'(params) {
      const { name, only, force } = Save.parse(params);
      const r = await scenes.save(name, { only, force });
      if (!r.ok) return refuse(r);
      audit?.action('scene.save', writer, {
        name: r.name,
        params: r.params,
        replaced: r.replaced,
        ...(only !== undefined && { only }),
      });
      return r;
    },
    async 'scene.load'(params) {
      const { name, fade, at } = Load.parse(params);
      const o = launchOptions(fade, at);
      if (!o.ok) throw controlError(o.code, o.error);
      const quantized = o.at !== 'now' || o.fade.length > 0;
      if (quantized && !ctx.launcher)
        throw controlError('scene-no-beat', 'this daemon cannot launch on the beat (no session clock)');
      const r: LaunchResult = ctx.launcher
        ? await ctx.launcher.launch(name, { fade: o.fade, at: o.at })
        : withoutLaunch(await scenes.load(name));
      if (!r.ok && r.code === 'no-beat') throw controlError('scene-no-beat', r.error);
      if (!r.ok) {
        audit?.action('scene.load-failed', writer, { name, code: r.code });
        if (SUSPECT.has(r.code)) {
          ctx.security?.warn(
            { event: 'scene.refused', name, code: r.code },
            `refused scene ${name}: ${r.code}`,
          );
        }
        return refuse(r);
      }
      audit?.action('scene.load', writer, loadRecord(r));
      return r;
    },
    async 'scene.status'() {
      return ctx.fades?.status() ?? { launches: [], badRecords: 0, cancelled: 0 };
    },
    async 'scene.list'() {
      return { scenes: await scenes.list() };
    },
    async 'scene.delete'(params) {
      const { name } = Name.parse(params);
      const r = await scenes.delete(name);
      if (!r.ok) return refuse(r);
      audit?.action('scene.delete', writer, { name: r.name });
      return r;
    },
  };
}
