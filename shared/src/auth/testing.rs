//! A test OIDC issuer's keys: RS256 and ES256 signing keys, their JWKS entries, and tokens signed
//! with them, for the tests of this crate and of the devstack (feature `test-util`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// One signing key of a test issuer.
pub struct TestKey {
    kid: String,
    signer: Signer,
    jwk: Jwk,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestKey {
    /// A fresh 2048-bit RSA key (RS256).
    pub fn rsa(kid: &str) -> Self {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("generate an RSA key");
        let der = private.to_pkcs8_der().expect("encode the RSA key");
        let pair = RsaKeyPair::from_pkcs8(der.as_bytes()).expect("ring reads the RSA key");
        let jwk = json!({
            "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": b64(&private.n().to_bytes_be()), "e": b64(&private.e().to_bytes_be()),
        });
        Self { kid: kid.to_owned(), signer: Signer::Rsa(pair), jwk: serde_json::from_value(jwk).expect("an RSA JWK") }
    }

    /// A fresh P-256 key (ES256).
    pub fn ec(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("generate a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("read it");
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({
            "kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
            "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        });
        Self { kid: kid.to_owned(), signer: Signer::Ec(pair), jwk: serde_json::from_value(jwk).expect("an EC JWK") }
    }

    /// The key's `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's JWKS entry.
    pub fn jwk(&self) -> Jwk {
        self.jwk.clone()
    }

    /// The key's algorithm, as a JWS header names it.
    pub fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Rsa(_) => "RS256",
            Signer::Ec(_) => "ES256",
        }
    }

    /// `claims` signed with this key, under a header naming its algorithm and `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(&json!({ "alg": self.alg(), "typ": "JWT", "kid": self.kid }), claims)
    }

    /// `claims` under any `header`, signed with this key whatever the header says.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let message = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let rng = SystemRandom::new();
        let signature = match &self.signer {
            Signer::Rsa(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message.as_bytes(), &mut sig).expect("sign RS256");
                sig
            }
            Signer::Ec(pair) => pair.sign(&rng, message.as_bytes()).expect("sign ES256").as_ref().to_vec(),
        };
        format!("{message}.{}", b64(&signature))
    }
}

/// A JWKS of these keys.
pub fn jwks(keys: &[&TestKey]) -> JwkSet {
    JwkSet { keys: keys.iter().map(|k| k.jwk()).collect() }
}
