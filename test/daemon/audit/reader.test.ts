import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openAuditLog } from '../../../daemon/audit/audit-log.ts';
import { listAuditFiles } from '../../../daemon/audit/files.ts';
import { queryAudit } from '../../../daemon/audit/reader.ts';
import { parseSince } from '../../../daemon/audit/record.ts';
import { AuditConfig } from '../../../daemon/config/storage-schema.ts';
import { compilePattern } from '../../../daemon/state/pattern.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { world } from '../persist/helpers.ts';

// Reading the audit log across rotated files with filters, and surviving damaged lines.

const MIN = 60_000;
let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hana-audit-read-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const SECRET = new Uint8Array(randomBytes(32));

/** 60 changes one minute apart, alternating writers and paths, spread over several small files. */
async function history() {
  const w = world({ '/a': { type: 'int' }, '/c': { type: 'int' } });
  const dir = join(root, `h-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  const { log } = captureLogger();
  const audit = await openAuditLog({
    dir,
    config: AuditConfig.parse({ maxFileBytes: 2048, maxFiles: 1000 }),
    store: w.store,
    log,
    secret: SECRET,
    device: () => 'node-A',
    now: () => w.clock.now,
  });
  const start = w.clock.now;
  for (let i = 1; i <= 60; i++) {
    const path = i % 2 ? '/a' : '/c';
    w.store.apply([{ path, value: i }], i % 3 ? 'cli' : 'peer:node-B');
    await audit.flush();
    w.clock.now += MIN;
  }
  await audit.close();
  return { dir, start, now: w.clock.now };
}

const values = (recs: { kind: string; new?: unknown }[]) => recs.map((r) => r.new);
const pattern = (p: string) => {
  const c = compilePattern(p);
  if (!c.ok) throw new Error(c.reason);
  return c.pattern;
};

describe('queryAudit', () => {
  it('returns the newest `limit` records oldest first, across rotated files', async () => {
    const { dir } = await history();
    assert.ok((await listAuditFiles(dir)).length >= 4);
    const all = await queryAudit(dir, SECRET, { limit: 1000 });
    assert.deepEqual(
      values(all.records),
      Array.from({ length: 60 }, (_, i) => i + 1),
    );
    assert.equal(all.skippedLines, 0);
    const last5 = await queryAudit(dir, SECRET, { limit: 5 });
    assert.deepEqual(values(last5.records), [56, 57, 58, 59, 60]);
    assert.equal(last5.filesRead, 1, 'stops reading once it has enough');
  });

  it('filters by time, path pattern and writer prefix, reading only the files it needs for --since', async () => {
    const { dir, start, now } = await history();
    const since = await queryAudit(dir, SECRET, { since: start + 50 * MIN, limit: 100 });
    assert.deepEqual(values(since.records), [51, 52, 53, 54, 55, 56, 57, 58, 59, 60]);
    assert.ok(since.filesRead < (await listAuditFiles(dir)).length);
    const rel = parseSince('10m', now);
    assert.ok(rel.ok);
    assert.deepEqual(
      values((await queryAudit(dir, SECRET, { since: rel.ok ? rel.ms : 0, limit: 100 })).records),
      [51, 52, 53, 54, 55, 56, 57, 58, 59, 60],
    );
    const a = await queryAudit(dir, SECRET, { path: pattern('/a'), since: start + 50 * MIN, limit: 100 });
    assert.deepEqual(values(a.records), [51, 53, 55, 57, 59]);
    const peers = await queryAudit(dir, SECRET, { writer: 'peer:', limit: 4 });
    assert.deepEqual(
      values(peers.records),
      [48, 51, 54, 57].map((v) => v + 3),
    );
    const none = await queryAudit(dir, SECRET, { writer: 'scene:', limit: 10 });
    assert.deepEqual(none.records, []);
    const glob = await queryAudit(dir, SECRET, { path: pattern('/{a,c}'), writer: 'cli', limit: 3 });
    assert.deepEqual(values(glob.records), [56, 58, 59]);
  });

  it('skips and counts a torn last line, a damaged line and a record that does not authenticate, and reads on', async () => {
    const { dir } = await history();
    const files = await listAuditFiles(dir);
    await appendFile(files[1]!.path, 'not a record at all\n{"kind":"change","time":"x"}\n');
    // A record of the previous file copied in: its file key is another, so it does not open.
    const lines = (await readFile(files[0]!.path, 'utf8')).split('\n');
    await appendFile(files[1]!.path, `${lines[1]}\n`);
    await appendFile(files.at(-1)!.path, '61.AAAAAAAAAAAAAAAAAAAAAA.AAAA');
    const r = await queryAudit(dir, SECRET, { limit: 1000 });
    assert.equal(r.records.length, 60);
    assert.equal(r.skippedLines, 4);
  });

  it("reads nothing with another home's key, and plaintext files from before sealing as they are", async () => {
    const { dir } = await history();
    const other = await queryAudit(dir, new Uint8Array(randomBytes(32)), { limit: 1000 });
    assert.equal(other.records.length, 0);
    assert.ok(other.skippedLines >= 60);
    const legacy = join(dir, 'audit-2000-01-01T00-00-00.000Z.jsonl');
    await writeFile(
      legacy,
      `${JSON.stringify({ kind: 'action', time: '2000-01-01T00:00:00.000Z', action: 'x', writer: 'cli' })}\n`,
    );
    const r = await queryAudit(dir, SECRET, { limit: 1000 });
    assert.equal(r.records.length, 61);
    assert.equal(r.records[0]!.time, '2000-01-01T00:00:00.000Z');
  });

  it('answers an empty or missing folder with no records', async () => {
    assert.deepEqual(await queryAudit(join(root, 'nothing-here'), SECRET, { limit: 10 }), {
      records: [],
      skippedLines: 0,
      filesRead: 0,
    });
  });
});

describe('parseSince', () => {
  it('reads durations back from now and ISO times; refuses anything else', () => {
    const now = Date.UTC(2026, 10, 23, 20, 0, 0);
    const ms = (t: string) => {
      const r = parseSince(t, now);
      if (!r.ok) assert.fail(r.error);
      return r.ms;
    };
    assert.equal(ms('90s'), now - 90_000);
    assert.equal(ms('10m'), now - 600_000);
    assert.equal(ms('2h'), now - 7_200_000);
    assert.equal(ms('3d'), now - 3 * 86_400_000);
    assert.equal(ms('2026-11-23T19:00:00Z'), now - 3_600_000);
    assert.equal(ms('2026-11-23T21:00:00+02:00'), now - 3_600_000);
    assert.equal(ms('2026-11-23'), Date.UTC(2026, 10, 23));
    for (const bad of [
      '',
      '10',
      '10 minutes',
      '-5m',
      '1w',
      'yesterday',
      '2026-13-45T99:00:00Z',
      '2026-11-23T',
    ]) {
      const r = parseSince(bad, now);
      assert.equal(r.ok, false, bad);
      assert.ok(!r.ok && /neither a duration/.test(r.error));
    }
  });
});
