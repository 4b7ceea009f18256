import type { AuditLog } from '../audit/audit-log.ts';
import type { ControlHandler, IngestSource } from '../ingest/osc-ingest.ts';
import { sourceLabel } from '../ingest/source-cache.ts';
import type { Logger } from '../log.ts';
import type { ReasonCode } from '../reasons.ts';
import { launchOptions } from './launch-spec.ts';
import { type Launcher, loadRecord } from './launcher.ts';

// `/hana/scene/load ,s name` `,ss name fade` `,sss name fade at`: the OSC form of
// `hana scene load NAME --fade F --at A`, with the same words ("2s", "4b", "bar"). OSC is
// one-way, so what goes wrong after the message is accepted (no such scene, no shared beat) is
// refused by reason code like any bad packet, a moment later, and logged once.

export const SCENE_LOAD_ADDRESS = '/hana/scene/load';

export type SceneOscInit = {
  launcher: Launcher;
  /** Counts and logs a refusal (the OSC channel's `rejections.reject`). */
  reject(reason: ReasonCode, source: string, message: string): void;
  audit?: AuditLog;
  log: Logger;
};

const STRING = new Set(['s', 'S']);

export function sceneOscControl(init: SceneOscInit): ControlHandler {
  // Reading a scene under a passphrase costs ~0.1 s of CPU (scrypt): one at a time, so an
  // allowed source repeating the message cannot keep a core busy.
  let busy = false;
  return (msg, from: IngestSource) => {
    const args = msg.args;
    if (args.length < 1 || args.length > 3 || !args.every((a) => STRING.has(a.type))) {
      return {
        reason: 'scene-bad-request',
        message: `${SCENE_LOAD_ADDRESS} takes 1–3 strings (name, fade, at), got ",${args.map((a) => a.type).join('')}"`,
      };
    }
    const [name, fade, at] = args.map((a) => String(a.value)) as [string, string?, string?];
    const o = launchOptions(fade === '' ? undefined : fade, at === '' ? undefined : at);
    if (!o.ok) return { reason: o.code, message: o.error };
    if (busy) return { reason: 'scene-busy', message: 'another OSC scene load is still being read' };
    busy = true;
    const who = sourceLabel(from);
    init.launcher
      .launch(name, { fade: o.fade, at: o.at })
      .then((r) => {
        if (!r.ok) {
          const reason = r.code === 'no-beat' ? 'scene-no-beat' : 'scene-unknown';
          init.reject(reason, from.address, r.error);
          init.audit?.action('scene.load-failed', who, { name, code: r.code });
          return;
        }
        init.audit?.action('scene.load', who, loadRecord(r));
      })
      .catch((err: unknown) => {
        init.log.error({ err, event: 'scene.osc-failed', name }, `OSC scene load of ${name} failed`);
      })
      .finally(() => {
        busy = false;
      });
    return null;
  };
}
