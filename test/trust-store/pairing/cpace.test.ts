import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type CpaceResult,
  type CpaceRole,
  calculateGenerator,
  checkTag,
  confirmTag,
  cpaceStart,
  decodeShare,
  generatorString,
  iskFrom,
  lvCat,
  prependLen,
} from '../../../trust-store/pairing/cpace.ts';

// Vectors from draft-irtf-cfrg-cpace (cfrg/draft-irtf-cfrg-cpace, draft-irtf-cfrg-cpace.md,
// "Test vector for CPace using group ristretto255 and hash SHA-512", and its testvectors.json).

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ascii = (s: string) => new TextEncoder().encode(s);

const V = {
  prs: ascii('Password'),
  ci: hex('0b415f696e69746961746f720b425f726573706f6e646572'),
  sid: hex('7e4b4791d6a8ef019b936c79fb7f2c57'),
  genStr:
    '11435061636552697374726574746f3235350850617373776f726464' +
    '00'.repeat(100) +
    '180b415f696e69746961746f720b425f726573706f6e646572107e4b4791d6a8ef019b936c79fb7f2c57',
  g: '222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56',
  ya: hex('da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08'),
  ADa: ascii('ADa'),
  Ya: 'd6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157',
  yb: hex('d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d'),
  ADb: ascii('ADb'),
  Yb: '3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258',
  K: '80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f',
  ISK_IR:
    'b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dcae7b35cd' +
    '2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c3fa2068af7900447',
};

function ok(r: CpaceResult) {
  if (!r.ok) assert.fail(`expected success, got ${r.error}`);
  return r;
}

function run(a: { prs: Uint8Array; ci: Uint8Array; sid: Uint8Array }, b = a) {
  const A = cpaceStart({ ...a, role: 'initiator' });
  const B = cpaceStart({ ...b, role: 'responder' });
  return { a: A.finish(B.share), b: B.finish(A.share) };
}

const base = () => ({ prs: ascii('amber-delta-ocean'), ci: ascii('ci'), sid: new Uint8Array(32).fill(7) });

describe('CPace string utilities (draft appendix vectors)', () => {
  it('prepend_len and lv_cat', () => {
    assert.equal(toHex(prependLen(new Uint8Array(0))), '00');
    assert.equal(toHex(prependLen(ascii('1234'))), '0431323334');
    const r127 = Uint8Array.from({ length: 127 }, (_, i) => i);
    const r128 = Uint8Array.from({ length: 128 }, (_, i) => i);
    assert.equal(toHex(prependLen(r127)).slice(0, 4), '7f00');
    assert.equal(toHex(prependLen(r128)).slice(0, 6), '800100');
    assert.equal(prependLen(r128).length, 130);
    assert.equal(
      toHex(lvCat(ascii('1234'), ascii('5'), ascii(''), ascii('678'))),
      '043132333401350003363738',
    );
  });
});

describe('CPace ristretto255 / SHA-512 (draft test vectors)', () => {
  it('generator_string and the generator', () => {
    assert.equal(toHex(generatorString(V.prs, V.ci, V.sid)), V.genStr);
    assert.equal(toHex(calculateGenerator(V.prs, V.ci, V.sid).toBytes()), V.g);
  });

  it('shares, K and ISK_IR with the draft scalars', () => {
    const A = cpaceStart({
      prs: V.prs,
      ci: V.ci,
      sid: V.sid,
      role: 'initiator',
      ad: V.ADa,
      randomBytes: () => V.ya,
    });
    const B = cpaceStart({
      prs: V.prs,
      ci: V.ci,
      sid: V.sid,
      role: 'responder',
      ad: V.ADb,
      randomBytes: () => V.yb,
    });
    assert.equal(toHex(A.share), V.Ya);
    assert.equal(toHex(B.share), V.Yb);
    const a = ok(A.finish(B.share, V.ADb));
    const b = ok(B.finish(A.share, V.ADa));
    assert.equal(toHex(a.isk), V.ISK_IR);
    assert.equal(toHex(b.isk), V.ISK_IR);
    assert.equal(toHex(iskFrom(V.sid, hex(V.K), hex(V.Ya), V.ADa, hex(V.Yb), V.ADb)), V.ISK_IR);
    assert.ok(a.checkPeerTag(b.tag) && b.checkPeerTag(a.tag));
  });

  it('scalar_mult_vfy with a valid point', () => {
    const s = hex('7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05');
    const X = decodeShare(hex('2c3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c'));
    assert.ok(X);
    const sBig = BigInt(`0x${toHex(s.slice().reverse())}`);
    assert.equal(
      toHex(X.multiply(sBig).toBytes()),
      '7c13645fe790a468f62c39beb7388e541d8405d1ade69d1778c5fe3e7f6b600e',
    );
  });
});

// The draft's two invalid points, then RFC 9496 Appendix A.2's bad encodings (as carried by
// libsodium's tests), then one with the unused top bit set.
const INVALID_SHARES = [
  '2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0100000000000000000000000000000000000000000000000000000000000080',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20',
  'c34c4e1826e5d403b78e246e88aa051c36ccf0aafebffe137d148a2bf9104562',
  'c940e5a4404157cfb1628b108db051a8d439e1a421394ec4ebccb9ec92a8ac78',
  '47cfc5497c53dc8e61c91d17fd626ffb1c49e2bca94eed052281b510b1117a24',
  'f1c6165d33367351b0da8f6e4511010c68174a03b6581212c71c0e1d026c3c72',
  '87260f7a2f12495118360f02c26a470f450dadf34a413d21042b43b9d93e1309',
  '26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371',
  '4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f',
  'de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b',
  'bcab477be20861e01e4a0e295284146a510150d9817763caf1a6f4b422d67042',
  '2a292df7e32cababbd9de088d1d1abec9fc0440f637ed2fba145094dc14bea08',
  'f4a9e534fc0d216c44b218fa0c42d99635a0127ee2e53c712f70609649fdff22',
  '8268436f8c4126196cf64b3c7ddbda90746a378625f9813dd9b8457077256731',
  '2810e5cbc2cc4d4eece54f61c6f69758e289aa7ab440b3cbeaa21995c2f4232b',
  '3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e',
  'a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220',
  'd483fe813c6ba647ebbfd3ec41adca1c6130c2beeee9d9bf065c8d151c5f396e',
  '8a2e1d30050198c65a54483123960ccc38aef6848e1ec8f5f780e8523769ba32',
  '32888462f8b486c68ad7dd9610be5192bbeaf3b443951ac1a8118419d9fa097b',
  '227142501b9d4355ccba290404bde41575b037693cef1f438c47f8fbf35d1165',
  '5c37cc491da847cfeb9281d407efc41e15144c876e0170b499a96a22ed31e01e',
  '445425117cb8c90edcbc7c1cc0e74f747f2c1efa5630a967c64f287792a48a4b',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2df6', // base point | 0x80
];

describe('CPace refuses invalid shares', () => {
  for (const h of INVALID_SHARES) {
    it(`refuses ${h.slice(0, 16)}…`, () => {
      const s = cpaceStart({ ...base(), role: 'responder' });
      assert.deepEqual(s.finish(hex(h)), { ok: false, error: 'invalid-share' });
    });
  }

  it('refuses wrong lengths and non-bytes', () => {
    const valid = cpaceStart({ ...base(), role: 'initiator' }).share;
    for (const bad of [
      new Uint8Array(0),
      valid.subarray(0, 31),
      Uint8Array.of(...valid, 0),
      new Uint8Array(64),
    ]) {
      assert.deepEqual(cpaceStart({ ...base(), role: 'responder' }).finish(bad), {
        ok: false,
        error: 'invalid-share',
      });
    }
    const s = cpaceStart({ ...base(), role: 'responder' });
    assert.deepEqual(s.finish('x'.repeat(32) as unknown as Uint8Array), {
      ok: false,
      error: 'invalid-share',
    });
  });

  it('refuses its own share reflected back', () => {
    const s = cpaceStart({ ...base(), role: 'initiator' });
    assert.deepEqual(s.finish(s.share), { ok: false, error: 'invalid-share' });
  });

  it('uses a scalar once: a second finish throws', () => {
    const A = cpaceStart({ ...base(), role: 'initiator' });
    const B = cpaceStart({ ...base(), role: 'responder' });
    ok(A.finish(B.share));
    assert.throws(() => A.finish(B.share), /finish called twice/);
  });

  it('refuses programmer errors at start', () => {
    assert.throws(() => cpaceStart({ ...base(), prs: new Uint8Array(0), role: 'initiator' }), /prs/);
    assert.throws(() => cpaceStart({ ...base(), sid: new Uint8Array(15), role: 'initiator' }), /sid/);
    assert.throws(() => cpaceStart({ ...base(), role: 'both' as CpaceRole }), /role/);
  });
});

describe('CPace agreement', () => {
  it('same inputs: same ISK, tags cross-verify, tags differ per role', () => {
    const { a, b } = run(base());
    const ra = ok(a);
    const rb = ok(b);
    assert.deepEqual(ra.isk, rb.isk);
    assert.equal(ra.isk.length, 64);
    assert.equal(ra.tag.length, 32);
    assert.ok(ra.checkPeerTag(rb.tag));
    assert.ok(rb.checkPeerTag(ra.tag));
    assert.notDeepEqual(ra.tag, rb.tag);
    assert.ok(!ra.checkPeerTag(ra.tag), 'a tag bounced back to its sender must not verify');
  });

  it('property: random codes and contexts agree; one bit changed in any input disagrees', () => {
    const bytes = (min: number) => fc.uint8Array({ minLength: min, maxLength: 48 });
    fc.assert(
      fc.property(bytes(1), bytes(0), bytes(16), fc.nat(2), fc.nat(), (prs, ci, sid, which, at) => {
        const same = run({ prs, ci, sid });
        assert.deepEqual(ok(same.a).isk, ok(same.b).isk);
        assert.ok(ok(same.a).checkPeerTag(ok(same.b).tag));
        const key = (['prs', 'ci', 'sid'] as const)[which]!;
        const original = { prs, ci, sid }[key];
        const changed = original.length === 0 ? Uint8Array.of(0) : Uint8Array.from(original);
        if (original.length > 0) changed[at % changed.length] = changed[at % changed.length]! ^ 1;
        const mixed = run({ prs, ci, sid }, { prs, ci, sid, [key]: changed });
        const ma = ok(mixed.a);
        const mb = ok(mixed.b);
        assert.notDeepEqual(ma.isk, mb.isk);
        assert.ok(!ma.checkPeerTag(mb.tag) && !mb.checkPeerTag(ma.tag));
      }),
      { numRuns: 25 },
    );
  });

  it('different code: different ISK, tag check fails both ways', () => {
    const { a, b } = run(base(), { ...base(), prs: ascii('amber-delta-olive') });
    const ra = ok(a);
    const rb = ok(b);
    assert.notDeepEqual(ra.isk, rb.isk);
    assert.ok(!ra.checkPeerTag(rb.tag));
    assert.ok(!rb.checkPeerTag(ra.tag));
  });

  it('two initiators never agree (roles are part of the transcript order)', () => {
    const A = cpaceStart({ ...base(), role: 'initiator' });
    const B = cpaceStart({ ...base(), role: 'initiator' });
    const ra = ok(A.finish(B.share));
    const rb = ok(B.finish(A.share));
    assert.notDeepEqual(ra.isk, rb.isk);
    assert.ok(!ra.checkPeerTag(rb.tag));
  });

  it('associated data is authenticated', () => {
    const A = cpaceStart({ ...base(), role: 'initiator', ad: ascii('performer') });
    const B = cpaceStart({ ...base(), role: 'responder' });
    const ra = ok(A.finish(B.share));
    const rb = ok(B.finish(A.share, ascii('observer'))); // what a tampering relay would deliver
    assert.ok(!rb.checkPeerTag(ra.tag));
  });
});

describe('checkTag and confirmTag', () => {
  it('compares exactly and refuses non-tags', () => {
    const t = confirmTag({
      isk: new Uint8Array(64),
      sid: new Uint8Array(16),
      role: 'initiator',
      share: new Uint8Array(32),
    });
    assert.ok(checkTag(t, Uint8Array.from(t)));
    const u = Uint8Array.from(t);
    u[31] = u[31]! ^ 1;
    assert.ok(!checkTag(t, u));
    assert.ok(!checkTag(t, t.subarray(0, 16)));
    assert.ok(!checkTag(t, 'tag'));
    const r = confirmTag({
      isk: new Uint8Array(64),
      sid: new Uint8Array(16),
      role: 'responder',
      share: new Uint8Array(32),
    });
    assert.ok(!checkTag(t, r));
  });
});
