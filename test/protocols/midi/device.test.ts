import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { it } from 'node:test';
import { loadMidiBackend } from '../../../protocols/midi/device.ts';

// The RtMidi adapter. This machine's kernel has no sound support, so the real-device test
// skips here; the degraded path is what runs.

const hasSeq = process.platform !== 'linux' || existsSync('/dev/snd/seq');

it('says in plain words why MIDI is unavailable, without throwing', {
  skip: hasSeq && 'an ALSA sequencer exists here',
}, () => {
  const r = loadMidiBackend();
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.reason, /no ALSA sequencer \(\/dev\/snd\/seq is missing/);
});

it('lists ports and loops a virtual port back to itself', {
  skip: !hasSeq && 'no ALSA sequencer (/dev/snd/seq) on this machine',
}, async () => {
  const r = loadMidiBackend();
  assert.equal(r.ok, true, r.ok ? '' : r.reason);
  if (!r.ok) return;
  const got: number[] = [];
  const input = r.backend.openVirtualInput('hana-test-in', (b) => got.push(...b));
  try {
    const list = r.backend.list();
    assert.ok(Array.isArray(list.inputs) && Array.isArray(list.outputs));
    const out = r.backend.openOutput(list.outputs.find((n) => n.includes('hana-test-in')) ?? 'hana-test-in');
    out.send(Uint8Array.of(0xb0, 7, 100));
    await new Promise((res) => setTimeout(res, 100));
    out.close();
    assert.deepEqual(got, [0xb0, 7, 100]);
  } finally {
    input.close();
  }
});
