import { parseDeviceId, shortId } from '../../trust-store/device-id.ts';
import type { PeerStore } from '../../trust-store/peers.ts';
import type { SyncConfig } from '../config/sync-schema.ts';
import { type AddressPattern, compilePattern } from '../state/pattern.ts';

// Who may change what, judged per entry at the one place peers' entries come in.
//
// An entry stamped with the sender's own device ID is the sender's write: it needs the
// performer role and, if the config gives the sender a scope, a path inside it. An entry
// stamped by someone else is a relay (anti-entropy passes on what a peer learned from a third
// daemon, which is how a group converges around a cut link). Stamps are not signed, so a relay
// is only taken from a performer with no scope: a scoped performer could otherwise write
// outside its scope by stamping the write with another daemon's ID. A relayed write by a daemon
// we know as an observer or as blocked is refused as well.

export type Verdict =
  | { ok: true }
  | { ok: false; code: 'observer-write' | 'out-of-scope' | 'relay-refused' | 'not-trusted'; message: string };

const OK: Verdict = { ok: true };

export type Permissions = { judge(sender: string, writer: string, path: string): Verdict };

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
    judge(sender, writer, path) {
      const peer = peers.get(sender);
      if (peer?.state !== 'trusted') {
        return { ok: false, code: 'not-trusted', message: `${shortId(sender)} is not a trusted peer` };
      }
      if (peer.role !== 'performer') {
        return {
          ok: false,
          code: 'observer-write',
          message: `${peer.name} is an observer and may not change ${path}`,
        };
      }
      const scope = scopeOf(sender);
      if (writer === sender) {
        if (scope && !scope.some((p) => p.match(path))) {
          return {
            ok: false,
            code: 'out-of-scope',
            message: `${peer.name} may not write ${path} (sync.scopes)`,
          };
        }
        return OK;
      }
      if (scope) {
        return {
          ok: false,
          code: 'relay-refused',
          message: `${peer.name} has a write scope and may not pass on others' writes (${path})`,
        };
      }
      if (!isSelf(writer)) {
        const parsed = parseDeviceId(writer);
        if (!parsed.ok || parsed.id !== writer) {
          return {
            ok: false,
            code: 'relay-refused',
            message: `${peer.name} passed on a write to ${path} by ${JSON.stringify(writer.slice(0, 64))}, which is not a device ID`,
          };
        }
        const w = peers.get(writer);
        if (w && (w.state === 'blocked' || w.role !== 'performer')) {
          return {
            ok: false,
            code: 'relay-refused',
            message: `${peer.name} passed on a write to ${path} by ${w.name}, who may not write`,
          };
        }
      }
      return OK;
    },
  };
}
