import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { statusText } from '../../../daemon/cli/client-commands.ts';
import { main } from '../../../daemon/cli/main.ts';
import { Config } from '../../../daemon/config/schema.ts';
import { type Daemon, type DaemonStatus, startDaemon } from '../../../daemon/daemon.ts';
import { controlSocketPath } from '../../../daemon/home.ts';
import { ROOT } from '../../helpers/daemon.ts';
import { captureLogger } from '../../helpers/log-capture.ts';

// The CLI's errors, in-process (`main(argv, out)`): each is one line on stderr that says what to
// do, never a raw syscall error or a zod dump, with exit 1 for a failure and 2 for a usage error.

async function run(argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, { stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s) });
  return { code, stdout: stdout.join(''), stderr: stderr.join('') };
}

/** One sentence on one line, from hana, naming no errno. */
function assertOneSentence(stderr: string): void {
  assert.match(stderr, /^hana: [^\n]+\n$/, `one line: ${JSON.stringify(stderr)}`);
  assert.doesNotMatch(stderr, /\bE[A-Z]{4,}\b|✖|→ at/, `no raw error: ${stderr}`);
}

/** A daemon in this process on free loopback ports, MIDI, discovery, mDNS and plugins off. */
const startQuiet = (home: string) =>
  startDaemon({
    home,
    config: Config.parse({
      osc: { port: 0 },
      midi: { enabled: false },
      peers: { bind: '127.0.0.1', port: 0, discovery: false },
      output: { port: 0 },
      oscquery: { port: 0, advertise: false },
      plugins: { enabled: false },
    }),
    configSource: 'test',
    log: captureLogger().log,
  });

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'hana-cli-'));
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('hana start refuses in one sentence', () => {
  it('a home that is a file (EEXIST) or lies under one (ENOTDIR)', async () => {
    const file = join(await tempDir(), 'not-a-dir');
    await writeFile(file, 'x');
    for (const home of [file, join(file, 'below')]) {
      const r = await run(['start', '--home', home]);
      assert.equal(r.code, 1);
      assertOneSentence(r.stderr);
      assert.match(r.stderr, /is a file or lies under one, not a directory: choose another --home/);
    }
  });

  it('--osc-bind 0.0.0.0 without osc.allow: names the flag and where osc.allow goes', async () => {
    const home = await tempDir();
    const r = await run(['start', '--home', home, '--osc-bind', '0.0.0.0', '--osc-port', '0']);
    assert.equal(r.code, 1);
    assertOneSentence(r.stderr);
    assert.doesNotMatch(r.stderr, /embedded defaults/);
    assert.ok(r.stderr.includes('--osc-bind 0.0.0.0 opens OSC to the network, and only osc.allow'), r.stderr);
    assert.ok(r.stderr.includes(`"allow"`) && r.stderr.includes(join(home, 'config.json')), r.stderr);
  });

  it('an unknown config field, with the field it probably meant', async () => {
    const dir = await tempDir();
    const config = join(dir, 'stage.json');
    await writeFile(config, JSON.stringify({ osc: { prot: 9000 }, peer: {}, zzz: 1 }));
    const r = await run(['start', '--home', dir, '--config', config]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown field "osc\.prot": did you mean "osc\.port"\?/);
    assert.match(r.stderr, /unknown field "peer": did you mean "peers"\?/);
    assert.match(r.stderr, /unknown field "zzz": the top level takes "abletonLink", "audit", /);
  });
});

describe('talking to a daemon that is not there, or not ours', () => {
  it('a home that is a file holds no daemon', async () => {
    const file = join(await tempDir(), 'file');
    await writeFile(file, 'x');
    const r = await run(['status', '--home', file]);
    assert.equal(r.code, 1);
    assertOneSentence(r.stderr);
    assert.match(r.stderr, /is not a directory, so it holds no daemon: pass the daemon's home with --home/);
  });

  it('no daemon running says how to start one', async () => {
    const r = await run(['status', '--home', await tempDir()]);
    assert.equal(r.code, 1);
    assertOneSentence(r.stderr);
    assert.match(r.stderr, /no daemon is running with home .*: start one with `hana start --home /);
  });

  const notRoot = process.getuid?.() !== 0 && 'needs root, to run the CLI as another user (nobody)';
  it('a control socket another user owns (EACCES) says whose it is and what to do', {
    skip: notRoot,
  }, async () => {
    // A real socket in a 0700 home owned by root, called by `nobody`: connect() is refused.
    const home = await tempDir();
    await chmod(home, 0o700);
    const { createServer } = await import('node:net');
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(controlSocketPath(home), r));
    try {
      const child = spawn(
        process.execPath,
        ['--no-node-snapshot', join(ROOT, 'daemon/cli/bin.js'), 'status', '--home', home],
        { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' },
      );
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      const code = await new Promise<number | null>((r) => child.on('close', r));
      assert.equal(code, 1, stderr);
      assertOneSentence(stderr);
      assert.match(
        stderr,
        /permission denied on .*control\.sock .*: run hana as the user who started that daemon/,
      );
    } finally {
      server.close();
    }
  });
});

describe('with a daemon (in-process)', () => {
  let home: string;
  let daemon: Daemon;
  before(async () => {
    home = await tempDir();
    daemon = await startQuiet(home);
  });
  after(async () => {
    await daemon?.stop();
  });

  it('hana set on a bool with a word it does not take says which words it takes', async () => {
    const r = await run(['set', '/master/blackout', 'maybe', '--home', home]);
    assert.equal(r.code, 1);
    assertOneSentence(r.stderr);
    assert.equal(
      r.stderr,
      'hana: /master/blackout: "maybe" is not a bool value: give true or false (also on/off, yes/no, 1/0)\n',
    );
    assert.equal((await run(['set', '/master/blackout', 'on', '--home', home])).code, 0);
  });

  it('hana midi learn and monitor with MIDI off say so and why, and never ask to move a control', async () => {
    for (const argv of [
      ['midi', 'learn', '/layer/1/opacity', '--timeout', '1'],
      ['midi', 'monitor'],
    ]) {
      const r = await run([...argv, '--home', home]);
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /move the control/);
      assert.match(
        r.stderr,
        /MIDI is off \(midi\.enabled is false in the config\), so .*: set "midi": \{ "enabled": true \} in the config and restart hana\.\n$/,
      );
    }
  });

  it('ingest counts rejected OSC packets, and status shows them by reason', async () => {
    const s0 = daemon.status();
    const sock = createSocket('udp4');
    try {
      // Three packets that are not OSC, one to an address nobody declared.
      for (const bytes of [Buffer.from('nope'), Buffer.from('/x\0\0,f\0\0'), Buffer.from('/nobody\0,\0\0\0')])
        await new Promise<void>((r) => sock.send(bytes, s0.osc.udpPort, '127.0.0.1', () => r()));
    } finally {
      sock.close();
    }
    const end = Date.now() + 10_000;
    while (daemon.status().ingest.rejected < s0.ingest.rejected + 3 && Date.now() < end)
      await new Promise((r) => setTimeout(r, 10));
    const r = await run(['status', '--home', home]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ingest +0 packets, .*, 3 rejected$/m);
    assert.match(r.stdout, /^ {2}unknown-address +1$/m);
    const json = JSON.parse((await run(['status', '--json', '--home', home])).stdout) as DaemonStatus;
    assert.equal(json.ingest.rejected, 3);
    assert.equal(json.rejected['unknown-address'], 1);
    assert.deepEqual(json.mdns.rejected, {}, 'mDNS counts are in the JSON even with discovery off');
    assert.deepEqual(json.peers.refusals, {});
    assert.deepEqual(json.peers.rotationRefusals, {});
  });

  it('hana scene list keeps its columns with an unreadable scene, giving the reason below', async () => {
    assert.equal((await run(['scene', 'save', 'verse', '--home', home])).code, 0);
    await mkdir(join(home, 'scenes'), { recursive: true });
    await writeFile(join(home, 'scenes', 'broken.scene'), 'garbage that is not sealed');
    const r = await run(['scene', 'list', '--home', home]);
    assert.equal(r.code, 0, r.stderr);
    const [table, reasons] = r.stdout.split('\n\n');
    const rows = table!.split('\n');
    assert.equal(rows.length, 3);
    const column = (row: string) => row.search(/ {2}\S/);
    assert.ok(
      rows.every((row) => column(row) === column(rows[0]!)),
      `the SAVED column starts at the same place on every row:\n${table}`,
    );
    assert.match(rows.find((row) => row.startsWith('broken'))!, /UNREADABLE/);
    assert.match(reasons!, /^unreadable:\n {2}broken: /);
  });
});

describe('hana status text', () => {
  const fixture = (peers: Partial<DaemonStatus['peers']>) =>
    ({ ...STATUS, peers: { ...STATUS.peers, ...peers } }) as DaemonStatus;
  let STATUS: DaemonStatus;
  before(async () => {
    const home = await tempDir();
    const d = await startQuiet(home);
    STATUS = d.status();
    await d.stop();
  });

  it('a daemon whose tempo was never set shows no beat, not one counted from 1970', () => {
    assert.equal(STATUS.sync.clock.timeline, null);
    const text = statusText(STATUS);
    assert.match(text, /^clock +no shared beat yet/m);
    assert.doesNotMatch(text, /NaN|undefined|beat \d{6,}/);
  });

  it('link, rotation and introduction refusals appear by reason', () => {
    const text = statusText(
      fixture({
        refusals: { 'key-change': 2 },
        rotationRefusals: { 'bad-signature': 1 },
        introductions: { accepted: 0, known: 0, refused: { disabled: 3 } },
      }),
    );
    assert.match(text, /^refusals +link key-change 2, rotation bad-signature 1, introduction disabled 3$/m);
  });

  it('a rotation says who still owes an ack, or, with nobody, that it is switching', () => {
    const rotation = { previous: 'OLD', next: 'NEW', since: '2026-12-07T00:00:00.000Z' };
    assert.match(
      statusText(
        fixture({
          rotation: {
            ...rotation,
            pending: [
              { id: 'X', name: 'cee' },
              { id: 'Y', name: null },
            ],
          },
        }),
      ),
      /^rotation +old key kept until 2 peer\(s\) move their pin: cee, Y$/m,
    );
    assert.match(
      statusText(fixture({ rotation: { ...rotation, pending: [] } })),
      /^rotation +switching to NEW: the old key goes with the switch$/m,
    );
  });
});
