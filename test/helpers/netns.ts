import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

// Private network namespaces for tests: traffic stays inside namespaces the test created.

const exec = promisify(execFile);

/** Why namespace tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for ip netns';
  if (!existsSync('/usr/sbin/ip') && !existsSync('/sbin/ip') && !existsSync('/usr/bin/ip')) {
    return 'needs iproute2 (apt-get install iproute2)';
  }
  return undefined;
}

export const ip = (...args: string[]) => exec('ip', args);

export type Netns = { readonly name: string; exec(...cmd: string[]): string[]; remove(): Promise<void> };

/**
 * A namespace with loopback up and an interface holding `addresses` (e.g. 10.99.0.1/24). This
 * kernel has no dummy driver, so it is one end of a veth pair whose both ends stay inside.
 */
export async function createNetns(addresses: readonly string[]): Promise<Netns> {
  const name = `hana-t-${process.pid}-${randomBytes(3).toString('hex')}`;
  await ip('netns', 'add', name);
  try {
    await ip('-n', name, 'link', 'set', 'lo', 'up');
    if (addresses.length) {
      await ip('-n', name, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
      for (const a of addresses) await ip('-n', name, 'addr', 'add', a, 'dev', 'v0');
      await ip('-n', name, 'link', 'set', 'v0', 'up');
      await ip('-n', name, 'link', 'set', 'v1', 'up');
    }
  } catch (err) {
    await ip('netns', 'del', name).catch(() => {});
    throw err;
  }
  return {
    name,
    exec: (...cmd) => ['ip', 'netns', 'exec', name, ...cmd],
    remove: async () => {
      await ip('netns', 'del', name).catch(() => {});
    },
  };
}
