import { createHash, createHmac } from 'node:crypto';

// The TLS 1.2 PRF with SHA-256 (RFC 5246 §5) and the derivations the handshake verifier
// recomputes on its own rather than trusting werift's: the extended master secret (RFC 7627
// §4) and Finished verify_data (RFC 5246 §7.4.9).

export function prfSha256(secret: Uint8Array, label: string, seed: Uint8Array, length: number): Buffer {
  const labelSeed = Buffer.concat([Buffer.from(label, 'latin1'), seed]);
  const out: Buffer[] = [];
  let a: Buffer = labelSeed;
  let have = 0;
  while (have < length) {
    a = createHmac('sha256', secret).update(a).digest();
    const block = createHmac('sha256', secret).update(a).update(labelSeed).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

export const sha256 = (parts: readonly Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** RFC 7627: bound to the whole handshake up to ClientKeyExchange, not only the two randoms. */
export function extendedMasterSecret(preMaster: Uint8Array, sessionHash: Uint8Array): Buffer {
  return prfSha256(preMaster, 'extended master secret', sessionHash, 48);
}

export function finishedVerifyData(
  master: Uint8Array,
  sender: 'client' | 'server',
  transcriptHash: Uint8Array,
): Buffer {
  return prfSha256(master, `${sender} finished`, transcriptHash, 12);
}
