import { parseDeviceId, shortId } from '../../trust-store/device-id.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import type { SyncConfig } from '../config/sync-schema.ts';
import { type AddressPattern, compilePattern } from '../state/pattern.ts';

// Who may change what, judged per entry by the write's ORIGIN: the daemon that signed it,
// whichever link it arrived on. One rule, wherever the write came from: the origin must be
// pinned here as trusted (not pending, not blocked), hold the performer role, and, when the
// config gives it a scope, write inside that scope. A relay only forwards signed batches, so
// it can neither widen its own rights through another's name nor pass on a write its origin
// could not make itself.

export type Verdict =
  | { ok: true }
  | {
      ok: false;
      /** `unknown-origin`: not pinned here (or pending): held aside until the operator decides. */
      code: 'not-a-device' | 'unknown-origin' | 'origin-blocked' | 'observer-write' | 'out-of-scope';
      message: string;
    };

const OK: Verdict = { ok: true };

export type Permissions = { judge(origin: string, path: string): Verdict };

export function createPermissions(
  config: SyncConfig,
  peers: PeerStore,
  isSelf: (id: string) => boolean,
): Permissions {
  const scopes = new Map<string, AddressPattern[]>();
  for (const [key, patterns] of Object.entries(config.scopes)) {
    scopes.set(
      key,
      patterns.map((p) => {
        const r = compilePattern(p);
        if (!r.ok) throw new Error(`sync.scopes: ${r.reason}`); // the schema checked them
        return r.pattern;
      }),
    );
  }
  const scopeOf = (id: string) => scopes.get(id) ?? scopes.get(shortId(id));

  return {
    judge(origin, path) {
      if (isSelf(origin)) return OK;
      // Off the wire: anything else must not reach the peer store, which throws on it.
      const parsed = parseDeviceId(origin);
      if (!parsed.ok || parsed.id !== origin) {
        return {
          ok: false,
          code: 'not-a-device',
          message: `${JSON.stringify(origin.slice(0, 64))} is not a device ID`,
        };
      }
      const peer = peers.get(origin);
      if (!peer || peer.state === 'pending') {
        return {
          ok: false,
          code: 'unknown-origin',
          message: `${shortId(origin)} is not paired with this laptop: its write to ${path} is held until it is`,
        };
      }
      if (peer.state === 'blocked') {
        return {
          ok: false,
          code: 'origin-blocked',
          message: `${peer.name} is blocked here and may not change ${path}`,
        };
      }
      if (peer.role !== 'performer') {
        return {
          ok: false,
          code: 'observer-write',
          message: `${peer.name} is an observer and may not change ${path}`,
        };
      }
      const scope = scopeOf(origin);
      if (scope && !scope.some((p) => p.match(path))) {
        return {
          ok: false,
          code: 'out-of-scope',
          message: `${peer.name} may not write ${path} (sync.scopes)`,
        };
      }
      return OK;
    },
  };
}
