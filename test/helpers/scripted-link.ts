import { X509Certificate } from 'node:crypto';
import { EXPORTER_LABEL, signBinding } from '../../daemon/link/binding.ts';
import { decodeLink, encodeLink, LINK_VERSION } from '../../daemon/link/v1/wire.ts';
import type { DtlsSession } from '../../protocols/dtls/endpoint.ts';
import type { Credentials } from '../../protocols/dtls/werift.ts';

// The honest half of a scripted peer's link (test/helpers/link-peer-cli.ts, rogue-sync-peer.ts):
// it binds with its own key over this session's exporter, answers the daemon's heartbeats and
// hears the link end, as any daemon would, so the daemon pins and keeps it like a real laptop.
// Whatever the script does on top of that is its own.

/** Link types end below this byte; sync messages start at it (daemon/link/manager.ts). */
const FIRST_SYNC_TYPE = 0x10;

/** Sends our bind, signed over this session's exporter and both certificates. */
export function sendBind(s: DtlsSession, own: Credentials, name: string): void {
  const ownDer = new Uint8Array(new X509Certificate(own.certPem).raw);
  const sig = signBinding(own.keyPem, s.role, s.exporter(EXPORTER_LABEL, 32), ownDer, s.peerCertDer);
  s.send(encodeLink({ type: 'bind', body: { v: LINK_VERSION, name, ensemble: 'default', sig } }));
}

export type LinkAnswers = {
  /** The daemon closed the link (its reason), or the session ended; may be called more than once. */
  close(reason: string): void;
  /** A sync message on the link; ignored when absent. */
  sync?(bytes: Uint8Array): void;
};

/** Answers pings with pongs and reports the link's end; sync messages go to `on.sync`. */
export function answerLink(s: DtlsSession, on: LinkAnswers): void {
  s.onData((b) => {
    if (b.length > 0 && b[0]! >= FIRST_SYNC_TYPE) {
      on.sync?.(b);
      return;
    }
    const m = decodeLink(b);
    if (!m.ok) return;
    if (m.message.type === 'close') on.close(m.message.reason);
    else if (m.message.type === 'ping')
      s.send(encodeLink({ type: 'pong', id: m.message.id, t: m.message.t }));
  });
  s.onClose(() => on.close('session closed'));
}
