import { requireDeviceId } from '../device-id.ts';
import { lvCat } from './cpace.ts';

// What ties a CPace run to one DTLS session between two known devices. A relay in the middle
// holds two DTLS sessions (A–relay, relay–B): each has its own exporter, and each side sees the
// relay's device ID, not the other end's. Both differences enter the generator through CI and
// sid, so the relay's two runs use unrelated generators: it learns nothing about the code from
// relaying, and guessing costs it one try per session like any other active attacker.

/** Ask the DTLS session for this many bytes under PAIRING_EXPORTER_LABEL and pass them as `exporter`. */
export const PAIRING_EXPORTER_LABEL = 'EXPORTER-hana-pairing';
export const PAIRING_EXPORTER_BYTES = 32;
/**
 * The ensemble secret's run on a link (daemon/link/binding.ts) gets its own exporter label, so
 * its sid never equals a pairing run's sid on the same session.
 */
export const ENSEMBLE_EXPORTER_LABEL = 'EXPORTER-hana-ensemble';
export const ENSEMBLE_EXPORTER_BYTES = 32;
const PAIRING = new TextEncoder().encode('hana pairing v1');
// A separate label in CI: a pairing transcript can never be taken for an ensemble one (or the
// reverse), even if a code and a secret happened to be the same bytes.
const ENSEMBLE = new TextEncoder().encode('hana ensemble v1');
const INITIATOR = new TextEncoder().encode('initiator');
const RESPONDER = new TextEncoder().encode('responder');

export type PairingContextInit = {
  /**
   * tls-exporter value of the verified DTLS session (RFC 5705, extended master secret asserted):
   * unique to this session, so it becomes CPace's sid and a run cannot be replayed into or
   * matched with any other session.
   */
  exporter: Uint8Array;
  /** Device ID of the side that runs CPace as initiator (its share comes first in the transcript). */
  initiatorId: string;
  /** Device ID of the responder. */
  responderId: string;
};

export type PairingContext = { ci: Uint8Array; sid: Uint8Array };

/**
 * CI = lv_cat("hana pairing v1", "initiator", initiatorId, "responder", responderId) with both IDs
 * in canonical form (UTF-8), sid = the exporter. The draft asks that identities known to both
 * sides at the start go into CI with their roles attached, initiator first: each side's view of
 * "who am I pairing with, and which of us speaks first" must match for the keys to match. The
 * version string separates this use of the code from any later protocol revision.
 *
 * Throws on malformed input: the IDs come from certificates the link layer already verified,
 * so a bad one here is a programmer error.
 */
export function pairingContext(init: PairingContextInit): PairingContext {
  return context('pairingContext', PAIRING, init);
}

/**
 * The same construction for the ensemble secret, under the label "hana ensemble v1": CI names
 * the DTLS client as initiator and the server as responder, sid is the exporter under
 * ENSEMBLE_EXPORTER_LABEL.
 */
export function ensembleContext(init: PairingContextInit): PairingContext {
  return context('ensembleContext', ENSEMBLE, init);
}

function context(fn: string, label: Uint8Array, init: PairingContextInit): PairingContext {
  if (!(init.exporter instanceof Uint8Array) || init.exporter.length < 16) {
    throw new RangeError(`${fn}: the exporter must be at least 16 bytes of one DTLS session`);
  }
  const initiatorId = requireDeviceId(init.initiatorId, 'initiator device ID');
  const responderId = requireDeviceId(init.responderId, 'responder device ID');
  // A device running CPace with itself is a loopback/reflection attempt, never an operator's intent.
  if (initiatorId === responderId) throw new RangeError(`${fn}: a device cannot run CPace with itself`);
  const enc = new TextEncoder();
  return {
    ci: lvCat(label, INITIATOR, enc.encode(initiatorId), RESPONDER, enc.encode(responderId)),
    sid: Uint8Array.from(init.exporter),
  };
}
