import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { basename, delimiter, isAbsolute, join } from 'node:path';

// Tools from Debian that some tests run (ip, nft, oscsend, chromium…). A test asks here before
// using one and skips with the one-line reason it gets back, which names the package, so that
// `npm ci && npm test` passes on a fresh machine (README). Every tool must be listed in
// test/debian-tools.txt: CI installs from that list and `npm run test:no-tools` hides all of it,
// so an unlisted tool is an error here rather than a test nobody ever runs without its tool.
//
//   const skip = missingTool('oscsend', 'liblo-tools');   // command looked up on PATH
//   const skip = missingTool('/usr/bin/chromium', 'chromium');   // a file the test uses by path
//   const skip = missingPythonModule('zeroconf', 'python3-zeroconf');   // /usr/bin/python3 -c 'import zeroconf'
//   describe('…', { skip }, () => { … });

export const TOOLS_LIST = join(import.meta.dirname, '..', 'debian-tools.txt');

/**
 * Comma-separated tools (by name, path or package) to report missing although installed:
 * test/without-debian-tools.ts sets it for what hiding from PATH cannot hide, e.g. a file used
 * by absolute path like /usr/bin/chromium.
 */
export const HIDE_ENV = 'HANA_TEST_HIDE_TOOLS';

export type DebianTool = { readonly tool: string; readonly pkg: string };

let listCache: DebianTool[] | undefined;

/** test/debian-tools.txt: `<tool> <package>` a line, `#` comments. */
export function debianTools(): DebianTool[] {
  listCache ??= readFileSync(TOOLS_LIST, 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([tool]) => tool && !tool.startsWith('#'))
    .map(([tool, pkg]) => ({ tool: tool!, pkg: pkg ?? '' }));
  return listCache;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isExecutable(path: string): boolean {
  try {
    return statSync(path).isFile() && (statSync(path).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Where `name` resolves on `path` (a PATH string), as execFile/spawn would find it. */
export function onPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function requireListed(tool: string, pkg: string): void {
  if (!debianTools().some((t) => t.tool === tool && t.pkg === pkg)) {
    throw new Error(
      `test/debian-tools.txt lacks "${tool} ${pkg}": add it so CI installs it and npm run test:no-tools hides it`,
    );
  }
}

function hidden(tool: string, pkg: string): string | undefined {
  const names = new Set(
    (process.env[HIDE_ENV] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  const python = tool.startsWith('python3:') && names.has('python3');
  return python || names.has(tool) || names.has(basename(tool)) || names.has(pkg)
    ? `${tool} hidden by ${HIDE_ENV} (Debian package ${pkg})`
    : undefined;
}

const install = (pkg: string) => `apt-get install ${pkg}, or bash test/install-debian-deps.sh`;

/**
 * Why a test that runs `tool` cannot run here, or undefined when it can. `tool` is checked the
 * way the test will use it: a bare name on PATH (execFile('nft') and `ip netns exec … nft` look
 * there), an absolute path as that file.
 */
export function missingTool(tool: string, pkg: string): string | undefined {
  requireListed(tool, pkg);
  const hide = hidden(tool, pkg);
  if (hide) return hide;
  if (isAbsolute(tool)) return isFile(tool) ? undefined : `${tool} is not installed (${install(pkg)})`;
  return onPath(tool) ? undefined : `${tool} is not on PATH (${install(pkg)})`;
}

const pythonCache = new Map<string, boolean>();

/** As missingTool, for a module that tests import in Debian's /usr/bin/python3 (not a pyenv one). */
export function missingPythonModule(module: string, pkg: string): string | undefined {
  const tool = `python3:${module}`;
  requireListed(tool, pkg);
  const hide = hidden(tool, pkg);
  if (hide) return hide;
  if (!pythonCache.has(module)) {
    const r = spawnSync('/usr/bin/python3', ['-c', `import ${module}`], { stdio: 'ignore', timeout: 20_000 });
    pythonCache.set(module, r.status === 0);
  }
  return pythonCache.get(module) ? undefined : `/usr/bin/python3 cannot import ${module} (${install(pkg)})`;
}
