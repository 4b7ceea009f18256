import { z } from 'zod';
import { PublisherKeyId } from '../plugins/manifest.ts';
import { base64Of, publisherKeyId } from '../plugins/publisher-key.ts';

// The shape of <home>/publishers.json: the plugin publishers this installation runs code from.
// Written by `hana publisher …` and the bundled-plugin bootstrap, read on every plugin load; an
// operator may edit it by hand, so every field is checked and unknown keys are refused.

const Timestamp = z.iso.datetime({ message: 'a time is an ISO 8601 UTC timestamp' });

// Names end up in terminals, logs and the web UI: no control or format characters.
export const PublisherName = z
  .string()
  .min(1, 'a publisher name cannot be empty')
  .max(64, 'a publisher name has at most 64 characters')
  .regex(/^[^\p{Cc}\p{Cf}\u2028\u2029]*$/u, 'a publisher name cannot contain control or format characters');

export const RevocationReason = z
  .string()
  .max(200, 'a revocation reason has at most 200 characters')
  .regex(/^[^\p{Cc}\p{Cf}\u2028\u2029]*$/u, 'a reason cannot contain control or format characters');

export const Publisher = z.strictObject({
  keyId: PublisherKeyId,
  /** Base64 of the raw 32-byte Ed25519 public key. */
  publicKey: base64Of(32),
  name: PublisherName,
  trustedAt: Timestamp,
  /** Set once the key is revoked; plugins it signed stop loading. */
  revoked: z.strictObject({ at: Timestamp, reason: RevocationReason }).optional(),
});

// Far above any real installation; bounds what a damaged file can make every load parse.
export const MAX_PUBLISHERS = 1024;

export const PublishersFile = z
  .strictObject({
    version: z.literal(1),
    publishers: z.array(Publisher).max(MAX_PUBLISHERS),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.publishers.forEach((p, i) => {
      // A hand edit that pairs one key's ID with another key must not pass as either.
      if (publisherKeyId(Buffer.from(p.publicKey, 'base64')) !== p.keyId) {
        ctx.addIssue({
          code: 'custom',
          path: ['publishers', i, 'keyId'],
          message: `${p.keyId} is not the key ID of this public key`,
        });
      }
      if (seen.has(p.keyId)) {
        ctx.addIssue({
          code: 'custom',
          path: ['publishers', i, 'keyId'],
          message: `${p.keyId} is listed twice`,
        });
      }
      seen.add(p.keyId);
    });
  });

export type Publisher = z.infer<typeof Publisher>;
export type PublishersFile = z.infer<typeof PublishersFile>;
