import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { forkPluginHost } from '../../../plugins/runtime/fork-child.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

// The plugin host's process environment: glibc's malloc arenas capped (fork-child.ts says why),
// unless whoever started the daemon chose a value, V8's young generation capped, and Node's
// module compile cache off.

async function child(): Promise<{ env: Map<string, string>; argv: string[] }> {
  const proc = forkPluginHost({
    log: captureLogger().log,
    testHooks: false,
    fault: undefined,
    onCatastrophe: () => {},
  });
  try {
    const text = await readFile(`/proc/${proc.pid}/environ`, 'utf8');
    const argv = (await readFile(`/proc/${proc.pid}/cmdline`, 'utf8')).split('\0');
    const env = new Map(
      text
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    return { env, argv };
  } finally {
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  }
}

/** Runs `fn` with this process's `name` set to `value` (or unset), as a daemon started so would have it. */
async function withEnv<T>(name: string, value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}

describe('the plugin host process environment', { skip: process.platform !== 'linux' }, () => {
  it('caps glibc malloc arenas at 1', async () => {
    const env = await withEnv('MALLOC_ARENA_MAX', undefined, async () => (await child()).env);
    assert.equal(env.get('MALLOC_ARENA_MAX'), '1');
  });

  it('keeps a MALLOC_ARENA_MAX the daemon was started with', async () => {
    const env = await withEnv('MALLOC_ARENA_MAX', '4', async () => (await child()).env);
    assert.equal(env.get('MALLOC_ARENA_MAX'), '4');
  });

  it("runs without Node's module compile cache, even when the daemon's environment turns it on", async () => {
    const dir = '/tmp/hana-test-compile-cache-never-written';
    const env = await withEnv('NODE_COMPILE_CACHE', dir, async () => (await child()).env);
    assert.equal(env.get('NODE_DISABLE_COMPILE_CACHE'), '1');
  });

  it('caps the young generation at two semispaces of 4 MiB, and does not pin its size', async () => {
    const { argv } = await child();
    assert.ok(argv.includes('--max-semi-space-size=4'), argv.join(' '));
    assert.ok(!argv.some((a) => a.startsWith('--min-semi-space-size')), argv.join(' '));
  });
});
