//! Safety numbers: what two people compare out of band to know that the member they see in a
//! group is the device they think, and not a key the server slipped in.
//!
//! **Derivation**, the same in every Starling client (docs/e2e.md; the TypeScript SDK's
//! `safetyNumber` computes it too, and both test the same vector):
//!
//! 1. `input = "Starling safety number v1" || u16(len(identity)) || identity || u16(len(key)) ||
//!    key`: `identity` is the UTF-8 basic-credential identity (`{user}/{device}`), `key` the raw
//!    bytes of the leaf's signature public key (32 bytes of Ed25519 for ciphersuite 1), `u16` a
//!    two-byte big-endian length (so no two inputs run together);
//! 2. `d = SHA-512(input)`;
//! 3. for `i` in `0..12`, the five bytes `d[5i..5i+5]` as a big-endian number, modulo 100,000,
//!    printed as 5 digits with leading zeros; the 12 groups joined by one space (71 characters).
//!
//! That is about 199 bits of the digest: far beyond what an attacker can search for a look-alike.

use sha2::{Digest, Sha512};

const LABEL: &[u8] = b"Starling safety number v1";

/// The safety number of a member with `identity` and `signature_key`.
pub fn safety_number(identity: &str, signature_key: &[u8]) -> String {
    let mut hasher = Sha512::new();
    hasher.update(LABEL);
    for part in [identity.as_bytes(), signature_key] {
        // Identities and keys are far under 64 KiB; a longer one is cut in the length only.
        hasher.update(u16::try_from(part.len()).unwrap_or(u16::MAX).to_be_bytes());
        hasher.update(part);
    }
    let d = hasher.finalize();
    d.chunks(5)
        .take(12)
        .map(|c| {
            let n = c.iter().fold(0u64, |n, b| n * 256 + u64::from(*b)) % 100_000;
            format!("{n:05}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector the TypeScript SDK's test checks too: identity `alice/laptop`, key bytes
    /// 0, 1, …, 31.
    #[test]
    fn the_test_vector_every_client_shares() {
        let key: Vec<u8> = (0u8..32).collect();
        let number = safety_number("alice/laptop", &key);
        assert_eq!(number, "38007 06484 92708 03594 49042 59524 12383 19211 51561 50304 99151 52204");
    }

    #[test]
    fn it_is_twelve_groups_of_five_digits_that_change_with_identity_and_key() {
        let key = [7u8; 32];
        let a = safety_number("alice/laptop", &key);
        assert_eq!(a.len(), 71);
        assert!(a.split(' ').all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_digit())), "{a}");
        assert_ne!(a, safety_number("alice/phone", &key));
        let mut other = key;
        other[31] ^= 1;
        assert_ne!(a, safety_number("alice/laptop", &other));
    }
}
