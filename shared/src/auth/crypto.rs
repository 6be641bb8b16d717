//! The signatures under `jsonwebtoken`, on ring: the crypto library rustls already links for the
//! SDK's TLS, through the crate's own `CryptoProvider` extension point.
//!
//! Why not the crate's `rust_crypto` feature: its provider dispatches on the token's algorithm at
//! run time, so every bootstrap that verifies a token linked RSA, ECDSA P-256/P-384 and Ed25519
//! code it never runs (docs/deploy.md has the size). Starling accepts HS256 (its own tokens,
//! signed and verified) and, from an OIDC issuer's JWKS, RS256 and ES256 (verified only). ring's
//! RSA and P-256 verification is linked already, for the TLS certificates rustls checks, so these
//! cost next to nothing. Every other algorithm is refused with `InvalidAlgorithm`.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::hmac;
use ring::signature::{ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey};

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

/// An RS256 public key (a JWK's modulus and exponent). ring refuses moduli under 2048 bits.
struct Rs256 {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl Verifier<Vec<u8>> for Rs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        RsaPublicKeyComponents { n: &self.n, e: &self.e }
            .verify(&RSA_PKCS1_2048_8192_SHA256, msg, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Rs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

/// An ES256 public key: the uncompressed P-256 point `jsonwebtoken` builds from a JWK's `x` and
/// `y`. JWS signatures are the fixed-width `r || s`.
struct Es256(Vec<u8>);

impl Verifier<Vec<u8>> for Es256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.0)
            .verify(msg, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Es256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
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
        (Algorithm::RS256, AlgorithmFamily::Rsa, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            Ok(Box::new(Rs256 { n: n.clone(), e: e.clone() }))
        }
        (Algorithm::ES256, AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(point)) => {
            Ok(Box::new(Es256(point.clone())))
        }
        (Algorithm::HS256 | Algorithm::RS256 | Algorithm::ES256, _, _) => Err(ErrorKind::InvalidKeyFormat.into()),
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
    fn only_hs256_signs_and_only_hs256_rs256_and_es256_verify_each_with_its_own_kind_of_key() {
        let secret = EncodingKey::from_secret(b"k");
        assert!(signer(&Algorithm::HS256, &secret).is_ok());
        for other in [Algorithm::HS384, Algorithm::HS512, Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            let refused = signer(&other, &secret).err().expect("refused");
            assert!(matches!(refused.kind(), ErrorKind::InvalidAlgorithm), "{other:?}");
        }
        for other in
            [Algorithm::HS384, Algorithm::HS512, Algorithm::RS384, Algorithm::PS256, Algorithm::ES384, Algorithm::EdDSA]
        {
            let refused = verifier(&other, &DecodingKey::from_secret(b"k")).err().expect("refused");
            assert!(matches!(refused.kind(), ErrorKind::InvalidAlgorithm), "{other:?}");
        }
        let rsa = DecodingKey::from_rsa_components("AQAB", "AQAB").unwrap();
        let ec = DecodingKey::from_ec_components("AQAB", "AQAB").unwrap();
        let hmac = DecodingKey::from_secret(b"k");
        assert!(verifier(&Algorithm::RS256, &rsa).is_ok());
        assert!(verifier(&Algorithm::ES256, &ec).is_ok());
        for (alg, wrong) in
            [(Algorithm::HS256, &rsa), (Algorithm::RS256, &ec), (Algorithm::RS256, &hmac), (Algorithm::ES256, &rsa)]
        {
            assert!(matches!(verifier(&alg, wrong).err().unwrap().kind(), ErrorKind::InvalidKeyFormat), "{alg:?}");
        }
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
