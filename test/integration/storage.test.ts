import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { auditFileName } from '../../daemon/audit/files.ts';
import type { AuditRecord } from '../../daemon/audit/record.ts';
import { IMMEDIATE, oscMessage } from '../../protocols/osc/codec.ts';
import { shortId } from '../../trust-store/device-id.ts';
import { seal } from '../../trust-store/sealed-file.ts';
import { control, eventually, makeHome, runCli, startDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { oscSender } from '../helpers/osc-client.ts';

// Scenes, the audit log and persisted state in real daemons (child processes with temp homes),
// driven through the `hana` CLI and real OSC packets: what an operator types, what survives a
// restart or a SIGKILL, and what a wrong passphrase or a damaged file looks like.

const LOOPBACK_PEERS = { bind: '127.0.0.1', port: 0, discovery: false };
const sha = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

type AuditAnswer = { records: AuditRecord[]; skippedLines: number };
async function auditJson(d: TestDaemon, ...args: string[]): Promise<AuditAnswer> {
  const r = await d.cli('audit', '--json', ...args);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}
const changes = (a: AuditAnswer) =>
  a.records.flatMap((r) => (r.kind === 'change' ? [`${r.writer} ${r.path} ${r.old}→${r.new}`] : []));

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** `hana start` in a home whose config.json is already written; only for starts that must fail. */
function startMustFail(home: string) {
  return runCli(['start', '--home', home, '--osc-port', '0', '--log-json']);
}

describe('hana scene and hana audit', () => {
  it('saves, lists, loads and deletes scenes; the audit log shows the operator and the scene with old and new values', async () => {
    const d = await startDaemon();
    try {
      assert.equal((await d.cli('set', '/layer/1/opacity', '0.25')).code, 0);
      // A scene holds every declared parameter but the triggers.
      const declared = JSON.parse((await d.cli('params', '--json')).stdout) as { spec: { type: string } }[];
      const n = declared.filter((p) => p.spec.type !== 'trigger').length;
      const save = await d.cli('scene', 'save', 'Intro');
      assert.equal(save.code, 0, save.stderr);
      assert.match(save.stdout, new RegExp(`^saved scene intro: ${n} parameter\\(s\\)`));
      const again = await d.cli('scene', 'save', 'intro');
      assert.equal(again.code, 1);
      assert.match(again.stderr, /scene "intro" already exists: add --force to replace it/);
      assert.equal((await d.cli('set', '/layer/1/opacity', '0.75')).code, 0);
      const only = await d.cli('scene', 'save', 'dim', '--only', '/layer/*/opacity');
      assert.match(only.stdout, /saved scene dim: 4 parameter/);

      const load = await d.cli('scene', 'load', 'intro');
      assert.equal(load.code, 0, load.stderr);
      assert.match(load.stdout, new RegExp(`loaded scene intro .*: ${n} value\\(s\\) applied, 1 changed`));
      assert.equal((await d.values('/layer/1/opacity'))['/layer/1/opacity'], 0.25);

      const list = JSON.parse((await d.cli('scene', 'list', '--json')).stdout);
      assert.deepEqual(
        list.map((s: { name: string; params: number }) => [s.name, s.params]),
        [
          ['dim', 4],
          ['intro', n],
        ],
      );
      assert.match((await d.cli('scene', 'list')).stdout, /NAME\s+SAVED\s+PARAMS\s+SIZE\ndim\s+\d{4}-/);

      const all = await auditJson(d);
      assert.deepEqual(changes(all), [
        'cli /layer/1/opacity 1→0.25',
        'cli /layer/1/opacity 0.25→0.75',
        'scene:intro /layer/1/opacity 0.75→0.25',
      ]);
      const actions = all.records.flatMap((r) => (r.kind === 'action' ? [`${r.writer} ${r.action}`] : []));
      assert.deepEqual(actions, ['cli scene.save', 'cli scene.save', 'cli scene.load']);
      const loadRec = all.records.at(-1)!;
      assert.ok(
        loadRec.kind === 'action' && loadRec.detail?.name === 'intro' && loadRec.detail.changed === 1,
      );

      assert.deepEqual(changes(await auditJson(d, '--writer', 'scene:')), [
        'scene:intro /layer/1/opacity 0.75→0.25',
      ]);
      assert.deepEqual(changes(await auditJson(d, '--path', '/layer/*/opacity', '--limit', '1')), [
        'scene:intro /layer/1/opacity 0.75→0.25',
      ]);
      assert.equal((await auditJson(d, '--since', '1h')).records.length, 6);
      assert.equal(
        (await auditJson(d, '--since', new Date(Date.now() + 60_000).toISOString())).records.length,
        0,
      );
      const text = await d.cli('audit', '--since', '10m');
      assert.match(text.stdout, /TIME\s+WRITER\s+WHAT\s+CHANGE/);
      assert.match(text.stdout, /scene:intro\s+\/layer\/1\/opacity\s+0\.75 → 0\.25/);
      const badSince = await d.cli('audit', '--since', 'yesterday');
      assert.equal(badSince.code, 2);
      assert.match(badSince.stderr, /neither a duration .* nor an ISO time/);

      const del = await d.cli('scene', 'delete', 'intro');
      assert.equal(del.code, 0);
      const gone = await d.cli('scene', 'load', 'intro');
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /no scene "intro" \(see `hana scene list`\)/);
      const badName = await d.cli('scene', 'save', '../etc');
      assert.equal(badName.code, 1);
      assert.match(badName.stderr, /is not a scene name/);
      assert.equal((await d.cli('scene', 'load')).code, 2);
      assert.equal((await d.cli('scene', 'load', 'x', '--force')).code, 2);

      const s = await d.status();
      assert.equal(s.storage.scenes, 1);
      assert.equal(s.storage.key.kind, 'keyfile');
      // The CLI answers faster than the save delay (250 ms): wait for the save, bounded.
      assert.ok(await eventually(async () => (await d.status()).storage.persist!.saves >= 1, 100, 50));
      assert.ok(s.storage.audit!.records >= 6);
      assert.equal(s.storage.audit!.dropped, 0);
      assert.equal((await stat(join(d.home, 'storage.key'))).mode & 0o777, 0o600);
      assert.equal(d.logs.filter((l) => l.event === 'storage.key-created').length, 1);
    } finally {
      await d.stop();
    }
  });

  it('fails `scene load` of a tampered scene with a clear error, applies nothing, and lists it as unreadable', async () => {
    const d = await startDaemon();
    try {
      assert.equal((await d.cli('set', '/tempo', '140')).code, 0);
      assert.equal((await d.cli('scene', 'save', 'verse')).code, 0);
      assert.equal((await d.cli('set', '/tempo', '90')).code, 0);
      const file = join(d.home, 'scenes', 'verse.scene');
      const bytes = await readFile(file);
      bytes[bytes.length - 30]! ^= 0x04;
      await writeFile(file, bytes);
      const load = await d.cli('scene', 'load', 'verse');
      assert.equal(load.code, 1);
      assert.match(
        load.stderr,
        /^hana: scene "verse" cannot be read: .*verse\.scene: cannot decrypt: .*modified or damaged.*hana scene delete verse/,
      );
      assert.equal((await d.values('/tempo'))['/tempo'], 90);
      const list = (await d.cli('scene', 'list')).stdout;
      assert.match(list, /verse\s+UNREADABLE/);
      assert.match(list, /wrong-key-or-tampered/);
      assert.ok(d.logs.some((l) => l.event === 'scene.refused' && l.security === true && l.name === 'verse'));
      const failed = (await auditJson(d)).records.at(-1)!;
      assert.ok(failed.kind === 'action' && failed.action === 'scene.load-failed');
    } finally {
      await d.stop();
    }
  });
});

describe('persisted state', () => {
  const G = Object.fromEntries(
    Array.from({ length: 8 }, (_, i) => [`/g/${i + 1}`, { type: 'int', min: 0, max: 1_000_000 }]),
  );

  it('survives a SIGKILL in the middle of a stream of writes with every value from one complete save', async () => {
    const config = { params: G };
    const d = await startDaemon({ config });
    const s = await oscSender(d.udpPort);
    let sent = 0;
    try {
      // Each bundle sets all eight parameters to k in one atomic batch, so any complete save
      // holds eight equal values; a torn or mixed save would not.
      const bundle = (k: number) => ({
        kind: 'bundle' as const,
        timetag: IMMEDIATE,
        elements: Object.keys(G).map((p) => oscMessage(p, [{ type: 'i', value: k }])),
      });
      // Stream until three saves have landed: sending outruns the save delay, so each round
      // yields a timer tick; bounded in rounds (and so in time).
      for (let round = 0; round < 400 && (await d.status()).storage.persist!.saves < 3; round++) {
        for (let i = 0; i < 25; i++) await s.send(bundle(++sent));
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok((await d.status()).storage.persist!.saves >= 3, 'saves happened during the stream');
      // Keep streaming and kill the daemon while packets are still arriving. The stream runs
      // until 50 packets after the kill, not for a fixed count: a fixed 3,000 were all sent
      // before the kill on a fast run. Bounded in count all the same.
      let killed = false;
      const streaming = (async () => {
        for (let i = 0, after = 0; i < 200_000 && after < 50; i++) {
          if (killed) after++;
          await s.send(bundle(++sent)).catch(() => {});
          if (i % 50 === 0) await new Promise((r) => setImmediate(r));
        }
      })();
      await new Promise((r) => setTimeout(r, 150));
      const atKill = sent;
      assert.equal(await d.stop('SIGKILL', { keepHome: true }), null);
      killed = true;
      await streaming;
      assert.ok(atKill < sent, 'the stream was still running when the daemon was killed');
    } finally {
      s.close();
    }

    const again = await startDaemon({ home: d.home, config });
    try {
      const values = Object.values(await again.values('/g/*')) as number[];
      assert.equal(values.length, 8);
      assert.equal(new Set(values).size, 1, `one save, not a mix: ${values.join(', ')}`);
      assert.ok(values[0]! >= 1 && values[0]! <= sent, `${values[0]} of ${sent} sent`);
      const restored = again.logs.find((l) => l.event === 'persist.restored');
      assert.equal(restored?.restored, 8);
      assert.deepEqual(
        (await readdir(again.home)).filter((f) => f.endsWith('.tmp')),
        [],
        'no temp file left beside the state',
      );
    } finally {
      await again.stop();
    }
  });

  it('saves on a clean stop even before the save delay, and restores values with their writers', async () => {
    const config = { storage: { saveDelayMs: 60_000 } };
    const d = await startDaemon({ config });
    assert.equal((await d.cli('set', '/scene', '42')).code, 0);
    assert.equal((await d.cli('set', '/layer/2/color', '#00ff00')).code, 0);
    assert.equal(await d.stop('SIGTERM', { keepHome: true }), 0);
    const again = await startDaemon({ home: d.home, config });
    try {
      const params = JSON.parse((await again.cli('get', '//*', '--json')).stdout) as {
        path: string;
        value: unknown;
        source: string;
      }[];
      const by = Object.fromEntries(params.map((p) => [p.path, p]));
      assert.equal(by['/scene']!.value, 42);
      assert.equal(by['/scene']!.source, 'cli');
      assert.equal(by['/layer/2/color']!.value, '#00ff00ff');
      assert.equal(by['/tempo']!.source, 'default');
      // Restoring is not a new change: the audit log shows it once, as an action.
      const a = await auditJson(again);
      assert.deepEqual(changes(a), ['cli /scene 0→42', 'cli /layer/2/color #ffffffff→#00ff00ff']);
      assert.ok(
        a.records.some((r) => r.kind === 'action' && r.action === 'state.restore' && r.writer === 'daemon'),
      );
    } finally {
      await again.stop();
    }
  });

  it('with a passphrase: a wrong or missing one stops the daemon with a clear error, the file untouched; a tampered file is an error, never a reset', async () => {
    const home = await makeHome();
    const passFile = join(home, 'pass');
    const config = { storage: { key: { kind: 'passphrase', file: 'pass' } } };
    const writeConfig = (c: unknown) =>
      writeFile(join(home, 'config.json'), JSON.stringify({ ...(c as object), peers: LOOPBACK_PEERS }));
    try {
      await writeFile(passFile, 'correct horse battery\n', { mode: 0o600 });
      const d = await startDaemon({ home, config });
      assert.equal((await d.cli('set', '/tempo', '128')).code, 0);
      assert.equal((await d.cli('scene', 'save', 'show')).code, 0);
      assert.equal((await d.status()).storage.key.kind, 'passphrase');
      assert.equal(await d.stop('SIGTERM', { keepHome: true }), 0);
      const state = join(home, 'state.sealed');
      const before = await sha(state);
      await assert.rejects(stat(join(home, 'storage.key')), 'no key file with a passphrase');

      await writeFile(passFile, 'wrong horse\n', { mode: 0o600 });
      const wrong = await startMustFail(home);
      assert.equal(wrong.code, 1);
      assert.match(
        wrong.stderr,
        /^hana: could not start: the passphrase from .*pass is not the one this home was set up with \(it does not open .*storage\.check\): start again with the right passphrase/,
      );
      assert.equal(wrong.stderr.trim().split('\n').length, 1, 'one line');
      const refusedLog = jsonLines(wrong.stdout).find((l) => l.event === 'storage.refused');
      assert.equal(refusedLog?.security, true);
      assert.equal(refusedLog?.code, 'wrong-key');
      assert.equal(await sha(state), before, 'the state file is untouched');

      await writeConfig({ storage: { key: { kind: 'passphrase', env: 'HANA_TEST_UNSET_PASSPHRASE' } } });
      const missing = await startMustFail(home);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /HANA_TEST_UNSET_PASSPHRASE, which is not set/);

      await writeConfig(config);
      await writeFile(passFile, 'correct horse battery\n', { mode: 0o600 });
      const good = await readFile(state);
      const flipped = Buffer.from(good);
      flipped[50]! ^= 0x10;
      await writeFile(state, flipped);
      const tampered = await startMustFail(home);
      assert.equal(tampered.code, 1);
      assert.match(tampered.stderr, /state\.sealed: cannot decrypt: .*modified or damaged/);
      assert.deepEqual(await readFile(state), flipped, 'not reset, not replaced');

      await writeFile(state, good);
      const back = await startDaemon({ home, config });
      try {
        assert.equal((await back.values('/tempo'))['/tempo'], 128);
        assert.equal((await back.cli('scene', 'load', 'show')).code, 0);
      } finally {
        await back.stop('SIGTERM', { keepHome: true });
      }
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('audit files on disk', () => {
  it('rotate by size, keep at most maxFiles, and drop what an earlier run left past maxAgeHours', async () => {
    const old = Date.now() - 100 * 3_600_000;
    // A sealed record is ≈ 400 bytes and a file's header ≈ 360: 2 KiB files hold four records.
    const config = { audit: { sources: ['osc', 'cli'], maxFileBytes: 2048, maxFiles: 3 } };
    const d = await startDaemon({
      config,
      // Plaintext files an older hana left: sealed at start, then pruned by age.
      seed: async (home) => {
        await mkdir(join(home, 'audit'), { mode: 0o700 });
        for (const t of [old, old + 60_000]) {
          const line = { kind: 'action', time: new Date(t).toISOString(), action: 'x', writer: 'cli' };
          await writeFile(join(home, 'audit', auditFileName(t, 'jsonl')), `${JSON.stringify(line)}\n`, {
            mode: 0o600,
          });
        }
      },
    });
    const s = await oscSender(d.udpPort);
    try {
      for (let i = 1; i <= 40; i++) await s.send(oscMessage('/scene', [{ type: 'i', value: i }]));
      assert.ok(await eventually(async () => (await d.status()).storage.audit!.records === 40, 100, 50));
      const dir = join(d.home, 'audit');
      const files = (await readdir(dir)).filter((f) => f.startsWith('audit-')).sort();
      assert.equal(files.length, 3, files.join(', '));
      for (const t of [old, old + 60_000])
        for (const kind of ['sealed', 'jsonl'] as const) assert.ok(!files.includes(auditFileName(t, kind)));
      for (const f of files) {
        const st = await stat(join(dir, f));
        assert.ok(st.size <= 2048, `${f}: ${st.size} bytes`);
        assert.equal(st.mode & 0o777, 0o600);
      }
      const a = await auditJson(d, '--limit', '1000');
      const got = a.records.map((r) => (r.kind === 'change' ? r.new : null));
      assert.ok(got.length >= 6 && got.length < 40, `${got.length} records kept`);
      assert.deepEqual(
        got,
        Array.from({ length: got.length }, (_, i) => 40 - got.length + 1 + i),
      );
      assert.match(a.records.at(-1)!.writer, /^osc:udp:127\.0\.0\.1:\d+$/);
    } finally {
      s.close();
      await d.stop();
    }
  });
});

describe('what a home accepts at start', () => {
  const passConfig = { storage: { key: { kind: 'passphrase', file: 'pass' } } };
  const withPass = (text: string) => async (home: string) => {
    await writeFile(join(home, 'pass'), `${text}\n`, { mode: 0o600 });
  };
  const seedConfig = (home: string, c: object) =>
    writeFile(join(home, 'config.json'), JSON.stringify({ ...c, peers: LOOPBACK_PEERS }));

  it('a home with scenes but no state.sealed refuses a wrong passphrase at start, made now or sealed by an older hana', async () => {
    // Made now, saving no state: the scene is the only sealed file besides storage.check.
    const config = { ...passConfig, storage: { ...passConfig.storage, persist: false } };
    const d = await startDaemon({ config, seed: withPass('stage left') });
    assert.equal((await d.cli('scene', 'save', 'intro')).code, 0);
    assert.equal(await d.stop('SIGTERM', { keepHome: true }), 0);
    await assert.rejects(stat(join(d.home, 'state.sealed')));
    try {
      await withPass('stage right')(d.home);
      const wrong = await startMustFail(d.home);
      assert.equal(wrong.code, 1);
      assert.match(
        wrong.stderr,
        /^hana: could not start: the passphrase from .*pass is not the one this home was set up with/,
      );
      assert.equal(wrong.stderr.trim().split('\n').length, 1);
    } finally {
      await rm(d.home, { recursive: true, force: true });
    }

    // Sealed by an older hana: a format-1 scene and no storage.check.
    const scene = new TextEncoder().encode(
      JSON.stringify({
        format: 'hana-scene',
        version: 1,
        name: 'intro',
        savedAt: '2026-11-01T20:00:00.000Z',
        node: 'an older laptop',
        values: [{ path: '/tempo', type: 'float', value: 133 }],
      }),
    );
    const home = await makeHome();
    try {
      await mkdir(join(home, 'scenes'));
      await writeFile(
        join(home, 'scenes', 'intro.scene'),
        seal(scene, { kind: 'passphrase', passphrase: 'stage left' }),
      );
      await seedConfig(home, passConfig);
      await withPass('stage right')(home);
      const wrong = await startMustFail(home);
      assert.equal(wrong.code, 1);
      assert.match(
        wrong.stderr,
        /it does not open any of this home's 1 sealed file\(s\), such as .*intro\.scene\)/,
      );
      await assert.rejects(stat(join(home, 'storage.check')), 'nothing written under a wrong passphrase');
      const up = await startDaemon({ home, config: passConfig, seed: withPass('stage left') });
      try {
        assert.equal((await up.cli('scene', 'load', 'intro')).code, 0, 'the scene it held still loads');
        assert.equal((await up.values('/tempo'))['/tempo'], 133);
        assert.ok(up.logs.some((l) => l.event === 'storage.check-created' && l.upgraded === true));
      } finally {
        await up.stop('SIGTERM', { keepHome: true });
      }
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it("refuses another laptop's state.sealed and scenes sealed with the same passphrase, naming both devices", async () => {
    const a = await startDaemon({ config: passConfig, seed: withPass('one crew passphrase') });
    assert.equal((await a.cli('set', '/tempo', '128')).code, 0);
    assert.equal((await a.cli('scene', 'save', 'verse')).code, 0);
    assert.equal(await a.stop('SIGTERM', { keepHome: true }), 0);
    const b = await startDaemon({ config: passConfig, seed: withPass('one crew passphrase') });
    // A SIGTERM in the instant after "ready" can land before the CLI installs its handler.
    assert.equal((await b.status()).storage.key.kind, 'passphrase');
    assert.equal(await b.stop('SIGTERM', { keepHome: true }), 0);
    try {
      await writeFile(join(b.home, 'state.sealed'), await readFile(join(a.home, 'state.sealed')));
      const copied = await startMustFail(b.home);
      assert.equal(copied.code, 1);
      assert.equal(
        copied.stderr,
        `hana: could not start: ${join(b.home, 'state.sealed')} was written by device ${shortId(a.deviceId)}, not this one (${shortId(b.deviceId)}): it was copied from another laptop; put back this laptop's own ${join(b.home, 'state.sealed')} from a backup (or move it away to start from defaults); hana left it untouched\n`,
      );
      const refused = jsonLines(copied.stdout).find((l) => l.event === 'persist.refused');
      assert.ok(refused?.security === true && refused.code === 'other-device');

      await rm(join(b.home, 'state.sealed'));
      await writeFile(
        join(b.home, 'scenes', 'verse.scene'),
        await readFile(join(a.home, 'scenes', 'verse.scene')),
      );
      const again = await startDaemon({ home: b.home, config: passConfig });
      try {
        const load = await again.cli('scene', 'load', 'verse');
        assert.equal(load.code, 1);
        assert.match(
          load.stderr,
          new RegExp(
            `scene "verse" cannot be read: .*verse\\.scene was written by device ${shortId(a.deviceId)}, not this one`,
          ),
        );
        assert.notEqual((await again.values('/tempo'))['/tempo'], 128);
      } finally {
        await again.stop('SIGTERM', { keepHome: true });
      }
    } finally {
      await rm(a.home, { recursive: true, force: true });
      await rm(b.home, { recursive: true, force: true });
    }
  });
});

describe('a key rotation', () => {
  it('keeps state, scenes and the audit chain readable after `hana trust rotate` and a restart', async () => {
    const d = await startDaemon();
    const before = d.deviceId;
    await control(d, 'set', { path: '/tempo', words: ['141'] });
    assert.equal((await d.cli('scene', 'save', 'chorus')).code, 0);
    const rotated = await d.cli('trust', 'rotate');
    assert.equal(rotated.code, 0, rotated.stderr);
    await control(d, 'set', { path: '/tempo', words: ['142'] });
    assert.equal(await d.stop('SIGTERM', { keepHome: true }), 0);
    const again = await startDaemon({ home: d.home });
    try {
      assert.notEqual(again.deviceId, before);
      assert.equal((await again.values('/tempo'))['/tempo'], 142);
      const load = await again.cli('scene', 'load', 'chorus');
      assert.equal(load.code, 0, 'a scene sealed by the device this home was before still loads');
      assert.equal((await again.values('/tempo'))['/tempo'], 141);
      const verify = await again.cli('audit', '--verify');
      assert.equal(verify.code, 0, verify.stderr);
    } finally {
      await again.stop();
    }
  });
});

describe('hana audit --verify', () => {
  it('says intact with counts, names a deleted record by file and index after a restart, and reading still works', async () => {
    const config = { audit: { maxFileBytes: 2048 } };
    const d = await startDaemon({ config });
    for (let i = 1; i <= 12; i++) await control(d, 'set', { path: '/scene', words: [String(i)] });
    const clean = await d.cli('audit', '--verify');
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stdout, /^audit log intact: 12 record\(s\) in \d+ file\(s\) \(#1 to #12\)\n$/);
    const raw = (await readdir(join(d.home, 'audit'))).filter((f) => f.startsWith('audit-'));
    for (const f of raw)
      assert.equal(
        (await readFile(join(d.home, 'audit', f), 'utf8')).includes('/scene'),
        false,
        'sealed at rest',
      );
    assert.equal(await d.stop('SIGTERM', { keepHome: true }), 0);

    const first = join(d.home, 'audit', raw.sort()[0]!);
    const lines = (await readFile(first, 'utf8')).split('\n');
    lines.splice(2, 1); // the second record
    await writeFile(first, lines.join('\n'));
    const again = await startDaemon({ home: d.home, config });
    try {
      const r = await again.cli('audit', '--verify');
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `hana: the audit log in ${join(d.home, 'audit')} was tampered with: record #2 was deleted: it belongs between records 1 and 2 of ${raw.sort()[0]}.\n`,
      );
      const json = JSON.parse((await again.cli('audit', '--verify', '--json')).stdout);
      assert.deepEqual(
        [json.problem.code, json.problem.file, json.problem.index],
        ['audit-deleted', raw.sort()[0], 2],
      );
      assert.ok(
        again.logs.some(
          (l) => l.event === 'audit.tampered' && l.security === true && l.code === 'audit-deleted',
        ),
      );
      const read = await auditJson(again, '--limit', '1000');
      assert.deepEqual(
        changes(read).map((c) => c.split('→')[1]),
        ['1', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'],
      );
      assert.equal((await again.cli('audit', '--verify', '--since', '1h')).code, 2);
    } finally {
      await again.stop();
    }
  });
});
