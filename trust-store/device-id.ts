import { createHash } from 'node:crypto';
import { trustStoreError } from './errors.ts';
import { GROUP } from './short-id.ts';

export { shortId } from './short-id.ts';

// A device ID is read aloud, typed from a projector screen and pasted between chats, so it
// carries a check character per 13-character chunk (like Syncthing) and parsing forgives the
// mistakes people make: case, separators, and digits that look like letters.
//
// The check character is the textbook Luhn mod N (N = 32, from the rightmost character with
// factor 2). Syncthing starts from the left instead, so our check characters differ from
// Syncthing's for the same bytes; nothing here needs to interoperate with Syncthing.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const N = ALPHABET.length;
const CHUNK = 13;
const CHUNKS = 4;
const BARE_LENGTH = CHUNK * CHUNKS; // 52 characters carry 260 bits: the 256 of the hash + 4 zero bits
const CHECKED_LENGTH = (CHUNK + 1) * CHUNKS;

// Letters people read as digits (and type as such) map back to the letter; 0, 1 and 8 are not
// in the base32 alphabet, so this never changes a valid character.
const LOOKALIKES: Readonly<Record<string, string>> = { '0': 'O', '1': 'I', '8': 'B' };

function codePoint(ch: string): number {
  return ALPHABET.indexOf(ch);
}

function base32(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}

/** Decodes base32 text whose length and alphabet are already checked; trailing pad bits are ignored. */
function unbase32(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let acc = 0;
  let bits = 0;
  let i = 0;
  for (const ch of text) {
    acc = (acc << 5) | codePoint(ch);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      if (i < out.length) out[i++] = (acc >>> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** Luhn mod N check character for `chunk` (base32 characters only). */
export function luhn32(chunk: string): string {
  let factor = 2;
  let sum = 0;
  for (let i = chunk.length - 1; i >= 0; i--) {
    const addend = factor * codePoint(chunk[i]!);
    factor = factor === 2 ? 1 : 2;
    sum += Math.floor(addend / N) + (addend % N);
  }
  return ALPHABET[(N - (sum % N)) % N]!;
}

function group(checked: string): string {
  const groups: string[] = [];
  for (let i = 0; i < checked.length; i += GROUP) groups.push(checked.slice(i, i + GROUP));
  return groups.join('-');
}

function withChecks(bare: string): string {
  let out = '';
  for (let i = 0; i < BARE_LENGTH; i += CHUNK) {
    const chunk = bare.slice(i, i + CHUNK);
    out += chunk + luhn32(chunk);
  }
  return out;
}

/** Formats a 32-byte SHA-256 as the 8 groups of 7 people see; throws on any other length. */
export function formatDeviceId(sha256: Uint8Array): string {
  if (sha256.length !== 32) throw new RangeError(`a device ID is 32 bytes, got ${sha256.length}`);
  return group(withChecks(base32(sha256)));
}

export function deviceIdFromCertDer(der: Uint8Array): string {
  return formatDeviceId(createHash('sha256').update(der).digest());
}

export type ParsedId = { ok: true; id: string } | { ok: false; error: string };

/**
 * Normalises a device ID typed by a person to its canonical formatted form. Accepts the
 * 56-character form (check characters verified) or the 52-character form without them.
 */
export function parseDeviceId(text: string): ParsedId {
  // ASCII-only upper-casing: String#toUpperCase would turn 'ß' into 'SS' and 'ı' into 'I'.
  const cleaned = text
    .replace(/[\s-]/g, '')
    .replace(/[a-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 32))
    .replace(/[018]/g, (d) => LOOKALIKES[d]!);
  if (cleaned.length === 0) return { ok: false, error: 'the device ID is empty' };
  for (let i = 0; i < cleaned.length; i++) {
    const ch = cleaned[i]!;
    if (codePoint(ch) < 0) {
      const where =
        cleaned.length === CHECKED_LENGTH ? `in group ${Math.floor(i / GROUP) + 1}` : `at position ${i + 1}`;
      return {
        ok: false,
        error: `character ${JSON.stringify(ch)} ${where} is not part of a device ID (letters A-Z and digits 2-7)`,
      };
    }
  }
  let bare: string;
  if (cleaned.length === CHECKED_LENGTH) {
    bare = '';
    for (let c = 0; c < CHUNKS; c++) {
      const chunk = cleaned.slice(c * (CHUNK + 1), c * (CHUNK + 1) + CHUNK);
      if (luhn32(chunk) !== cleaned[c * (CHUNK + 1) + CHUNK]) {
        return {
          ok: false,
          error: `check character ${c + 1} does not match: a typo in group ${2 * c + 1} or ${2 * c + 2}?`,
        };
      }
      bare += chunk;
    }
  } else if (cleaned.length === BARE_LENGTH) {
    bare = cleaned;
  } else {
    return {
      ok: false,
      error: `a device ID has ${CHECKED_LENGTH} characters (or ${BARE_LENGTH} without check characters), got ${cleaned.length}: a character missing or doubled?`,
    };
  }
  // The last character holds one bit of the hash and four zero pad bits; anything else would
  // let two spellings name one device, so it is a typo.
  if ((codePoint(bare[BARE_LENGTH - 1]!) & 0b1111) !== 0) {
    const error =
      cleaned.length === CHECKED_LENGTH
        ? 'the next-to-last character of a device ID can only be A or Q: a typo in group 8?'
        : 'the last character of a device ID without check characters can only be A or Q: a typo near the end?';
    return { ok: false, error };
  }
  return { ok: true, id: formatDeviceId(unbase32(bare)) };
}

/** parseDeviceId for IDs from code or the CLI: a bad one throws (code 'invalid-device-id'). */
export function requireDeviceId(text: string, what = 'device ID'): string {
  const parsed = parseDeviceId(text);
  if (!parsed.ok) {
    const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
    throw trustStoreError('invalid-device-id', `invalid ${what} ${shown}: ${parsed.error}`);
  }
  return parsed.id;
}
