import type { Identity } from '../../trust-store/identity.ts';

// The daemon's identity changes on `hana trust rotate`. Every part that stamps, signs or reports
// with it (the HLC, sync, storage headers, status, discovery, the link layer) reads it through
// this one reference, so none can keep the old device ID after a rotation.

export type IdentityRef = {
  readonly current: Identity;
  readonly deviceId: string;
  /** Every device ID this daemon has had since start, oldest first; `deviceId` is the last. */
  readonly history: readonly string[];
  replace(next: Identity): void;
  onChange(fn: (next: Identity, previous: Identity) => void): void;
};

export function createIdentityRef(initial: Identity): IdentityRef {
  const listeners: ((next: Identity, previous: Identity) => void)[] = [];
  // Plain properties, reassigned on a rotation, not getters: the HLC reads `deviceId` for every
  // stamp, and a getter would make this object a dictionary (daemon/fast-object.ts) or a getter
  // call per stamp.
  const ref = {
    current: initial,
    deviceId: initial.deviceId,
    history: [initial.deviceId],
    replace(next: Identity) {
      const previous = ref.current;
      ref.current = next;
      ref.deviceId = next.deviceId;
      ref.history.push(next.deviceId);
      for (const fn of listeners) fn(next, previous);
    },
    onChange(fn: (next: Identity, previous: Identity) => void) {
      listeners.push(fn);
    },
  };
  return ref;
}
