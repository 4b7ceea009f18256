// Runs the README's `npm test` (or the command given) as on a fresh machine without the Debian
// tools of test/debian-tools.txt, even where they are installed, as CI does after the main run:
// their tests must skip with a reason, never fail. Two layers, because PATH alone cannot hide a
// file a test uses by absolute path (/usr/bin/chromium, /usr/bin/python3):
//  - PATH is node_modules/.bin plus a temporary directory of symlinks to everything in the
//    system's bin directories except those tools, so a test that runs one unchecked fails here;
//  - HANA_TEST_HIDE_TOOLS names every listed package, so missingTool() reports them all missing.
// Usage: npm run test:no-tools   |   node test/without-debian-tools.ts node --test some.test.ts
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { debianTools, HIDE_ENV, onPath } from './helpers/tools.ts';

const ROOT = join(import.meta.dirname, '..');
const SYSTEM_BIN = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

const tools = debianTools();
const hiddenNames = new Set(tools.filter((t) => !t.tool.startsWith('python3:')).map((t) => basename(t.tool)));
const bin = mkdtempSync(join(tmpdir(), 'hana-no-debian-tools-'));
const linked = new Set<string>();
for (const dir of SYSTEM_BIN) {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    continue;
  }
  // First directory wins, as in PATH order; /bin and /sbin are usually links to /usr's.
  for (const name of names) {
    if (hiddenNames.has(name) || linked.has(name)) continue;
    linked.add(name);
    symlinkSync(join(dir, name), join(bin, name));
  }
}
const PATH = [join(ROOT, 'node_modules', '.bin'), bin].join(delimiter);

// By construction nothing hidden is reachable, unless node_modules/.bin brings one: say so
// rather than run a suite that only looks tool-less.
const reachable = tools.filter((t) => !t.tool.includes('/') && !t.tool.includes(':') && onPath(t.tool, PATH));
if (reachable.length) {
  rmSync(bin, { recursive: true, force: true });
  console.error(
    `without-debian-tools: still on PATH: ${reachable.map((t) => onPath(t.tool, PATH)).join(', ')}`,
  );
  process.exit(1);
}

const [cmd = 'npm', ...args] = process.argv.length > 2 ? process.argv.slice(2) : ['npm', 'test'];
// npm lives outside the system directories on some machines (nvm, ~/.local): then the caller's.
const exe = cmd.includes('/') ? cmd : (onPath(cmd, PATH) ?? onPath(cmd) ?? cmd);
const hide = [...new Set(tools.map((t) => t.pkg))].join(',');
console.error(`without-debian-tools: hiding ${[...hiddenNames].join(' ')}; ${HIDE_ENV}=${hide}`);

const child = spawn(exe, args, {
  cwd: ROOT,
  stdio: 'inherit',
  env: { ...process.env, PATH, [HIDE_ENV]: hide },
});
const forward = (signal: NodeJS.Signals) => child.kill(signal);
process.on('SIGINT', forward).on('SIGTERM', forward);
child.on('exit', (code, signal) => {
  rmSync(bin, { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});
child.on('error', (err) => {
  rmSync(bin, { recursive: true, force: true });
  console.error(`without-debian-tools: ${exe}: ${err.message}`);
  process.exit(1);
});
