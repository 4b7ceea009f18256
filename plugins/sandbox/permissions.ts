import { type AddressPattern, compilePattern } from '../../daemon/state/pattern.ts';

// What a plugin may read and write: its manifest's `reads` and `writes` OSC address patterns.
// Checked on the host side of the isolate boundary (the in-isolate code is the plugin's own and
// can be rewritten by it). Answers are cached per path, bounded, so a plugin cycling through
// random paths costs CPU, never memory.

const CACHE_LIMIT = 1024;

export type Permissions = {
  canRead(path: string): boolean;
  canWrite(path: string): boolean;
};

export type PermissionPatterns = { readonly reads: readonly string[]; readonly writes: readonly string[] };

function compileAll(sources: readonly string[]): AddressPattern[] {
  return sources.map((s) => {
    const r = compilePattern(s);
    // The manifest schema already rejected bad patterns: one here is a programmer error.
    if (!r.ok) throw new Error(`invalid permission pattern ${JSON.stringify(s)}: ${r.reason}`);
    return r.pattern;
  });
}

function matcher(patterns: AddressPattern[]): (path: string) => boolean {
  const cache = new Map<string, boolean>();
  return (path) => {
    const hit = cache.get(path);
    if (hit !== undefined) return hit;
    const yes = patterns.some((p) => p.match(path));
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(path, yes);
    return yes;
  };
}

export function compilePermissions(manifest: PermissionPatterns): Permissions {
  return {
    canRead: matcher(compileAll(manifest.reads)),
    canWrite: matcher(compileAll(manifest.writes)),
  };
}
