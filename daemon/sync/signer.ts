import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { signedBytes } from './v2/batch.ts';

// Signs this daemon's entry lists with its identity key. The same flush goes to every linked
// peer as the same list, so the signature is cached for a few lists: three peers cost one
// signature, not three.

const CACHE = 32;

export type Signer = { sign(list: Uint8Array): Uint8Array };

export function createSigner(identity: () => { deviceId: string; keyPem: string }): Signer {
  let key: { pem: string; object: KeyObject } | undefined;
  const cache = new Map<string, Uint8Array>();
  return {
    sign(list) {
      const { deviceId, keyPem } = identity();
      if (key?.pem !== keyPem) {
        key = { pem: keyPem, object: createPrivateKey(keyPem) };
        cache.clear();
      }
      const memo = Buffer.from(list.buffer, list.byteOffset, list.byteLength).toString('latin1');
      const hit = cache.get(memo);
      if (hit) return hit;
      const sig = new Uint8Array(
        sign('sha256', signedBytes(deviceId, list), { key: key.object, dsaEncoding: 'ieee-p1363' }),
      );
      if (cache.size >= CACHE) cache.delete(cache.keys().next().value!);
      cache.set(memo, sig);
      return sig;
    },
  };
}
