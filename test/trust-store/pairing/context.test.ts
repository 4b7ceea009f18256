import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { formatDeviceId } from '../../../trust-store/device-id.ts';
import { parseCode } from '../../../trust-store/pairing/code.ts';
import { type PairingContextInit, pairingContext } from '../../../trust-store/pairing/context.ts';
import { type CpaceResult, cpaceStart } from '../../../trust-store/pairing/cpace.ts';

// What stops a relay: each side's CPace inputs name this DTLS session (its exporter) and the
// two device IDs as that side sees them. A relay holds two sessions and shows its own ID to
// each side, so at least one of those differs between the two ends it stitches together.

const id = (name: string) => formatDeviceId(createHash('sha256').update(name).digest());
const A = id('laptop A');
const B = id('laptop B');
const M = id('relay');

function prs(code: string): Uint8Array {
  const p = parseCode(code);
  if (!p.ok) assert.fail(p.error);
  return p.prs;
}

/** Runs one pairing: `a` is the initiator's view, `b` the responder's. */
function pair(a: PairingContextInit & { code: string }, b: PairingContextInit & { code: string }) {
  const I = cpaceStart({ ...pairingContext(a), prs: prs(a.code), role: 'initiator' });
  const R = cpaceStart({ ...pairingContext(b), prs: prs(b.code), role: 'responder' });
  const ri = must(I.finish(R.share));
  const rr = must(R.finish(I.share));
  return {
    agreed: ri.checkPeerTag(rr.tag) && rr.checkPeerTag(ri.tag),
    sameIsk: Buffer.compare(ri.isk, rr.isk) === 0,
  };
}

function must(r: CpaceResult) {
  if (!r.ok) assert.fail(r.error);
  return r;
}

const exporter = randomBytes(32);
const view = { exporter, initiatorId: A, responderId: B, code: 'amber-delta-ocean' };

describe('pairingContext', () => {
  it('both ends of one session with the same code agree', () => {
    assert.deepEqual(pair(view, view), { agreed: true, sameIsk: true });
  });

  it('the typed code may differ in form, not in words', () => {
    assert.deepEqual(pair(view, { ...view, code: 'Amber Delta Ocaen' }), { agreed: true, sameIsk: true });
  });

  it('a different code fails', () => {
    assert.deepEqual(pair(view, { ...view, code: 'amber-delta-olive' }), { agreed: false, sameIsk: false });
  });

  it('a different exporter (a relay holding two DTLS sessions) fails', () => {
    assert.deepEqual(pair(view, { ...view, exporter: randomBytes(32) }), { agreed: false, sameIsk: false });
  });

  it('a relay showing its own ID to each side fails even with equal exporters', () => {
    const atA = { ...view, responderId: M };
    const atB = { ...view, initiatorId: M };
    assert.deepEqual(pair(atA, atB), { agreed: false, sameIsk: false });
  });

  it('swapped roles fail: each ID is bound to its role', () => {
    assert.deepEqual(pair(view, { ...view, initiatorId: B, responderId: A }), {
      agreed: false,
      sameIsk: false,
    });
  });

  it('canonicalises device IDs, so a lower-case spelling names the same device', () => {
    const c1 = pairingContext(view);
    const c2 = pairingContext({ ...view, initiatorId: A.toLowerCase().replaceAll('-', ' ') });
    assert.deepEqual(c1, c2);
  });

  it('encodes CI as lv_cat(version, "initiator", id, "responder", id) and sid as the exporter', () => {
    const { ci, sid } = pairingContext(view);
    assert.deepEqual(sid, Uint8Array.from(exporter));
    const text = Buffer.from(ci).toString('latin1');
    assert.equal(text, `\x0fhana pairing v1\x09initiator\x3f${A}\x09responder\x3f${B}`);
  });

  it('throws on programmer errors', () => {
    assert.throws(() => pairingContext({ ...view, exporter: new Uint8Array(8) }), /exporter/);
    assert.throws(() => pairingContext({ ...view, responderId: A }), /itself/);
    assert.throws(() => pairingContext({ ...view, responderId: 'not an id' }), /responder device ID/);
  });
});
