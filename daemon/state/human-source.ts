// Whether a write was made by a person or by automation, from the store's source. Takeover
// (plugins give way to a person) and sync (which tells peers, inside the signed batch, that a
// person made an entry) both decide it here, so the two cannot disagree.

const AUTOMATION = ['plugin:', 'peer:', 'sync:'];

/**
 * A source that is not automation: `osc:…`, `midi:…`, `cli`, `ui`, `scene:…`. Plugins, peers
 * (their own origin says, see sync/v2 entries.ts), the sync layer's corrections and defaults are not.
 */
export function isHumanSource(source: string): boolean {
  if (source === 'default') return false;
  for (const p of AUTOMATION) if (source.startsWith(p)) return false;
  return true;
}
