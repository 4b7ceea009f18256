import { deviceIdFromCertDer } from '../../trust-store/device-id.ts';
import { PeerName } from '../../trust-store/peers-schema.ts';
import { type Role, verifyBinding } from './binding.ts';
import type { BindBody } from './v1/wire.ts';

// What a peer's bind proves, judged without touching the network or the store: that it holds
// the key of the certificate its session presented (channel binding over this session's
// exporter), that its name can be stored, that it is in our ensemble, and whether an ensemble
// secret is to be proven next. The trust decision that follows is trust-store/policy.ts decide().

export type BindRefusal = 'binding-failed' | 'bad-name' | 'wrong-ensemble' | 'ensemble-secret';

export type BindVerdict =
  | { ok: true; presented: string; ensembleRun: boolean }
  | {
      ok: false;
      presented: string;
      reason: BindRefusal;
      detail: string;
      /** Counted against the peer's address: a proof of bad faith, not a configuration mismatch. */
      violation?: string;
    };

export type BindInput = {
  body: BindBody;
  /** The peer's DTLS role in this session, and what the session presented and exports. */
  peerRole: Role;
  peerCertDer: Uint8Array;
  exporter: Uint8Array;
  ownCertDer: Uint8Array;
  ownId: string;
  ensemble: { name: string; hasSecret: boolean };
  /** Where it came from, for the sentences. */
  where: string;
};

export function judgeBind(i: BindInput): BindVerdict {
  const presented = deviceIdFromCertDer(i.peerCertDer);
  const { body } = i;
  const no = (reason: BindRefusal, detail: string, violation?: string): BindVerdict => ({
    ok: false,
    presented,
    reason,
    detail,
    ...(violation !== undefined && { violation }),
  });
  if (!verifyBinding(body.sig, i.peerRole, i.exporter, i.peerCertDer, i.ownCertDer))
    return no(
      'binding-failed',
      `${i.where} presented the certificate of ${presented} but cannot sign with its key: an impostor`,
      'channel binding failed',
    );
  if (!PeerName.safeParse(body.name).success)
    return no('bad-name', `${i.where} sent a display name that cannot be stored`, 'unusable display name');
  if (body.ensemble !== i.ensemble.name)
    return no(
      'wrong-ensemble',
      `${body.name} belongs to ensemble "${body.ensemble}", not "${i.ensemble.name}"`,
    );
  // Our own ID runs no ensemble exchange: the trust decision refuses it as own-id.
  if (presented === i.ownId) return { ok: true, presented, ensembleRun: false };
  if (i.ensemble.hasSecret && body.share === undefined)
    return no(
      'ensemble-secret',
      `${body.name} (${presented}) has no ensemble secret and this daemon requires one: set the same peers.ensemble.secret on both`,
    );
  if (!i.ensemble.hasSecret && body.share !== undefined)
    return no(
      'ensemble-secret',
      `${body.name} (${presented}) has an ensemble secret and this daemon has none: set the same peers.ensemble.secret on both, or on neither`,
    );
  return { ok: true, presented, ensembleRun: i.ensemble.hasSecret };
}
