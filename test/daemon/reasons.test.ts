import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createRejections } from '../../daemon/ingest/rejections.ts';
import { IntroductionRefusal } from '../../daemon/link/introductions.ts';
import { RotationRefusal } from '../../daemon/link/rotation.ts';
import { securityLogger } from '../../daemon/log.ts';
import {
  CHANNELS,
  type Channel,
  familyTotal,
  INPUT_FAMILIES,
  isSecurityReason,
} from '../../daemon/reasons.ts';
import { REASONS_DOC, reasonsReference } from '../../daemon/reasons-doc.ts';
import { MDNS_REJECT_CODES } from '../../protocols/mdns/peer.ts';
import { MIDI_REJECT_CODES } from '../../protocols/midi/events.ts';
import { captureLogger } from '../helpers/log-capture.ts';

// One registry of rejection reasons (daemon/reasons.ts): the codes the daemon emits, which are
// security events, and docs/reasons.md, all from the same table.

const ROOT = join(import.meta.dirname, '..', '..');
const channels = Object.keys(CHANNELS) as Channel[];
const codes = (c: Channel) => CHANNELS[c].reasons.map((r) => r.code as string);

/** Every .ts file under the daemon's source folders, by path from the repository root. */
async function sources(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const dir of ['daemon', 'protocols', 'trust-store', 'plugins']) {
    for (const e of await readdir(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
      if (!e.isFile() || !e.name.endsWith('.ts')) continue;
      const path = join(e.parentPath, e.name);
      out.set(path.slice(ROOT.length + 1), await readFile(path, 'utf8'));
    }
  }
  return out;
}

// `midi-${r.code}`, `peer-${code}`, `sync-${verdict.code}`, `plugin-${c.code}` build prefixed
// codes from the bare codes of the layer below: where each family may find its bare code.
const BARE_IN: Record<string, readonly string[]> = {
  midi: ['protocols/midi/', 'daemon/midi/', 'daemon/midi-clock/', 'daemon/state/coerce.ts'],
  peer: ['protocols/dtls/'],
  sync: ['daemon/sync/'],
  plugin: ['daemon/plugins/', 'daemon/state/coerce.ts'],
};

describe('the reason registry', () => {
  it('docs/reasons.md is generated from the current registry (run `npm run docs:reasons`)', async () => {
    assert.equal(await readFile(REASONS_DOC, 'utf8'), reasonsReference());
  });

  it('has each code once per channel, each with a sentence of meaning', () => {
    for (const c of channels) {
      assert.equal(new Set(codes(c)).size, codes(c).length, `${c}: duplicate codes`);
      for (const r of CHANNELS[c].reasons) {
        assert.match(r.code, /^[a-z0-9]+(-[a-z0-9]+)*$/, r.code);
        assert.match(r.doc, /^\S.{10,}[.)]$/, `${c} ${r.code}: ${r.doc}`);
      }
    }
  });

  it('holds exactly the codes of the protocol layers that list theirs', () => {
    assert.deepEqual(codes('mdns').sort(), [...MDNS_REJECT_CODES].sort());
    assert.deepEqual(codes('introduction').sort(), [...IntroductionRefusal].sort());
    assert.deepEqual(codes('rotation').sort(), [...RotationRefusal.options].sort());
    const midi = codes('input').filter((c) => INPUT_FAMILIES.midi.some((r) => r.code === c));
    for (const c of MIDI_REJECT_CODES) assert.ok(midi.includes(`midi-${c}`), `midi-${c}`);
  });

  it('names no code the daemon does not emit (every code is a literal somewhere in the source)', async () => {
    const files = await sources();
    files.delete('daemon/reasons.ts');
    const anywhere = [...files.values()].join('\n');
    const within = (prefixes: readonly string[]) =>
      [...files]
        .filter(([path]) => prefixes.some((p) => path.startsWith(p)))
        .map(([, text]) => text)
        .join('\n');
    const stale: string[] = [];
    for (const c of channels) {
      for (const code of codes(c)) {
        const family = /^(midi|peer|sync|plugin)-(.+)$/.exec(code);
        const found =
          anywhere.includes(`'${code}'`) ||
          (family !== null && within(BARE_IN[family[1]!]!).includes(`'${family[2]}'`));
        if (!found) stale.push(`${c}: ${code}`);
      }
    }
    assert.deepEqual(stale, []);
  });

  it('routes exactly the security codes of each channel to the security logger', () => {
    for (const c of channels) {
      const { log, lines } = captureLogger();
      const r = createRejections({ channel: c, log, security: securityLogger(log), intervalMs: 0 });
      for (const code of codes(c)) r.reject(code as never, '192.0.2.1', `refused: ${code}`);
      assert.deepEqual(
        lines.map((l) => [l.reason, l.event, l.security === true]),
        CHANNELS[c].reasons.map((x) => [x.code, CHANNELS[c].event, x.security]),
      );
      for (const x of CHANNELS[c].reasons) assert.equal(isSecurityReason(c, x.code), x.security);
      assert.equal(r.total(), codes(c).length);
    }
  });

  it('treats an origin or path this laptop does not know as a config difference, and forgery as security', () => {
    for (const code of [
      'sync-unknown-path',
      'sync-unknown-path-dropped',
      'sync-unknown-origin',
      'sync-unknown-origin-dropped',
    ])
      assert.equal(isSecurityReason('input', code), false, code);
    for (const code of [
      'sync-bad-signature',
      'sync-equivocation',
      'sync-origin-blocked',
      'sync-v1-refused',
      'sync-rate-limited',
    ])
      assert.equal(isSecurityReason('input', code), true, code);
    assert.equal(isSecurityReason('input', 'made-up'), false);
  });

  it('totals a family of input reasons for hana status', () => {
    assert.equal(familyTotal({ flood: 2, 'wrong-type': 1, 'midi-flood': 7, 'sync-malformed': 4 }, 'osc'), 3);
    assert.equal(familyTotal({ 'midi-flood': 7 }, 'midi'), 7);
  });

  it('accepts no free string as a reason (checked by tsc)', () => {
    const { log } = captureLogger();
    const input = createRejections({ log, security: log, intervalMs: 0 });
    const link = createRejections({ channel: 'link', log, security: log, intervalMs: 0 });
    // @ts-expect-error a code no channel has
    input.reject('made-up-reason', 'x', 'm');
    // @ts-expect-error a link code is not an input code
    input.reject('key-change', 'x', 'm');
    // @ts-expect-error an input code is not a link code
    link.reject('flood', 'x', 'm');
    const built = `sync-${'made-up' as string}`;
    // @ts-expect-error a string built at run time
    input.reject(built, 'x', 'm');
    assert.equal(input.total() + link.total(), 4, 'at run time they are still counted');
  });
});
