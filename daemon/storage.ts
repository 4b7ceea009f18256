import { join } from 'node:path';
import { type AuditLog, type AuditStatus, openAuditLog } from './audit/audit-log.ts';
import type { AuditConfig, StorageConfig } from './config/storage-schema.ts';
import { auditHandlers } from './control/audit-handlers.ts';
import { sceneHandlers } from './control/scene-handlers.ts';
import type { Handlers } from './control/server.ts';
import type { Logger } from './log.ts';
import { CHECK_FILE, openHomeCheck } from './persist/home-check.ts';
import { listSealedFiles, resolveStorageKey } from './persist/key.ts';
import { openPersister, type Persister, type PersistStatus } from './persist/persister.ts';
import { openScenes, type Scenes } from './scenes/scenes.ts';
import type { Registry } from './state/registry.ts';
import type { Store } from './state/store.ts';

// Everything the daemon keeps on disk about parameter values: the sealed persisted state, the
// sealed scenes and the audit log, behind one factory so the composition root wires it in a
// few lines. Built right after the store and before any port opens: a wrong key or a damaged
// state file stops the daemon before anything can write, and restored values are in place
// before the first OSC packet or peer arrives.

export type StorageStatus = {
  key: { kind: 'keyfile' | 'passphrase'; origin: string };
  persist: PersistStatus | null;
  audit: (AuditStatus & { dir: string }) | null;
  scenes: number;
};

export type Storage = {
  status(): StorageStatus;
  handlers: Handlers;
  /** For the scene launcher, which needs the session clock built later (daemon.ts). */
  scenes: Scenes;
  audit: AuditLog | undefined;
  /** Records a device ID this home is about to take (`hana trust rotate`), before identity.json changes. */
  addDevice(id: string): Promise<void>;
  close(): Promise<void>;
};

export type StorageInit = {
  home: string;
  config: { storage: StorageConfig; audit: AuditConfig };
  registry: Registry;
  store: Store;
  log: Logger;
  security: Logger;
  /** This daemon's device ID, named in file headers; a function when it can change (a rotation). */
  node: string | (() => string);
  /** Injected in tests: scene and audit times, audit rotation and pruning. */
  now?: () => number;
  env?: NodeJS.ProcessEnv;
};

export const STATE_FILE = 'state.sealed';
export const SCENES_DIR = 'scenes';
export const AUDIT_DIR = 'audit';

/** Throws an Error whose message is the one sentence the operator sees when start-up is refused. */
export async function startStorage(init: StorageInit): Promise<Storage> {
  const nodeOf = typeof init.node === 'function' ? init.node : () => init.node as string;
  const { home, config, log, security, registry, store } = init;
  const statePath = join(home, STATE_FILE);
  const scenesDir = join(home, SCENES_DIR);

  const auditDir = join(home, AUDIT_DIR);
  const key = await resolveStorageKey({
    home,
    key: config.storage.key,
    sealedFiles: () => listSealedFiles(join(home, CHECK_FILE), statePath, scenesDir),
    env: init.env,
  });
  if (!key.ok) throw new Error(key.error);
  if (key.created) {
    security.warn(
      { event: 'storage.key-created', path: key.origin },
      `created the storage key ${key.origin}: back it up, without it the saved state and scenes cannot be read`,
    );
  }
  // Before any other file: a wrong key or another laptop's files stop the start here.
  const checked = await openHomeCheck({
    home,
    key: key.key,
    keyOrigin: key.origin,
    device: nodeOf,
    sealedFiles: () => listSealedFiles(join(home, CHECK_FILE), statePath, scenesDir),
    auditDir,
  });
  if (!checked.ok) {
    security.error(
      { event: 'storage.refused', path: join(home, CHECK_FILE), code: checked.code },
      `refusing to start: ${checked.error}`,
    );
    throw new Error(checked.error);
  }
  const check = checked.check;
  if (check.opened !== 'existing') {
    security.info(
      {
        event: 'storage.check-created',
        path: check.path,
        upgraded: check.opened === 'upgraded',
        legacy: check.legacy,
      },
      check.opened === 'upgraded'
        ? `sealed ${check.path} for this home: its ${check.legacy} sealed file(s) from before device-bound files are accepted as they are and re-sealed naming this device when next saved`
        : `created ${check.path}: it proves the storage key at every start`,
    );
  }

  let persister: Persister | undefined;
  if (config.storage.persist) {
    const opened = await openPersister({
      path: statePath,
      key: key.key,
      // The persister keeps hana's own registers too (the shared timeline survives a restart).
      registry: registry.stored,
      store,
      log,
      binding: check.binding,
      saveDelayMs: config.storage.saveDelayMs,
      now: init.now,
    });
    if (!opened.ok) {
      // A file that fails authentication may have been tampered with: a security event too.
      security.error(
        { event: 'persist.refused', path: statePath, code: opened.code },
        `refusing to start: ${statePath} cannot be read (${opened.code})`,
      );
      throw new Error(opened.error);
    }
    persister = opened.persister;
    const r = persister.report;
    if (!r.firstRun) {
      log.info(
        { event: 'persist.restored', path: statePath, restored: r.restored, savedAt: r.savedAt },
        `restored ${r.restored} parameter value(s) from ${statePath} (saved ${r.savedAt})`,
      );
    }
    if (r.kept.length > 0) {
      // One line however many: the full list is in the structured field.
      log.warn(
        { event: 'persist.kept', count: r.kept.length, entries: r.kept.slice(0, 100) },
        `${r.kept.length} saved value(s) do not fit the current config and were not restored (kept in ${statePath}): ${r.kept
          .slice(0, 3)
          .map((k) => `${k.path} (${k.reason})`)
          .join(', ')}${r.kept.length > 3 ? ', …' : ''}`,
      );
    }
  }

  const closers: Array<() => Promise<void>> = [];
  try {
    if (persister) closers.push(() => persister.close());
    const scenes = await openScenes({
      dir: scenesDir,
      key: key.key,
      registry,
      store,
      binding: check.binding,
      now: init.now,
    });
    closers.push(() => scenes.close());

    let audit: AuditLog | undefined;
    if (config.audit.enabled) {
      audit = await openAuditLog({
        dir: auditDir,
        config: config.audit,
        store,
        log,
        security,
        secret: check.auditKey,
        device: nodeOf,
        now: init.now,
      });
      closers.push(() => audit!.close());
      const r = persister?.report;
      if (r && !r.firstRun) {
        audit.action('state.restore', 'daemon', {
          restored: r.restored,
          kept: r.kept.length,
          savedAt: r.savedAt,
        });
      }
    }

    return {
      status: () => ({
        key: { kind: key.kind, origin: key.origin },
        persist: persister?.status() ?? null,
        audit: audit ? { dir: audit.dir, ...audit.status() } : null,
        scenes: scenes.count(),
      }),
      handlers: {
        ...sceneHandlers({ scenes, audit, security }),
        ...auditHandlers({ audit, security, now: init.now }),
      },
      scenes,
      audit,
      addDevice: (id) => check.addDevice(id),
      async close() {
        // Persisted state first (the final save), then the audit log's last records.
        for (const close of closers) await close();
      },
    };
  } catch (err) {
    for (const close of closers) await close();
    throw err;
  }
}
