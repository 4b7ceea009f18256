import type { MidiBackend } from '../../protocols/midi/device.ts';
import type { Logger } from '../log.ts';

/** The ports the OS shows now, or undefined (logged) when the backend fails to list them. */
export function listPorts(
  backend: MidiBackend,
  log: Logger,
): { inputs: string[]; outputs: string[] } | undefined {
  try {
    return backend.list();
  } catch (err) {
    log.warn({ event: 'midi.list-failed', err }, 'cannot list MIDI ports');
    return undefined;
  }
}
