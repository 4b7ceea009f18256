import { unsafeTextProblem } from './text-safety.ts';

// Relative paths inside a plugin folder. The same rule covers the manifest's `entry`, the names
// found on disk and the names listed in plugin.sig, so each file has exactly one spelling: no
// way to name a file outside the folder, and nothing that could repaint a terminal when an error
// message names it.

const MAX_PATH_LENGTH = 1024;

// C0 controls and DEL: text holding an escape sequence would be printed as-is in errors and UIs.
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
export const CONTROL = /[\x00-\x1f\x7f]/;

/** Why `path` is not a safe relative plugin path, or undefined if it is. */
export function relativePathProblem(path: string): string | undefined {
  if (path.length === 0) return 'is empty';
  if (path.length > MAX_PATH_LENGTH) return `is longer than ${MAX_PATH_LENGTH} characters`;
  if (path.includes('\0')) return 'contains a NUL character';
  if (path.includes('\\')) return 'contains a backslash (use "/")';
  if (CONTROL.test(path)) return 'contains a control character';
  const unsafe = unsafeTextProblem(path);
  if (unsafe) return unsafe;
  // U+FFFD is what a name that is not valid UTF-8 decodes to; two such names could collide.
  if (path.includes('\uFFFD')) return 'is not valid UTF-8';
  if (path.startsWith('/')) return 'is absolute';
  for (const seg of path.split('/')) {
    if (seg === '') return 'has an empty segment';
    if (seg === '.' || seg === '..') return `has a "${seg}" segment`;
  }
  return undefined;
}

/**
 * Canonical order of plugin paths: by UTF-8 bytes, so a verifier in any language sorts the same
 * way (JavaScript's default string order is by UTF-16 units, which differs above U+FFFF).
 */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
