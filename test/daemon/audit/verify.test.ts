import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, readFile, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openAuditLog } from '../../../daemon/audit/audit-log.ts';
import { listAuditFiles } from '../../../daemon/audit/files.ts';
import { queryAudit } from '../../../daemon/audit/reader.ts';
import { type VerifyReport, verifyAudit } from '../../../daemon/audit/verify.ts';
import { AuditConfig } from '../../../daemon/config/storage-schema.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { tempRoot, type World, world } from '../persist/helpers.ts';

// The attacker with the home's files but not its key: every way of editing the audit log on
// disk (a record's value, a deleted, swapped or copied-in record, a cut tail, a deleted or
// foreign file) is detected by `verifyAudit` and named by file and record; what the daemon does
// itself (rotation, retention, restarts, a crash mid-write) is not.

const MIN = 60_000;
const root = tempRoot('hana-audit-verify-');

let n = 0;
async function openLog(dir: string, w: World, secret: Uint8Array, config: Record<string, unknown> = {}) {
  const { log, lines } = captureLogger();
  const audit = await openAuditLog({
    dir,
    config: AuditConfig.parse({ maxFileBytes: 2048, maxFiles: 1000, ...config }),
    store: w.store,
    log,
    secret,
    device: () => 'node-A',
    now: () => w.clock.now,
  });
  return { audit, lines };
}

/** `count` changes a minute apart over several files, written by one run of the log. */
async function history(count = 40, secret = new Uint8Array(randomBytes(32))) {
  const w = world({ '/a': { type: 'int' } });
  const dir = join(root(), `h-${++n}`);
  const { audit } = await openLog(dir, w, secret);
  for (let i = 1; i <= count; i++) {
    w.store.apply([{ path: '/a', value: i }], 'cli');
    await audit.flush();
    w.clock.now += MIN;
  }
  await audit.close();
  const files = await listAuditFiles(dir);
  assert.ok(files.length >= 4 || count < 20, `${files.length} files`);
  return { dir, secret, w, files };
}

async function linesOf(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').slice(0, -1);
}
const writeLines = (path: string, lines: string[]) => writeFile(path, lines.map((l) => `${l}\n`).join(''));

function broken(r: VerifyReport, code: string, file: string | null, index: number | null, message: RegExp) {
  assert.equal(r.ok, false, 'tampering went unnoticed');
  assert.equal(r.problem?.code, code, r.problem?.message);
  assert.equal(r.problem?.file, file);
  assert.equal(r.problem?.index, index);
  assert.match(r.problem!.message, message);
  assert.equal(r.problem!.message.split('\n').length, 1, 'one sentence');
}

describe('audit --verify: what the daemon does itself is intact', () => {
  it('a log written over several files verifies, with its record count and range', async () => {
    const { dir, secret, files } = await history();
    const r = await verifyAudit(dir, secret);
    assert.equal(r.ok, true, r.problem?.message);
    assert.equal(r.records, 40);
    assert.equal(r.files, files.length);
    assert.deepEqual([r.first, r.last], [1, 40]);
    assert.equal(r.pruned, null);
  });

  it('the chain continues across restarts: each run starts a file anchored to the last record', async () => {
    const { dir, secret, w } = await history(10);
    for (let run = 0; run < 3; run++) {
      const { audit, lines } = await openLog(dir, w, secret);
      assert.equal(lines.filter((l) => l.event === 'audit.tampered').length, 0);
      w.store.apply([{ path: '/a', value: 100 + run }], 'cli');
      await audit.close();
    }
    const r = await verifyAudit(dir, secret);
    assert.equal(r.ok, true, r.problem?.message);
    assert.deepEqual([r.first, r.last, r.records], [1, 13, 13]);
  });

  it('retention pruning old files reads as "pruned before <date>", not as tampering', async () => {
    const { dir, secret, w } = await history();
    const before = (await listAuditFiles(dir)).length;
    // maxFiles 2: the next file start prunes all but the newest two.
    const { audit } = await openLog(dir, w, secret, { maxFiles: 2 });
    w.store.apply([{ path: '/a', value: 999 }], 'cli');
    await audit.close();
    const files = await listAuditFiles(dir);
    assert.ok(files.length === 2 && before > 2, `${before} → ${files.length} files`);
    const r = await verifyAudit(dir, secret);
    assert.equal(r.ok, true, r.problem?.message);
    assert.ok(r.pruned && r.pruned.records > 0 && r.first === r.pruned.records + 1);
    assert.match(r.pruned.before!, /^\d{4}-\d{2}-\d{2}T/);
    assert.equal(r.last, 41);
  });

  it('a record cut short by a crash at the end of the newest file is noted, not a break', async () => {
    const { dir, secret, files } = await history();
    const last = files.at(-1)!.path;
    await writeFile(last, `${await readFile(last, 'utf8')}41.AAAAAAAAAAAAAAAAAAAAAA.AAA`);
    const r = await verifyAudit(dir, secret);
    assert.equal(r.ok, true, r.problem?.message);
    assert.deepEqual(r.torn, [{ file: files.at(-1)!.name }]);
  });
});

describe('audit --verify: the attacker without the key', () => {
  it("names an edited record's value by file and index", async () => {
    const { dir, secret, files } = await history();
    const f = files[2]!;
    const lines = await linesOf(f.path);
    const line = lines[2]!; // the second record
    const at = line.length - 30; // inside the ciphertext
    lines[2] = line.slice(0, at) + (line[at] === 'A' ? 'B' : 'A') + line.slice(at + 1);
    await writeLines(f.path, lines);
    broken(await verifyAudit(dir, secret), 'audit-edited', f.name, 2, /record 2 of .* \(#\d+\) was edited/);
  });

  it('names a deleted record and where it belonged', async () => {
    const { dir, secret, files } = await history();
    const f = files[1]!;
    const lines = await linesOf(f.path);
    lines.splice(2, 1);
    await writeLines(f.path, lines);
    broken(
      await verifyAudit(dir, secret),
      'audit-deleted',
      f.name,
      2,
      /record #\d+ was deleted: it belongs between records 1 and 2 of /,
    );
  });

  it('names two swapped records as reordered', async () => {
    const { dir, secret, files } = await history();
    const f = files[1]!;
    const lines = await linesOf(f.path);
    assert.ok(lines.length >= 3, 'two records to swap');
    [lines[1], lines[2]] = [lines[2]!, lines[1]!];
    await writeLines(f.path, lines);
    broken(
      await verifyAudit(dir, secret),
      'audit-reordered',
      f.name,
      1,
      /comes after it \(record 2\): records were reordered/,
    );
  });

  it('names records cut from the end of the log, at a record boundary or mid-record', async () => {
    for (const cut of ['boundary', 'mid-record'] as const) {
      const { dir, secret, files } = await history();
      const f = files.at(-1)!;
      const lines = await linesOf(f.path);
      const kept = lines.slice(0, -1);
      await writeFile(
        f.path,
        kept.map((l) => `${l}\n`).join('') + (cut === 'mid-record' ? lines.at(-1)!.slice(0, 20) : ''),
      );
      broken(
        await verifyAudit(dir, secret),
        'audit-truncated',
        f.name,
        null,
        /records? #40 .*were cut from the end of the log/,
      );
    }
  });

  it('names a middle file cut short, and a deleted middle file', async () => {
    const a = await history();
    const mid = a.files[1]!;
    const lines = await linesOf(mid.path);
    await writeLines(mid.path, lines.slice(0, -1));
    broken(
      await verifyAudit(a.dir, a.secret),
      'audit-truncated',
      a.files[2]!.name,
      0,
      new RegExp(`missing between ${mid.name} and ${a.files[2]!.name}: ${mid.name} was cut short`),
    );
    const b = await history();
    await unlink(b.files[2]!.path);
    broken(
      await verifyAudit(b.dir, b.secret),
      'audit-deleted',
      b.files[3]!.name,
      0,
      new RegExp(`${b.files[2]!.name}, which held them, was deleted`),
    );
  });

  it("names a file copied from another home, and refuses another home's key", async () => {
    const mine = await history();
    const theirs = await history(40);
    // Their newest file under a name that sorts last here.
    const copied = mine.files.at(-1)!.name.replace(/\.\d{3}Z/, '.999Z');
    await copyFile(theirs.files.at(-1)!.path, join(mine.dir, copied));
    broken(
      await verifyAudit(mine.dir, mine.secret),
      'audit-foreign',
      copied,
      0,
      /does not authenticate with this home's audit key: it was copied from another home \(it names device node-A\)/,
    );

    const other = await verifyAudit(theirs.dir, new Uint8Array(randomBytes(32)));
    broken(
      other,
      'audit-foreign',
      theirs.files[0]!.name,
      0,
      /does not authenticate with this home's audit key/,
    );
  });

  it('names a deleted or foreign head, so a cut tail cannot hide behind it', async () => {
    const a = await history();
    await unlink(join(a.dir, 'head'));
    broken(await verifyAudit(a.dir, a.secret), 'audit-head-missing', 'head', null, /audit\/head is missing/);
    const b = await history();
    const c = await history();
    await copyFile(join(c.dir, 'head'), join(b.dir, 'head'));
    broken(await verifyAudit(b.dir, b.secret), 'audit-head-invalid', 'head', null, /does not authenticate/);
  });

  it('at start, a log cut short is a security event, and the new records keep the gap visible', async () => {
    const { dir, secret, w, files } = await history();
    const f = files.at(-1)!;
    await writeLines(f.path, (await linesOf(f.path)).slice(0, -2));
    const { audit, lines } = await openLog(dir, w, secret);
    const event = lines.find((l) => l.event === 'audit.tampered');
    assert.equal(event?.code, 'audit-truncated');
    assert.match(String(event?.msg), /audit records #39 to #40 .* are missing from the end of the log/);
    w.store.apply([{ path: '/a', value: 77 }], 'cli');
    await audit.close();
    broken(
      await verifyAudit(dir, secret),
      'audit-truncated',
      (await listAuditFiles(dir)).at(-1)!.name,
      0,
      /records #39 to #40 are missing between .*was cut short/,
    );
    // Reading still works: the 38 left and the new one.
    assert.equal((await queryAudit(dir, secret, { limit: 1000 })).records.length, 39);
  });

  it('emptying every file is noticed: the head still names the newest record', async () => {
    const { dir, secret, files } = await history(5);
    for (const f of files) await truncate(f.path, 0);
    const r = await verifyAudit(dir, secret);
    broken(
      r,
      'audit-truncated',
      files.at(-1)!.name,
      null,
      /every audit file is gone, but the head names record #5/,
    );
  });
});
