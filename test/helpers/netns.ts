import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { missingTool } from './tools.ts';

// Private network namespaces for tests: traffic stays inside namespaces the test created.

const exec = promisify(execFile);

/**
 * Why namespace tests cannot run here, or undefined when they can. Tests that also run another
 * tool inside a namespace add its own check: `netnsUnavailable() ?? missingTool('nft', 'nftables')`.
 */
export function netnsUnavailable(): string | undefined {
  // The tool first, so a fresh machine's reason names the package to install.
  return missingTool('ip', 'iproute2') ?? (process.getuid?.() === 0 ? undefined : 'needs root for ip netns');
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

export function uniqueName(label: string): string {
  return `hana-t-${label}-${randomBytes(3).toString('hex')}`;
}

/** A namespace with loopback up; returns its name. */
export async function addNetns(name: string): Promise<string> {
  await ip('netns', 'add', name);
  await ip('-n', name, 'link', 'set', 'lo', 'up');
  return name;
}

export async function deleteNetns(names: readonly string[]): Promise<void> {
  for (const name of names) await ip('netns', 'del', name).catch(() => {});
}

/**
 * DESIGN.md §5: a bridge inside its own namespace and one namespace per host with a veth into
 * it, addresses 10.77.0.<i>/24 and the multicast route. Returns host namespaces, then the bridge's.
 */
export async function makeBridgedHosts(count: number): Promise<{ hosts: string[]; all: string[] }> {
  const tag = randomBytes(3).toString('hex');
  const br = await addNetns(`hana-t-br-${tag}`);
  const all = [br];
  try {
    await ip('-n', br, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
    await ip('-n', br, 'link', 'set', 'br0', 'up');
    for (let i = 1; i <= count; i++) {
      const ns = await addNetns(`hana-t-h${i}-${tag}`);
      all.push(ns);
      await ip('link', 'add', 'veth0', 'netns', ns, 'type', 'veth', 'peer', 'name', `p-${i}`, 'netns', br);
      await ip('-n', br, 'link', 'set', `p-${i}`, 'master', 'br0', 'up');
      await ip('-n', ns, 'addr', 'add', `10.77.0.${i}/24`, 'dev', 'veth0');
      await ip('-n', ns, 'link', 'set', 'veth0', 'up');
      await ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'veth0');
    }
  } catch (err) {
    await deleteNetns(all);
    throw err;
  }
  return { hosts: all.slice(1), all };
}
