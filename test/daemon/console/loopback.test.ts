import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../daemon/config/load.ts';
import { CONSOLE_TOKEN_FILE } from '../../../daemon/console/index.ts';
import { startConsoleServer } from '../../../daemon/console/server.ts';
import { securityLogger } from '../../../daemon/log.ts';
import { loadOrCreateToken, TOKEN_FILE } from '../../../daemon/output/token-file.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

// The console is never served to the network (docs/security.md, "The operator console"): a LAN
// bind is refused by the config with a sentence that says what to do, and by the server itself
// should anything hand it one. Its token is its own, kept 0600 in the home.

describe('the console stays on loopback', () => {
  it('refuses a LAN or wildcard console.bind in the config, pointing to an SSH tunnel', () => {
    for (const bind of ['192.168.1.20', '0.0.0.0', '::']) {
      const r = parseConfig({ console: { bind } }, 'config.json');
      assert.equal(r.ok, false, bind);
      assert.match(r.ok ? '' : r.error, /served on loopback only .*SSH tunnel/);
    }
    for (const bind of ['127.0.0.1', '127.0.0.2', '::1'])
      assert.ok(parseConfig({ console: { bind } }, 'c').ok, bind);
  });

  it('refuses a LAN bind in the server too', async () => {
    const { log } = captureLogger();
    await assert.rejects(
      startConsoleServer({
        bind: '0.0.0.0',
        port: 0,
        token: 'A'.repeat(22),
        maxClients: 1,
        // Refused before anything is subscribed or bound.
        store: { subscribe: () => () => {} },
        answer: async () => ({}),
        log,
        security: securityLogger(log),
        rejectIntervalMs: 0,
      }),
      /loopback only/,
    );
  });

  it('keeps its own token (0600), apart from the output page’s, and replaces an exposed one as a security event', async () => {
    const home = await mkdtemp(join(tmpdir(), 'hana-console-'));
    const { log, lines } = captureLogger();
    const security = securityLogger(log);
    try {
      const output = await loadOrCreateToken(home, security);
      const own = await loadOrCreateToken(home, security, CONSOLE_TOKEN_FILE);
      assert.notEqual(own, output, 'the output URL does not open the console');
      const file = join(home, CONSOLE_TOKEN_FILE);
      assert.notEqual(file, join(home, TOKEN_FILE));
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.equal(await loadOrCreateToken(home, security, CONSOLE_TOKEN_FILE), own, 'stable across starts');
      await chmod(file, 0o640);
      assert.notEqual(await loadOrCreateToken(home, security, CONSOLE_TOKEN_FILE), own);
      assert.ok(lines.some((l) => l.event === 'console.token-exposed' && l.security === true));
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
