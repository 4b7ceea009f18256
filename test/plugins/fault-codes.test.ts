import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { securityLogger } from '../../daemon/log.ts';
import { createEventLog } from '../../daemon/plugins/events.ts';
import { CHANNELS } from '../../daemon/reasons.ts';
import { EventKind } from '../../plugins/runtime/protocol.ts';
import { captureLogger } from '../helpers/log-capture.ts';

// Every plugin fault has a stable code in the registry (daemon/reasons.ts, channel pluginFault)
// and a row in docs/plugins.md saying what happened, what the host did and what the operator
// does. The two lists, and which codes are security events, must stay the same.

const DOC = join(import.meta.dirname, '..', '..', 'docs', 'plugins.md');

async function documented(): Promise<Map<string, boolean>> {
  const text = await readFile(DOC, 'utf8');
  const start = text.indexOf('### When something goes wrong: fault codes');
  assert.ok(start >= 0, 'docs/plugins.md has the fault code table');
  // The first table after the heading, header and separator rows left out.
  const lines = text.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const end = lines.findIndex((l, i) => i > first && !l.startsWith('|'));
  const rows = lines.slice(first + 2, end);
  const out = new Map<string, boolean>();
  for (const row of rows) {
    const cells = row.split(' | ');
    assert.equal(cells.length, 4, `four columns: ${row}`);
    const security = cells[0]!.includes('(security)');
    for (const m of cells[0]!.matchAll(/`([a-z0-9-]+)`/g)) out.set(m[1]!, security);
  }
  return out;
}

describe('plugin fault codes', () => {
  it('the docs table and the registry list the same codes, with the same security events', async () => {
    const docs = await documented();
    const registry = new Map(CHANNELS.pluginFault.reasons.map((r) => [r.code as string, r.security]));
    assert.deepEqual([...docs.keys()].sort(), [...registry.keys()].sort());
    for (const [code, security] of registry) assert.equal(docs.get(code), security, code);
  });

  it('logs an event on the security logger exactly when its kind is a security code', () => {
    const { log, lines } = captureLogger();
    const events = createEventLog({ log, security: securityLogger(log), intervalMs: 0 });
    for (const kind of EventKind.options) events.record({ kind, plugin: 'com.example.x', reason: 'r' });
    const security = new Set(CHANNELS.pluginFault.reasons.filter((r) => r.security).map((r) => r.code));
    for (const l of lines) {
      const kind = String(l.event).replace(/^plugin\./, '');
      assert.equal(l.security === true, security.has(kind as never), kind);
    }
    assert.deepEqual(
      lines.filter((l) => l.security).map((l) => l.event),
      ['plugin.hung', 'plugin.escape', 'plugin.undeclared-write', 'plugin.quarantine'],
    );
  });
});
