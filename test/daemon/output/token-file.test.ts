import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { securityLogger } from '../../../daemon/log.ts';
import { loadOrCreateToken, rotateToken, TOKEN_FILE } from '../../../daemon/output/token-file.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

test('the output token is made once per home (0600), kept across starts, replaced on demand, and when unsafe', async () => {
  const home = await mkdtemp(join(tmpdir(), 'hana-token-'));
  const { log, lines } = captureLogger();
  const security = securityLogger(log);
  const file = join(home, TOKEN_FILE);
  try {
    const first = await loadOrCreateToken(home, security);
    assert.match(first, /^[A-Za-z0-9_-]{22}$/);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal(await loadOrCreateToken(home, security), first, 'the same at the next start');

    const rotated = await rotateToken(home);
    assert.notEqual(rotated, first);
    assert.equal(await loadOrCreateToken(home, security), rotated);
    assert.equal((await readFile(file, 'utf8')).trim(), rotated);

    await chmod(file, 0o644);
    const afterExposed = await loadOrCreateToken(home, security);
    assert.notEqual(afterExposed, rotated, 'a token others could read is replaced');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.ok(lines.some((l) => l.event === 'output.token-exposed' && l.security === true));

    await writeFile(file, 'short\n', { mode: 0o600 });
    const afterBad = await loadOrCreateToken(home, security);
    assert.match(afterBad, /^[A-Za-z0-9_-]{22}$/);
    assert.ok(lines.some((l) => l.event === 'output.token-invalid' && l.security === true));
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});
