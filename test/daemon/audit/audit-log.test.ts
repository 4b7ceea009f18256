import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { memoSelector, openAuditLog, sourceSelector } from '../../../daemon/audit/audit-log.ts';
import { auditFileName, listAuditFiles, parseAuditFileName } from '../../../daemon/audit/files.ts';
import { queryAudit } from '../../../daemon/audit/reader.ts';
import type { AuditRecord } from '../../../daemon/audit/record.ts';
import { AuditConfig } from '../../../daemon/config/storage-schema.ts';
import { captureLogger } from '../../helpers/log-capture.ts';
import { type World, world } from '../persist/helpers.ts';

// The audit log on real files with an injected clock: what is recorded, rotation by size and
// age, pruning by age and count, and a write path that never blocks or throws.

const HOUR = 3_600_000;
let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hana-audit-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
const SECRET = new Uint8Array(randomBytes(32));
async function setup(config: Record<string, unknown> = {}, w: World = world()) {
  const dir = join(root, `audit-${++n}`);
  const { log, lines } = captureLogger();
  const audit = await openAuditLog({
    dir,
    config: AuditConfig.parse(config),
    store: w.store,
    log,
    secret: SECRET,
    device: () => 'node-A',
    now: () => w.clock.now,
  });
  return { dir, audit, w, lines };
}

async function recordsIn(dir: string): Promise<AuditRecord[]> {
  const r = await queryAudit(dir, SECRET, { limit: 1_000_000 });
  assert.equal(r.skippedLines, 0, 'every line authenticates');
  return r.records;
}

const counter = (w: World) => {
  let i = 0;
  return (source = 'cli') => w.store.apply([{ path: '/c', value: ++i % 100 }], source);
};

describe('audit: what is recorded', () => {
  it('coalesces a writer at frame rate: first change at once, then one record per window with the last value and the count', async () => {
    const { dir, audit, w } = await setup({ sources: ['plugin', 'peer', 'cli'] });
    // An LFO at 20 writes a second for 3 s, with a person's one write in the middle.
    for (let i = 0; i < 60; i++) {
      w.store.apply([{ path: '/a', value: i + 10 }], 'plugin:lfo');
      if (i === 30) w.store.apply([{ path: '/c', value: 7 }], 'cli');
      w.clock.now += 50;
    }
    await audit.flush();
    const recs = (await recordsIn(dir)).filter((r) => r.kind === 'change');
    assert.deepEqual(
      recs.map((r) => `${r.writer} ${r.path} ${r.old}→${r.new}${r.coalesced ? ` ×${r.coalesced}` : ''}`),
      [
        'plugin:lfo /a 1→10',
        'plugin:lfo /a 10→29 ×19',
        'plugin:lfo /a 29→30',
        'cli /c 0→7',
        'plugin:lfo /a 30→49 ×19',
        'plugin:lfo /a 49→50',
        'plugin:lfo /a 50→69 ×19',
      ],
    );
    assert.equal(recs.length, 7, '7 records for 61 writes');
    await audit.close();
  });

  it('records changes by peers, the operator and scenes (not OSC, MIDI or plugins by default), with time, path, old, new, writer, node and stamp', async () => {
    const { dir, audit, w } = await setup();
    w.store.apply([{ path: '/a', value: 2 }], 'cli');
    w.store.apply([{ path: '/a', value: 2 }], 'cli'); // a re-send: no change, no record
    w.store.apply([{ path: '/a', value: 3 }], 'osc:udp:127.0.0.1:9000');
    w.store.apply([{ path: '/a', value: 4 }], 'midi:nanoKONTROL2');
    w.store.merge('/b', {
      value: true,
      stamp: { t: w.clock.now + 5, c: 0, node: 'node-B' },
      source: 'peer:node-B',
    });
    w.clock.now += 1000;
    w.store.apply(
      [
        { path: '/a', value: 5 },
        { path: '/s', value: 'x' },
      ],
      'scene:intro',
    );
    w.store.apply([{ path: '/t', value: null }], 'plugin:lfo');
    audit.action('scene.load', 'cli', { name: 'intro', applied: 2 });
    await audit.flush();
    const recs = await recordsIn(dir);
    assert.deepEqual(
      recs.map((r) =>
        r.kind === 'change' ? `${r.writer} ${r.path} ${r.old}→${r.new}` : `${r.writer} [${r.action}]`,
      ),
      [
        'cli /a 1→2',
        'peer:node-B /b false→true',
        'scene:intro /a 4→5',
        'scene:intro /s →x',
        'cli [scene.load]',
      ],
    );
    const peer = recs[1]!;
    assert.equal(peer.kind, 'change');
    if (peer.kind === 'change') {
      assert.equal(peer.node, 'node-B');
      assert.deepEqual(peer.stamp, { t: w.clock.now - 1000 + 5, c: 0, node: 'node-B' });
      assert.equal(peer.time, new Date(w.clock.now - 1000).toISOString(), 'time from the injected clock');
    }
    const files = await readdir(dir);
    assert.equal((await listAuditFiles(dir)).length, 1);
    assert.deepEqual(files.sort(), [(await listAuditFiles(dir))[0]!.name, 'head']);
    for (const f of files) assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600);
    const raw = await readFile(join(dir, files[0]!), 'utf8');
    for (const secret of ['node-B', 'intro', 'scene.load', '"x"'])
      assert.equal(raw.includes(secret), false, `${secret} is not readable at rest`);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal(audit.status().records, 5);
    await audit.close();
  });

  it('selects writers by prefix up to a colon; "*" selects all', () => {
    const osc = sourceSelector(['osc:udp', 'cli']);
    assert.equal(osc('osc:udp:10.0.0.2:9000'), true);
    assert.equal(osc('osc:tcp:10.0.0.2:9000'), false);
    assert.equal(osc('osc:udpx'), false);
    assert.equal(osc('cli'), true);
    assert.equal(osc('client'), false);
    const all = sourceSelector(['*']);
    assert.equal(all('midi:x'), true);
  });

  it('asks the prefixes once per writer, however the writers alternate, and answers the same', () => {
    let asked = 0;
    const inner = sourceSelector(['osc:udp', 'cli']);
    const select = memoSelector((s) => {
      asked++;
      return inner(s);
    }, 8);
    const apps = [9000, 9001, 9002, 9003].map((p) => `osc:udp:127.0.0.1:${p}`);
    for (let i = 0; i < 1000; i++) assert.equal(select(apps[i % 4]!), true);
    assert.equal(select('osc:tcp:127.0.0.1:9000'), false);
    assert.equal(asked, 5, 'four apps and one other writer');
    for (let i = 0; i < 20; i++) select(`midi:${i}`);
    assert.equal(select('osc:udp:127.0.0.1:9000'), true, 'past its bound it starts over, same answers');
  });

  it('records OSC and MIDI writers when the config names them', async () => {
    const { dir, audit, w } = await setup({ sources: ['osc', 'midi'] });
    w.store.apply([{ path: '/a', value: 3 }], 'osc:tcp:127.0.0.1:5000');
    w.store.apply([{ path: '/a', value: 4 }], 'midi:pad');
    w.store.apply([{ path: '/a', value: 5 }], 'cli');
    await audit.close();
    assert.deepEqual(
      (await recordsIn(dir)).map((r) => r.writer),
      ['osc:tcp:127.0.0.1:5000', 'midi:pad'],
    );
  });
});

describe('audit: rotation and pruning', () => {
  it('starts a new file before one would pass maxFileBytes, and keeps every record in order', async () => {
    // One record per write here: coalescing (tested below) would fold these into a few.
    const { dir, audit, w } = await setup({ maxFileBytes: 1024, maxFiles: 100, coalesceMs: 0 });
    const write = counter(w);
    for (let i = 0; i < 40; i++) {
      write();
      w.clock.now += 1;
      if (i % 7 === 0) await audit.flush();
    }
    await audit.close();
    const files = await listAuditFiles(dir);
    assert.ok(files.length >= 5, `${files.length} files`);
    for (const f of files) assert.ok((await stat(f.path)).size <= 1024, `${f.name} is over the limit`);
    const recs = await recordsIn(dir);
    assert.equal(recs.length, 40);
    assert.deepEqual(
      recs.map((r) => (r.kind === 'change' ? r.new : -1)),
      Array.from({ length: 40 }, (_, i) => (i + 1) % 100),
    );
  });

  it('starts a new file after fileHours, and prunes files whose records are all older than maxAgeHours', async () => {
    const { dir, audit, w } = await setup({ fileHours: 1, maxAgeHours: 3, maxFiles: 100 });
    const write = counter(w);
    const start = w.clock.now;
    for (let h = 0; h < 6; h++) {
      write();
      await audit.flush();
      w.clock.now += HOUR + 1;
    }
    // Files started at 0, 1, 2, 3, 4, 5 h (plus ms); now is 6 h: every record of the first two
    // files is more than 3 h old (the third's newest is younger than its successor's start).
    const starts = (await listAuditFiles(dir)).map((f) => Math.round((f.start - start) / HOUR));
    assert.deepEqual(starts, [2, 3, 4, 5]);
    // At 8 h (less a little) the cut-off is just under 5 h: the files of 2 h and 3 h end before it.
    w.clock.now = start + 8 * HOUR - 100;
    const deleted = await audit.prune();
    assert.equal(deleted.length, 2);
    assert.deepEqual(
      (await listAuditFiles(dir)).map((f) => Math.round((f.start - start) / HOUR)),
      [4, 5],
    );
    assert.equal(
      audit.status().file,
      (await listAuditFiles(dir)).at(-1)!.path,
      'the current file is never pruned',
    );
    w.clock.now += 100 * HOUR;
    await audit.prune();
    assert.equal((await listAuditFiles(dir)).length, 1, 'not even when it is old');
    await audit.close();
  });

  it('keeps at most maxFiles files, the newest', async () => {
    const { dir, audit, w } = await setup({ maxFileBytes: 1024, maxFiles: 3 });
    const write = counter(w);
    for (let i = 0; i < 60; i++) {
      write();
      w.clock.now += 1;
      await audit.flush();
    }
    await audit.close();
    const files = await listAuditFiles(dir);
    assert.equal(files.length, 3);
    const recs = await recordsIn(dir);
    const last = recs.at(-1)!;
    assert.ok(last.kind === 'change');
    assert.equal(last.new, 60);
  });

  it('prunes on start-up what an earlier run left past its age, judging the newest old file by its last record', async () => {
    const w = world();
    const dir = join(root, `audit-${++n}`);
    await mkdir(dir);
    const old = w.clock.now - 100 * HOUR;
    const line = (t: number) =>
      `${JSON.stringify({ kind: 'action', time: new Date(t).toISOString(), action: 'x', writer: 'cli' })}\n`;
    // Plaintext files from before sealing: sealed at open, then pruned like any other.
    await writeFile(join(dir, auditFileName(old, 'jsonl')), line(old));
    await writeFile(
      join(dir, auditFileName(old + HOUR, 'jsonl')),
      line(old + HOUR) + line(w.clock.now - HOUR) + '{"torn',
    );
    await writeFile(join(dir, 'audit-notes.txt'), 'not an audit file');
    const { log } = captureLogger();
    const audit = await openAuditLog({
      dir,
      config: AuditConfig.parse({}),
      store: w.store,
      log,
      secret: SECRET,
      device: () => 'node-A',
      now: () => w.clock.now,
    });
    w.store.apply([{ path: '/c', value: 1 }], 'cli');
    await audit.flush();
    const names = (await readdir(dir)).sort();
    assert.deepEqual(
      names,
      [auditFileName(old + HOUR), auditFileName(w.clock.now), 'audit-notes.txt', 'head'].sort(),
    );
    const recs = await recordsIn(dir);
    assert.deepEqual(
      recs.map((r) => Date.parse(r.time)),
      [old + HOUR, w.clock.now - HOUR, w.clock.now],
      'the migrated records, without the torn line, then the new one',
    );
    await audit.close();
  });
});

describe('audit: never in the way', () => {
  it('drops records beyond queueLimit, counts them and logs once, without touching the write path', async () => {
    const { dir, audit, w, lines } = await setup({ queueLimit: 16, coalesceMs: 0 });
    const write = counter(w);
    for (let i = 0; i < 100; i++) write();
    assert.equal(w.store.get('/c')!.value, 100 % 100, 'every write applied');
    await audit.flush();
    assert.equal(audit.status().dropped, 84);
    assert.equal(audit.status().records, 16);
    assert.equal(lines.filter((l) => l.event === 'audit.dropped').length, 1);
    assert.equal((await recordsIn(dir)).length, 16);
    await audit.close();
  });

  it('counts a failing disk as failures and drops, and keeps the store working', async () => {
    const { dir, audit, w, lines } = await setup({ maxFileBytes: 1024 });
    const write = counter(w);
    write();
    await audit.flush();
    // The folder becomes a file: the next file cannot be opened.
    await rm(dir, { recursive: true });
    await writeFile(dir, 'in the way');
    for (let i = 0; i < 30; i++) {
      write();
      await audit.flush();
    }
    assert.ok(audit.status().failures >= 1);
    assert.ok(audit.status().dropped >= 1);
    assert.equal(lines.filter((l) => l.event === 'audit.write-failed').length, 1, 'logged once per interval');
    assert.equal(w.store.get('/c')!.value, 31);
    await audit.close();
    await rm(dir);
  });

  it('writes what is queued on close, and records nothing after', async () => {
    const { dir, audit, w } = await setup();
    w.store.apply([{ path: '/c', value: 9 }], 'cli');
    await audit.close();
    w.store.apply([{ path: '/c', value: 10 }], 'cli');
    audit.action('late', 'cli');
    const recs = await recordsIn(dir);
    assert.equal(recs.length, 1);
  });
});

describe('audit file names', () => {
  it('round-trip a start time and sort chronologically', () => {
    const t = Date.UTC(2026, 10, 23, 17, 55, 0, 123);
    assert.equal(auditFileName(t), 'audit-2026-11-23T17-55-00.123Z.sealed');
    assert.equal(auditFileName(t, 'jsonl'), 'audit-2026-11-23T17-55-00.123Z.jsonl');
    assert.deepEqual(parseAuditFileName(auditFileName(t)), { start: t, sealed: true });
    assert.deepEqual(parseAuditFileName(auditFileName(t, 'jsonl')), { start: t, sealed: false });
    assert.equal(parseAuditFileName('audit-2026-11-23T17-55-00.123Z.sealed.tmp'), undefined);
    assert.equal(parseAuditFileName('audit-nonsense.sealed'), undefined);
    const names = [t + 86_400_000, t, t + 1].map((x) => auditFileName(x)).sort();
    assert.deepEqual(
      names.map((x) => parseAuditFileName(x)?.start),
      [t, t + 1, t + 86_400_000],
    );
  });
});
