// WebSocket text messages from an OSCQuery client: JSON objects {"COMMAND": …, "DATA": …}. hana
// acts on LISTEN and IGNORE of one method's path; anything else is refused with a reason the
// server counts. Socket-free, so every odd message is a plain test.

export type Command = { readonly command: 'LISTEN' | 'IGNORE'; readonly path: string };
export type CommandResult = { ok: true; value: Command } | { ok: false; message: string };

/** Longer than any path the registry allows (256) plus the JSON around it. */
export const MAX_COMMAND_BYTES = 4096;

export function parseCommand(text: string): CommandResult {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { ok: false, message: 'a text message that is not JSON' };
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    return { ok: false, message: 'a text message that is not a JSON object' };
  }
  const { COMMAND: command, DATA: data } = msg as { COMMAND?: unknown; DATA?: unknown };
  if (command !== 'LISTEN' && command !== 'IGNORE') {
    return {
      ok: false,
      message: `COMMAND ${JSON.stringify(command ?? null)?.slice(0, 40)}: hana takes LISTEN and IGNORE`,
    };
  }
  if (typeof data !== 'string' || !data.startsWith('/')) {
    return { ok: false, message: `${command} whose DATA is not one OSC path` };
  }
  return { ok: true, value: { command, path: data } };
}
