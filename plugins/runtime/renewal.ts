// Planned renewal of the plugin host (host.ts runs it): when, and when a successor is ready to
// take over. docs/plugins.md, "Planned renewal".

/**
 * Where a long-lived host is renewed (host.ts): below the ceiling, so the native memory that
 * isolated-vm's calls leave behind (docs/soak.md: 38 -> 108 MiB over 6 million frame calls
 * without hana, in steps of up to 25 MiB) is given back by a planned handover to a fresh host instead of
 * by a kill, a frame gap and a bisection hunting a culprit that is not one plugin.
 */
export function defaultRenewMarkMb(ceilingMb: number): number {
  return Math.round(ceilingMb * 0.6);
}

/**
 * A host younger than this is never renewed: memory that grows this fast is a plugin's doing,
 * and the ceiling's kill and bisection must find it rather than a renewal hide it.
 */
export const RENEW_MIN_AGE_MS = 10 * 60_000;

/** Each renewal after a fresh host was found over the mark waits twice as long as the last. */
export function lowMarkWaitMs(minAgeMs: number, lowMarkInARow: number): number {
  return minAgeMs * 2 ** Math.min(lowMarkInARow, 10);
}

/** A successor takes over after this many frames even if none carried every layer. */
export const SWITCH_AFTER_FRAMES = 60;

/** A warming successor's events that are about its own isolates, not the show: kept to itself. */
export const SUCCESSOR_OWN: ReadonlySet<string> = new Set([
  'started',
  'restart',
  'log',
  'cpu-share',
  'over-share',
]);

/** Whether a composed frame (engine.ts) has a layer of each of `ids`. */
export function hasLayers(json: string, ids: ReadonlySet<string>): boolean {
  let layers: unknown;
  try {
    layers = (JSON.parse(json) as { layers?: unknown }).layers;
  } catch {
    return false;
  }
  if (!Array.isArray(layers)) return false;
  // The child's frame: a subverted child can send anything, and a throw here is the daemon's.
  const have = new Set(layers.map((l) => (l as { id?: unknown } | null)?.id));
  for (const id of ids) if (!have.has(id)) return false;
  return true;
}
