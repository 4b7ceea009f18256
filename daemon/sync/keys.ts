import { createHash, type KeyObject, verify, X509Certificate } from 'node:crypto';
import { deviceIdFromCertDer } from '../../trust-store/device-id.ts';
import { withGetters } from '../fast-object.ts';
import { type Batch, signedBytes } from './v2/batch.ts';

// Public keys of the devices whose writes this daemon may have to check, by device ID. A
// device ID is the SHA-256 of its certificate, so a certificate is its own proof: whoever
// sends one (the device itself at the handshake, or a peer passing it on) cannot make it stand
// for another ID. Trust is not decided here; only "did this device sign these bytes".

export type Verification = 'ok' | 'bad-signature' | 'unknown-key';

export type KeyDirectory = {
  /** Learns a certificate; returns its device ID, or an error sentence for one that cannot sign batches. */
  learn(der: Uint8Array): { ok: true; id: string } | { ok: false; error: string };
  has(id: string): boolean;
  certOf(id: string): Uint8Array | undefined;
  verify(batch: Batch): Verification;
  readonly size: number;
};

/** Far above any ensemble; bounds what a peer sending certificates of made-up devices can cost. */
const MAX_KEYS = 1024;
/** Batches already checked, by signature: a snapshot re-sent after a lost part costs nothing again. */
const MAX_VERIFIED = 4096;

export function createKeyDirectory(pinnedIds: () => ReadonlySet<string> = () => new Set()): KeyDirectory {
  const keys = new Map<string, { der: Uint8Array; key: KeyObject }>();
  const verified = new Set<string>();

  function evict(): void {
    // Keys of devices nobody pinned go first; a pinned peer's key is needed for its writes.
    const pinned = pinnedIds();
    for (const id of keys.keys()) {
      if (!pinned.has(id)) {
        keys.delete(id);
        return;
      }
    }
    keys.delete(keys.keys().next().value!);
  }

  return withGetters(
    {
      learn(der) {
        let cert: X509Certificate;
        try {
          cert = new X509Certificate(der);
        } catch (err) {
          return { ok: false, error: `not a certificate (${(err as Error).message})` };
        }
        // The ID is the hash of these exact bytes: PEM text, trailing bytes or a broken
        // self-signature would file a real key under a second, made-up ID.
        if (!Buffer.from(cert.raw).equals(Buffer.from(der)))
          return { ok: false, error: 'not exactly one DER certificate' };
        const key = cert.publicKey;
        const curve = key.asymmetricKeyDetails?.namedCurve;
        if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1')
          return { ok: false, error: `its key is ${key.asymmetricKeyType} ${curve ?? ''}, not ECDSA P-256` };
        if (!cert.verify(key)) return { ok: false, error: 'its self-signature does not verify' };
        const id = deviceIdFromCertDer(der);
        if (!keys.has(id)) {
          if (keys.size >= MAX_KEYS) evict();
          keys.set(id, { der: der.slice(), key });
        }
        return { ok: true, id };
      },
      has: (id) => keys.has(id),
      certOf: (id) => keys.get(id)?.der,
      verify(batch) {
        const k = keys.get(batch.origin);
        if (!k) return 'unknown-key';
        // The memo names everything signed and the signature: a signature that verified once
        // must not vouch for any other list (that would let a relay rewrite an origin's batch).
        const data = signedBytes(batch.origin, batch.list);
        const memo = createHash('sha256').update(data).update(batch.sig).digest('base64');
        if (verified.has(memo)) return 'ok';
        const ok = verify('sha256', data, { key: k.key, dsaEncoding: 'ieee-p1363' }, batch.sig);
        if (!ok) return 'bad-signature';
        if (verified.size >= MAX_VERIFIED) verified.delete(verified.values().next().value!);
        verified.add(memo);
        return 'ok';
      },
    } satisfies Omit<KeyDirectory, 'size'>,
    { size: () => keys.size },
  );
}
