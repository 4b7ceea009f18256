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

describe('the plugin host process environment', { skip: process.platform !== 'linux' }, () => {
  it('caps glibc malloc arenas at 1', async () => {
    const saved = process.env.MALLOC_ARENA_MAX;
    delete process.env.MALLOC_ARENA_MAX;
    try {
      assert.equal((await child()).env.get('MALLOC_ARENA_MAX'), '1');
    } finally {
      if (saved !== undefined) process.env.MALLOC_ARENA_MAX = saved;
    }
  });

  it('keeps a MALLOC_ARENA_MAX the daemon was started with', async () => {
    const saved = process.env.MALLOC_ARENA_MAX;
    process.env.MALLOC_ARENA_MAX = '4';
    try {
      assert.equal((await child()).env.get('MALLOC_ARENA_MAX'), '4');
    } finally {
      if (saved === undefined) delete process.env.MALLOC_ARENA_MAX;
      else process.env.MALLOC_ARENA_MAX = saved;
    }
  });

  it("runs without Node's module compile cache, even when the daemon's environment turns it on", async () => {
    const saved = process.env.NODE_COMPILE_CACHE;
    process.env.NODE_COMPILE_CACHE = '/tmp/hana-test-compile-cache-never-written';
    try {
      assert.equal((await child()).env.get('NODE_DISABLE_COMPILE_CACHE'), '1');
    } finally {
      if (saved === undefined) delete process.env.NODE_COMPILE_CACHE;
      else process.env.NODE_COMPILE_CACHE = saved;
    }
  });

  it('caps the young generation at two semispaces of 4 MiB, and does not pin its size', async () => {
    const { argv } = await child();
    assert.ok(argv.includes('--max-semi-space-size=4'), argv.join(' '));
    assert.ok(!argv.some((a) => a.startsWith('--min-semi-space-size')), argv.join(' '));
  });
});
