// The short form of a device ID, on its own: `hana status` prints it, and device-id.ts (which
// derives IDs) loads node:crypto, about 20 ms of a CLI call that needs none of it.

/** Characters per group of a printed device ID. */
export const GROUP = 7;

/** The first group: enough to tell devices apart in logs and default display names. */
export function shortId(id: string): string {
  const dash = id.indexOf('-');
  return dash < 0 ? id.slice(0, GROUP) : id.slice(0, dash);
}
