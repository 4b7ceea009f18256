import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type DecodeLimits,
  decodeOscPacket,
  decodeOscPacketWithPackage,
  encodeOscPacket,
} from '../../../protocols/osc/codec.ts';
import type { OscArg, OscPacket } from '../../../protocols/osc/types.ts';
import { missingTool } from '../../helpers/tools.ts';
import { bytes, limitsArb, mutate, mutationArb, packetArb, plausibleStartArb } from './osc-test-helpers.ts';

// Our one-pass decoder (protocols/osc/v1/decode.ts) against two decoders nobody here wrote, on
// the same corpora: valid packets, valid packets damaged where decoders go wrong (length fields,
// truncation, splices), and random bytes.
// - The `osc` package behind validate.ts (what ingest used before): the same decision, the same
//   values, the same reason code and message, for every input.
// - liblo (Debian liblo-dev, through test/protocols/osc/liblo-decode.c): for a message, the same
//   decision and values, except where liblo is stricter or laxer by design (below); for a
//   bundle, every bundle we accept liblo accepts with the same messages in the same order.
//   liblo dispatches a bundle's elements as it reads them and stops at a bad one, so it is not
//   asked to refuse what we refuse inside bundles (hana refuses a bundle whole).

const LIMITS: DecodeLimits = { maxBytes: 65536, maxDepth: 8 };

/** Both decoders; the package's refusal "codec: …" would mean validate.ts let something through. */
function assertSame(b: Uint8Array, limits: DecodeLimits = LIMITS): void {
  const ours = decodeOscPacket(b, limits);
  const theirs = decodeOscPacketWithPackage(b, limits);
  assert.deepStrictEqual(ours, theirs, Buffer.from(b).toString('hex'));
}

describe('OSC v1 decoder against the osc package', () => {
  it('valid packets: the same values', () => {
    fc.assert(
      fc.property(packetArb(3), (p) => assertSame(encodeOscPacket(p))),
      { numRuns: 2000 },
    );
  });

  it('damaged packets: the same decision, values, reason and message', () => {
    fc.assert(
      fc.property(
        packetArb(3),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        limitsArb,
        (p, m, limits) => assertSame(mutate(p, encodeOscPacket(p), m), limits),
      ),
      { numRuns: 5000 },
    );
  });

  it('random bytes after a plausible start: the same', () => {
    fc.assert(
      fc.property(plausibleStartArb, fc.uint8Array({ maxLength: 256 }), (prefix, body) => {
        const b = bytes(prefix, body);
        assertSame(b.subarray(0, b.length & ~3));
        assertSame(b);
      }),
      { numRuns: 3000 },
    );
  });

  it('a packet inside a larger buffer (a Buffer view at an offset): the same, blobs copied out', () => {
    fc.assert(
      fc.property(packetArb(2), fc.nat({ max: 64 }), (p, offset) => {
        const encoded = encodeOscPacket(p);
        const big = Buffer.alloc(offset + encoded.length + 8, 0xa5);
        big.set(encoded, offset);
        const view = big.subarray(offset, offset + encoded.length);
        assertSame(view);
        const r = decodeOscPacket(view, LIMITS);
        big.fill(0); // a decoded blob must not be a view of the packet's memory
        assert.deepStrictEqual(r, decodeOscPacket(encoded, LIMITS));
      }),
      { numRuns: 500 },
    );
  });
});

// ---- liblo ----

const skip = missingTool('/usr/include/lo/lo.h', 'liblo-dev') || missingTool('cc', 'gcc') || undefined;

/** liblo 0.31 has neither the `r` type nor arrays, and reads `c` as 8 bits: a corpus it shares. */
function libloShaped(p: OscPacket): OscPacket {
  if (p.kind === 'bundle') return { ...p, elements: p.elements.map(libloShaped) };
  const args = p.args.flatMap((a): OscArg[] => {
    if (a.type === 'r' || a.type === '[') return [];
    if (a.type === 'c') return [{ type: 'c', value: String.fromCharCode(a.value.charCodeAt(0) & 0xff) }];
    return [a];
  });
  return { ...p, args };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const f32 = new DataView(new ArrayBuffer(8));

/** An argument as liblo-decode.c prints it. */
function argText(a: OscArg): string {
  switch (a.type) {
    case 'i':
    case 'h':
      return String(a.value);
    case 'f':
      f32.setFloat32(0, a.value);
      return f32.getUint32(0).toString(16).padStart(8, '0');
    case 'd':
      f32.setFloat64(0, a.value);
      return f32.getBigUint64(0).toString(16).padStart(16, '0');
    case 't':
      return `${a.value.seconds}.${a.value.fraction}`;
    case 's':
    case 'S':
      return hex(Buffer.from(a.value, 'utf8'));
    case 'c':
      return String(a.value.charCodeAt(0) & 0xff);
    case 'm':
      return hex(a.value);
    case 'b':
      return `${a.value.length}:${hex(a.value)}`;
    default:
      return a.type;
  }
}

/** NTP seconds now, as liblo compares a bundle's time tag. */
const ntpNow = () => Math.floor(Date.now() / 1000) + 2_208_988_800;

/**
 * What liblo-decode.c prints for a packet it dispatches whole. liblo holds back the messages of
 * a bundle whose own time tag is in the future (its server queues them), so they do not show.
 */
function libloLines(p: OscPacket, later = false): string[] {
  if (p.kind === 'bundle') {
    const { seconds, fraction } = p.timetag;
    const future = !(seconds === 0 && fraction === 1) && seconds > ntpNow();
    return [`B ${seconds} ${fraction}`, ...p.elements.flatMap((e) => libloLines(e, future)), 'E'];
  }
  if (later) return [];
  const types = p.args.map((a) => a.type).join('');
  return [`M ${hex(Buffer.from(p.address, 'utf8'))} ${[types, ...p.args.map(argText)].join(' ')}`];
}

describe('OSC v1 decoder against liblo', { skip }, () => {
  let dir = '';
  let bin = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hana-liblo-'));
    bin = join(dir, 'liblo-decode');
    execFileSync('cc', ['-O2', '-o', bin, join(import.meta.dirname, 'liblo-decode.c'), '-llo']);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** liblo's verdict on each packet: what it dispatched and its result (< 0: refused). */
  function liblo(corpus: readonly Uint8Array[]): { lines: string[]; result: number }[] {
    const out = spawnSync(bin, { input: `${corpus.map(hex).join('\n')}\n`, maxBuffer: 1 << 28 });
    assert.equal(out.status, 0, String(out.stderr));
    const verdicts: { lines: string[]; result: number }[] = [];
    let lines: string[] = [];
    for (const line of String(out.stdout).split('\n')) {
      if (line.startsWith('R ')) {
        verdicts.push({ lines, result: Number(line.slice(2)) });
        lines = [];
      } else if (line) lines.push(line);
    }
    assert.equal(verdicts.length, corpus.length);
    return verdicts;
  }

  it('the same decision and values on a shared fuzz corpus (valid and damaged packets)', (t) => {
    // Bounded and fixed (a seed), so a difference found once is found on every run.
    const corpus = fc
      .sample(fc.tuple(packetArb(2).map(libloShaped), fc.array(mutationArb, { maxLength: 3 })), {
        numRuns: 4000,
        seed: 18,
      })
      .map(([p, m]) => (m.length ? mutate(p, encodeOscPacket(p), m) : encodeOscPacket(p)));
    const verdicts = liblo(corpus);
    const tally = { agreed: 0, nonCanonical: 0, noSlash: 0, bundleRefusals: 0 };
    corpus.forEach((b, i) => {
      const ours = decodeOscPacket(b, LIMITS);
      const lo = verdicts[i]!;
      const what = `${hex(b)}: hana ${ours.ok ? 'accepts' : `refuses (${ours.error.code})`}, liblo ${lo.result < 0 ? `refuses (${lo.result})` : 'accepts'} ${JSON.stringify(lo.lines)}`;
      if (ours.ok) {
        // liblo refuses non-zero padding after a string's NUL (LO_EPAD and kin), which OSC 1.0
        // leaves to the receiver; the osc package and hana take it. Our encoder writes zeros, so
        // a packet that re-encodes to other bytes is where liblo may differ.
        if (hex(encodeOscPacket(ours.packet)) !== hex(b)) {
          tally.nonCanonical++;
          return;
        }
        assert.ok(lo.result >= 0, what);
        assert.deepEqual(lo.lines, libloLines(ours.packet), what);
      } else if (b[0] === 0x23 /* # */) {
        tally.bundleRefusals++; // liblo may have dispatched part of it: see the header
        return;
      } else if (ours.error.code === 'bad-address' && lo.result >= 0) {
        tally.noSlash++; // liblo takes an address without the leading "/" OSC requires
        return;
      } else assert.ok(lo.result < 0, what);
      tally.agreed++;
    });
    t.diagnostic(`liblo comparison: ${JSON.stringify(tally)}`);
    // The corpus exercises both sides of the decision, not only the exceptions.
    assert.ok(tally.agreed > corpus.length / 2, JSON.stringify(tally));
  });
});
