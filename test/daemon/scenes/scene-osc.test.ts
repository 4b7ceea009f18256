import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '../../../daemon/log.ts';
import type { Launcher, LaunchResult } from '../../../daemon/scenes/launcher.ts';
import { sceneOscControl } from '../../../daemon/scenes/scene-osc.ts';
import type { OscMessage } from '../../../protocols/osc/types.ts';

// `/hana/scene/load` without a daemon: the words it takes, the refusals it gives at once, the
// ones it gives once the scene was read, and one load at a time.

const from = { transport: 'udp' as const, address: '127.0.0.1', port: 9000 };
const msg = (...args: OscMessage['args']): OscMessage =>
  ({ address: '/hana/scene/load', args }) as OscMessage;
const s = (value: string) => ({ type: 's' as const, value });
const log = { error() {} } as unknown as Logger;

function setup(result: () => Promise<LaunchResult>) {
  const calls: unknown[] = [];
  const refused: string[] = [];
  const launcher: Launcher = {
    launch(name, opts) {
      calls.push({ name, ...opts });
      return result();
    },
  };
  const handle = sceneOscControl({ launcher, reject: (reason) => refused.push(reason), log });
  return { handle, calls, refused };
}

describe('/hana/scene/load', () => {
  it('takes a name, a fade and a launch point as strings, with the defaults for empty ones', async () => {
    const { handle, calls } = setup(async () => ({ ok: false, code: 'not-found', error: 'no scene' }));
    assert.equal(handle(msg(s('chorus'), s('4b'), s('bar')), from), null);
    await new Promise((r) => setImmediate(r));
    assert.equal(handle(msg(s('verse'), s(''), s('')), from), null);
    assert.deepEqual(calls, [
      { name: 'chorus', fade: { unit: 'beats', length: 4 }, at: 'bar' },
      { name: 'verse', fade: { unit: 'ms', length: 0 }, at: 'now' },
    ]);
  });

  it('refuses what does not read at once, and an unknown scene or no beat once read', async () => {
    const { handle, refused } = setup(async () => ({ ok: false, code: 'no-beat', error: 'no beat' }));
    assert.equal(handle(msg(), from)?.reason, 'scene-bad-request');
    assert.equal(handle(msg({ type: 'i', value: 1 } as never), from)?.reason, 'scene-bad-request');
    assert.equal(handle(msg(s('a'), s('b'), s('c'), s('d')), from)?.reason, 'scene-bad-request');
    assert.equal(handle(msg(s('a'), s('2')), from)?.reason, 'scene-bad-fade');
    assert.equal(handle(msg(s('a'), s('2s'), s('soon')), from)?.reason, 'scene-bad-at');
    assert.equal(handle(msg(s('a'), s('1b'), s('bar')), from), null);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(refused, ['scene-no-beat']);
  });

  it('reads one scene at a time', async () => {
    let finish!: (r: LaunchResult) => void;
    const { handle, refused } = setup(() => new Promise((r) => (finish = r)));
    assert.equal(handle(msg(s('a')), from), null);
    assert.equal(handle(msg(s('b')), from)?.reason, 'scene-busy');
    finish({ ok: false, code: 'not-found', error: 'no scene "a"' });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(refused, ['scene-unknown']);
    assert.equal(handle(msg(s('b')), from), null, 'free again');
  });
});
