import type { Remote } from '../osc/udp.ts';

// Who may start a handshake, cheapest check first: ban list, handshake rate per source, half-open
// slots per source and in total, open sessions. A stranger spraying ClientHellos costs a few
// map lookups, not our memory. Every table is bounded, so spoofed sources cannot grow it.

type Reject = (
  code: 'banned' | 'handshake-flood' | 'half-open-full' | 'session-limit',
  from: Remote,
  detail: string,
) => void;

export type AdmissionInit = {
  now: () => number;
  perSecond: number;
  banAfter: number;
  banMs: number;
  maxHalfOpen: number;
  maxSessions: number;
  halfOpen: (address?: string) => number;
  open: () => number;
  reject: Reject;
  onBan: (address: string) => void;
};

export function createAdmission(init: AdmissionInit) {
  const { now, banMs, banAfter } = init;
  const handshakeLog = new Map<string, number[]>();
  const violations = new Map<string, { count: number; since: number }>();
  const bans = new Map<string, number>();

  function banned(remote: Remote): boolean {
    const until = bans.get(remote.address);
    if (until === undefined) return false;
    if (now() < until) return true;
    bans.delete(remote.address);
    return false;
  }

  return {
    /** Counts a protocol violation; counts fade after banMs so a long-lived peer's rare slip never adds up. */
    violation(remote: Remote, detail: string): void {
      const t = now();
      const prev = violations.get(remote.address);
      const current = prev && t - prev.since < banMs;
      if (!prev && violations.size >= 4096) violations.delete(violations.keys().next().value!);
      violations.set(remote.address, {
        count: current ? prev.count + 1 : 1,
        since: current ? prev.since : t,
      });
      if ((current ? prev.count + 1 : 1) < banAfter) return;
      violations.delete(remote.address);
      if (bans.size >= 1024) bans.delete(bans.keys().next().value!);
      bans.set(remote.address, t + banMs);
      init.reject(
        'banned',
        remote,
        `new handshakes banned for ${banMs / 1000} s after ${banAfter} protocol violations (last: ${detail})`,
      );
      init.onBan(remote.address);
    },

    admit(remote: Remote): boolean {
      if (banned(remote)) {
        init.reject('banned', remote, 'a handshake from a banned address');
        return false;
      }
      const t = now();
      const recent = (handshakeLog.get(remote.address) ?? []).filter((at) => t - at < 1000);
      if (recent.length >= init.perSecond) {
        init.reject(
          'handshake-flood',
          remote,
          `more than ${init.perSecond} handshakes/s from ${remote.address}`,
        );
        return false;
      }
      recent.push(t);
      if (handshakeLog.size >= 4096 && !handshakeLog.has(remote.address)) handshakeLog.clear();
      handshakeLog.set(remote.address, recent);
      // One source may hold only a few half-open slots, so it cannot fill the table alone.
      const fromSource = init.halfOpen(remote.address);
      if (fromSource >= Math.max(1, Math.floor(init.maxHalfOpen / 4))) {
        init.reject(
          'half-open-full',
          remote,
          `${fromSource} handshakes from ${remote.address} already in progress`,
        );
        return false;
      }
      if (init.halfOpen() >= init.maxHalfOpen) {
        init.reject('half-open-full', remote, `${init.maxHalfOpen} handshakes already in progress`);
        return false;
      }
      if (init.open() >= init.maxSessions) {
        init.reject('session-limit', remote, `${init.maxSessions} sessions already open`);
        return false;
      }
      return true;
    },

    banned: () => bans.size,
  };
}
