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
  let current = initial;
  const history = [initial.deviceId];
  const listeners: ((next: Identity, previous: Identity) => void)[] = [];
  return {
    get current() {
      return current;
    },
    get deviceId() {
      return current.deviceId;
    },
    get history() {
      return history;
    },
    replace(next) {
      const previous = current;
      current = next;
      history.push(next.deviceId);
      for (const fn of listeners) fn(next, previous);
    },
    onChange(fn) {
      listeners.push(fn);
    },
  };
}
