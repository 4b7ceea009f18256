import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';

// CPace (draft-irtf-cfrg-cpace, cipher suite CPACE-RISTR255-SHA512) in the initiator-responder
// setting. Socket-free: the caller carries the two 32-byte shares and the two confirmation
// tags over an already verified DTLS session.
//
// Why CPace and not SPAKE2: @noble/curves 2.x ships ristretto255 with RFC 9496 element
// derivation (`ristretto255_hasher.deriveToCurve`, 64 uniform bytes -> point) but no SPAKE2.
// CPace needs exactly that map plus scalar multiplication, has no fixed M/N points whose
// discrete logs must be unknown, and the draft publishes ristretto255 test vectors
// (test/trust-store/pairing/cpace.test.ts checks them byte for byte).

const Point = ristretto255.Point;
const DSI = bytes('CPaceRistretto255');
const DSI_ISK = bytes('CPaceRistretto255_ISK');
const MAC_LABEL = bytes('CPaceMac');
/** SHA-512's input block size: the zero padding makes the first block depend on DSI and PRS only. */
const SHA512_BLOCK = 128;
export const SHARE_BYTES = 32;
export const TAG_BYTES = 32;

export type CpaceRole = 'initiator' | 'responder';

export type CpaceInit = {
  /** Password-related string: the canonical pairing code (code.ts). */
  prs: Uint8Array;
  /** Channel identifier: secret-free, never sent; both device IDs with their roles (pairingContext). */
  ci: Uint8Array;
  /** Session identifier: unique per session, never sent by CPace (pairingContext: the DTLS exporter). */
  sid: Uint8Array;
  role: CpaceRole;
  /** Associated data sent in clear beside our share and authenticated by the ISK; empty by default. */
  ad?: Uint8Array;
  /** Injected for test vectors only; defaults to crypto.randomBytes. */
  randomBytes?: (n: number) => Uint8Array;
};

export type CpaceResult =
  | {
      ok: true;
      /** Intermediate session key (64 bytes); derive keys from it with a KDF, never use it raw. */
      isk: Uint8Array;
      /** Our key-confirmation tag: send it after the peer's share arrived. */
      tag: Uint8Array;
      /** Constant-time check of the peer's tag; false means a wrong code (or a relay). */
      checkPeerTag(tag: Uint8Array): boolean;
    }
  | { ok: false; error: 'invalid-share' };

export type CpaceSession = {
  /** Our public share Y = y·g, 32 bytes, to send with our AD. */
  share: Uint8Array;
  /** Computes K = y·Y' and the ISK. One call per session: a scalar is never reused. */
  finish(peerShare: Uint8Array, peerAd?: Uint8Array): CpaceResult;
};

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function sha512(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** LEB128 length then the bytes (the draft's prepend_len). */
export function prependLen(data: Uint8Array): Uint8Array {
  const len: number[] = [];
  let n = data.length;
  do {
    len.push(n < 128 ? n : (n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  } while (n > 0);
  const out = new Uint8Array(len.length + data.length);
  out.set(len, 0);
  out.set(data, len.length);
  return out;
}

/** Length-value concatenation: a prefix-free encoding, so no two input tuples hash alike. */
export function lvCat(...parts: Uint8Array[]): Uint8Array {
  const encoded = parts.map(prependLen);
  const out = new Uint8Array(encoded.reduce((s, e) => s + e.length, 0));
  let at = 0;
  for (const e of encoded) {
    out.set(e, at);
    at += e.length;
  }
  return out;
}

/** lv_cat(DSI, PRS, zero padding, CI, sid): the padding fills SHA-512's first block. */
export function generatorString(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const zpad = Math.max(0, SHA512_BLOCK - 1 - prependLen(prs).length - prependLen(DSI).length);
  return lvCat(DSI, prs, new Uint8Array(zpad), ci, sid);
}

/** g = element_derivation(SHA-512(generator_string)); the 64-byte digest is RFC 9496's input. */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array) {
  return ristretto255_hasher.deriveToCurve!(sha512(generatorString(prs, ci, sid)));
}

/** The draft's sample_scalar: 32 random bytes, bits above 252 cleared, little-endian (< group order). */
function sampleScalar(random: (n: number) => Uint8Array): bigint {
  for (;;) {
    const b = Uint8Array.from(random(32));
    if (b.length !== 32) throw new RangeError('randomBytes(32) must return 32 bytes');
    b[31] = b[31]! & 0x0f;
    const y = bytesToNumberLE(b);
    b.fill(0);
    // Zero would make Y the identity, which the peer refuses; it has probability 2^-252.
    if (y !== 0n) return y;
  }
}

/** Decodes a peer share; null for anything but the canonical encoding of a non-identity element. */
export function decodeShare(share: Uint8Array) {
  if (!(share instanceof Uint8Array) || share.length !== SHARE_BYTES) return null;
  try {
    const p = Point.fromBytes(share);
    return p.is0() ? null : p;
  } catch {
    return null; // non-canonical, negative, non-square or otherwise invalid encoding
  }
}

function needBytes(name: string, v: unknown, min: number): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`cpace: ${name} must be a Uint8Array`);
  if (v.length < min) throw new RangeError(`cpace: ${name} needs at least ${min} bytes, got ${v.length}`);
}

export function cpaceStart(init: CpaceInit): CpaceSession {
  needBytes('prs', init.prs, 1);
  needBytes('ci', init.ci, 0);
  // sid binds the run to one session; a short or empty one would let runs in two sessions match.
  needBytes('sid', init.sid, 16);
  if (init.role !== 'initiator' && init.role !== 'responder') throw new TypeError('cpace: bad role');
  const ad = init.ad ?? new Uint8Array(0);
  needBytes('ad', ad, 0);
  const sid = Uint8Array.from(init.sid);
  const g = calculateGenerator(init.prs, init.ci, sid);
  let y: bigint | null = sampleScalar(init.randomBytes ?? ((n) => new Uint8Array(randomBytes(n))));
  const share = g.multiply(y).toBytes();
  const ownAd = Uint8Array.from(ad);
  const role = init.role;

  return {
    share: Uint8Array.from(share),
    finish(peerShare, peerAd = new Uint8Array(0)) {
      if (y === null) throw new Error('cpace: finish called twice; start a new session for each try');
      const scalar = y;
      y = null;
      needBytes('peerAd', peerAd, 0);
      const peer = decodeShare(peerShare);
      // A reflected share (ours sent back) is refused too: an honest peer repeats it with
      // probability 2^-252, and refusing it keeps the two roles' tags from ever coinciding.
      if (peer === null || timingSafeEqualBytes(peerShare, share))
        return { ok: false, error: 'invalid-share' };
      const k = peer.multiply(scalar);
      if (k.is0()) return { ok: false, error: 'invalid-share' };
      const mine = { share, ad: ownAd };
      const theirs = { share: Uint8Array.from(peerShare), ad: Uint8Array.from(peerAd) };
      const [a, b] = role === 'initiator' ? [mine, theirs] : [theirs, mine];
      const isk = iskFrom(sid, k.toBytes(), a.share, a.ad, b.share, b.ad);
      const peerRole: CpaceRole = role === 'initiator' ? 'responder' : 'initiator';
      const expected = confirmTag({ isk, sid, role: peerRole, share: theirs.share, ad: theirs.ad });
      return {
        ok: true,
        isk,
        tag: confirmTag({ isk, sid, role, share: mine.share, ad: mine.ad }),
        checkPeerTag: (tag) => checkTag(expected, tag),
      };
    },
  };
}

/** ISK = SHA-512(lv_cat(DSI || "_ISK", sid, K) || transcript_ir(Ya, ADa, Yb, ADb)). */
export function iskFrom(
  sid: Uint8Array,
  k: Uint8Array,
  ya: Uint8Array,
  ada: Uint8Array,
  yb: Uint8Array,
  adb: Uint8Array,
): Uint8Array {
  return sha512(lvCat(DSI_ISK, sid, k), lvCat(ya, ada), lvCat(yb, adb));
}

const ROLE_LABEL: Readonly<Record<CpaceRole, Uint8Array>> = {
  initiator: bytes('initiator'),
  responder: bytes('responder'),
};

/**
 * Key confirmation after the draft's §"Key confirmation": mac_key = SHA-512("CPaceMac" || sid ||
 * ISK), tag = HMAC-SHA-512(mac_key, lv_cat(role, Y_sender, AD_sender)) truncated to 32 bytes.
 * The sender's role label is our addition: it keeps the two directions' tags distinct by
 * construction, so a tag bounced back to its sender never verifies.
 */
export function confirmTag(o: {
  isk: Uint8Array;
  sid: Uint8Array;
  role: CpaceRole;
  share: Uint8Array;
  ad?: Uint8Array;
}): Uint8Array {
  const macKey = sha512(MAC_LABEL, o.sid, o.isk);
  const mac = createHmac('sha512', macKey)
    .update(lvCat(ROLE_LABEL[o.role], o.share, o.ad ?? new Uint8Array(0)))
    .digest();
  macKey.fill(0);
  return new Uint8Array(mac.subarray(0, TAG_BYTES));
}

function timingSafeEqualBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Constant-time tag comparison (the length is public); false for anything that is not a tag. */
export function checkTag(expected: Uint8Array, got: unknown): boolean {
  return got instanceof Uint8Array && expected.length === TAG_BYTES && timingSafeEqualBytes(expected, got);
}
