// Waits bounded by time, never by a count of turns: on a loaded 2-core machine a fixed number
// of event-loop turns can pass before a single fsync returns.

/** Resolves true as soon as `check` holds, false once `ms` of real time have passed without it. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= end) return false;
    await new Promise<void>((r) => setTimeout(r, 2));
  }
}
