//! The signatures under `jsonwebtoken`, on ring: the crypto library rustls already links for the
//! SDK's TLS, through the crate's own `CryptoProvider` extension point.
//!
//! Why not the crate's `rust_crypto` feature: its provider dispatches on the token's algorithm at
//! run time, so every bootstrap that verifies a token linked RSA, ECDSA P-256/P-384 and Ed25519
//! code it never runs (docs/deploy.md has the size). Starling's tokens are HS256 only (the
//! verifier pins it), so this provider signs and verifies HS256 and refuses every other
//! algorithm with `InvalidAlgorithm`.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::hmac;

/// An HS256 key; `hmac::verify` compares in constant time.
struct Hs256(hmac::Key);

impl Hs256 {
    fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(hmac::sign(&self.0, msg).as_ref().to_vec())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        hmac::verify(&self.0, msg, signature).map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    match (algorithm, key.family()) {
        (Algorithm::HS256, AlgorithmFamily::Hmac) => Ok(Box::new(Hs256::new(key.as_bytes()))),
        (Algorithm::HS256, _) => Err(ErrorKind::InvalidKeyFormat.into()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    match (algorithm, key.family(), key.kind()) {
        (Algorithm::HS256, AlgorithmFamily::Hmac, DecodingKeyKind::SecretOrDer(secret)) => {
            Ok(Box::new(Hs256::new(secret)))
        }
        (Algorithm::HS256, _, _) => Err(ErrorKind::InvalidKeyFormat.into()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

static PROVIDER: CryptoProvider =
    CryptoProvider { signer_factory: signer, verifier_factory: verifier, key_utils: KeyUtils::new_unimplemented() };

/// Makes [`PROVIDER`] the process's provider before the first sign or verify. Idempotent; it
/// loses only to a provider installed earlier by someone else, which then serves instead.
pub(crate) fn install() {
    let _ = PROVIDER.install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hs256_with_a_secret_gets_a_signer_or_a_verifier() {
        let secret = EncodingKey::from_secret(b"k");
        assert!(signer(&Algorithm::HS256, &secret).is_ok());
        for other in [Algorithm::HS384, Algorithm::HS512, Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            let refused = signer(&other, &secret).err().expect("refused");
            assert!(matches!(refused.kind(), ErrorKind::InvalidAlgorithm), "{other:?}");
            let refused = verifier(&other, &DecodingKey::from_secret(b"k")).err().expect("refused");
            assert!(matches!(refused.kind(), ErrorKind::InvalidAlgorithm), "{other:?}");
        }
        let rsa = DecodingKey::from_rsa_components("AQAB", "AQAB").unwrap();
        assert!(matches!(verifier(&Algorithm::HS256, &rsa).err().unwrap().kind(), ErrorKind::InvalidKeyFormat));
    }

    #[test]
    fn a_signature_verifies_only_for_its_message_and_key() {
        let key = Hs256::new(b"secret");
        let sig = key.try_sign(b"payload").unwrap();
        assert_eq!(sig.len(), 32);
        assert!(Verifier::verify(&key, b"payload", &sig).is_ok());
        assert!(Verifier::verify(&key, b"payloaD", &sig).is_err());
        assert!(Verifier::verify(&Hs256::new(b"other"), b"payload", &sig).is_err());
        assert!(Verifier::verify(&key, b"payload", &sig[..31].to_vec()).is_err());
    }
}
