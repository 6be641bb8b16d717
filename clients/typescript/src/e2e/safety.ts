import { utf8 } from './bytes.js';

const LABEL = 'Starling safety number v1';

/**
 * A member's safety number: 60 digits in 12 groups of 5, which two people compare out of band
 * (read aloud, or side by side) to know that the key their apps use for a member is the one that
 * member's device holds. It changes only when the device's signature key changes (a new device
 * or a reinstall), never with epochs.
 *
 * Derivation (stable; clients in other languages must reproduce it exactly):
 *
 * 1. `input = "Starling safety number v1" || u16(len(identity)) || identity || u16(len(key)) || key`,
 *    where `identity` is the UTF-8 credential identity `{user}/{device}`, `key` the member's
 *    Ed25519 signature public key (32 bytes) as in its leaf, and `u16` a 2-byte big-endian length;
 * 2. `digest = SHA-512(input)` (64 bytes);
 * 3. for `i` in 0…11, the 5 bytes `digest[5i … 5i+4]` read as a big-endian unsigned integer,
 *    modulo 100 000, written as 5 decimal digits with leading zeros;
 * 4. the 12 groups joined by single spaces.
 *
 * That is about 199 bits of the digest, so finding another key with the same number is far
 * beyond reach; no iteration is needed (Signal iterates because its per-party half is 30 digits).
 *
 * @param identity the credential identity, `{user}/{device}`.
 * @param signaturePublicKey the member's signature public key.
 */
export async function safetyNumber(identity: string, signaturePublicKey: Uint8Array): Promise<string> {
  const id = utf8(identity);
  const label = utf8(LABEL);
  const input = new Uint8Array(label.length + 2 + id.length + 2 + signaturePublicKey.length);
  let at = 0;
  const put = (bytes: Uint8Array, withLength: boolean): void => {
    if (withLength) {
      input[at++] = (bytes.length >> 8) & 255;
      input[at++] = bytes.length & 255;
    }
    input.set(bytes, at);
    at += bytes.length;
  };
  put(label, false);
  put(id, true);
  put(signaturePublicKey, true);
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-512', input));
  const groups: string[] = [];
  for (let i = 0; i < 12; i++) {
    let n = 0;
    for (let j = 0; j < 5; j++) n = n * 256 + (digest[5 * i + j] ?? 0);
    groups.push(String(n % 100_000).padStart(5, '0'));
  }
  return groups.join(' ');
}
