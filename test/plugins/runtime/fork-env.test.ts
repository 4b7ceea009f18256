import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { forkPluginHost } from '../../../plugins/runtime/fork-child.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

// The plugin host's process environment: glibc's malloc arenas capped (fork-child.ts says why),
// unless whoever started the daemon chose a value.

async function childEnv(): Promise<Map<string, string>> {
  const proc = forkPluginHost({
    log: captureLogger().log,
    testHooks: false,
    stall: false,
    onCatastrophe: () => {},
  });
  try {
    const text = await readFile(`/proc/${proc.pid}/environ`, 'utf8');
    return new Map(
      text
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
  } finally {
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  }
}

describe('the plugin host process environment', { skip: process.platform !== 'linux' }, () => {
  it('caps glibc malloc arenas at 2', async () => {
    const saved = process.env.MALLOC_ARENA_MAX;
    delete process.env.MALLOC_ARENA_MAX;
    try {
      assert.equal((await childEnv()).get('MALLOC_ARENA_MAX'), '2');
    } finally {
      if (saved !== undefined) process.env.MALLOC_ARENA_MAX = saved;
    }
  });

  it('keeps a MALLOC_ARENA_MAX the daemon was started with', async () => {
    const saved = process.env.MALLOC_ARENA_MAX;
    process.env.MALLOC_ARENA_MAX = '4';
    try {
      assert.equal((await childEnv()).get('MALLOC_ARENA_MAX'), '4');
    } finally {
      if (saved === undefined) delete process.env.MALLOC_ARENA_MAX;
      else process.env.MALLOC_ARENA_MAX = saved;
    }
  });
});
