//! HS256 JWTs: verified by the authorizer at the handshake, minted by tests and dev tools.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

/// Clock skew tolerated on `exp`.
const LEEWAY_SECS: u64 = 5;

/// The claims Starling reads from a token (and writes when minting). Other claims (`iss`, `jti`,
/// `nbf`, …) are ignored, except `aud`: no audience is configured, so a token carrying one is
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, epoch seconds.
    pub exp: u64,
    /// Issued at, epoch seconds. Optional and not checked; but because it is parsed into this
    /// field, a token whose `iat` is not an integer is refused. Minted tokens leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// Why a token was refused. Only the authorizer's log tells the cases apart: the client gets a
/// bare HTTP 401 for every one, because the authorizer fails with "Unauthorized" whatever the
/// reason and API Gateway turns that into 401.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token: no non-empty `?token=` query parameter and no `Authorization: Bearer` header,
    /// or an empty token.
    #[error("no token: pass ?token=JWT or an Authorization: Bearer header")]
    Missing,
    /// The signature is good but `exp` is more than the 5 s leeway in the past.
    #[error("token has expired")]
    Expired,
    /// The token is valid but its `sub` is empty, which would make an anonymous user.
    #[error("token has an empty subject")]
    EmptySubject,
    /// Anything else the JWT library refused: a malformed token, an `alg` other than HS256
    /// (including `none`), a bad signature, a missing `exp` or `sub`, a non-integer `exp` or
    /// `iat`, or an `aud` claim.
    #[error("token is invalid")]
    Invalid(#[source] jsonwebtoken::errors::Error),
}

/// Verifies tokens against one secret; build it once at init.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier for tokens signed with `secret`, the deployment's JWT secret (loaded through
    /// [`crate::secrets::SecretSource`] in the Lambdas; `--jwt-secret` in the devstack).
    ///
    /// Only HS256 is accepted: pinning the algorithm is what refuses `alg: none` and tokens
    /// signed with another algorithm. `exp` and `sub` are required, and `exp` gets 5 s of leeway
    /// for clock skew (the library's default is 60 s).
    /// `nbf`, `iss` and `iat` are not checked, and no audience is configured, so any `aud` is
    /// refused.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = LEEWAY_SECS;
        Self { key: DecodingKey::from_secret(secret), validation }
    }

    /// The token's claims, if it is HS256, signed with our secret, unexpired, with a subject.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let data = decode::<Claims>(token, &self.key, &self.validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid(e),
        })?;
        if data.claims.sub.is_empty() {
            return Err(AuthError::EmptySubject);
        }
        Ok(data.claims)
    }
}

/// Mints an HS256 token for `user` that expires at `exp` (epoch seconds).
pub fn mint(secret: &[u8], user: &str, exp: u64) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = Claims { sub: user.to_owned(), exp, iat: None };
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret))
}

/// Mints an HS256 token for `user` that expires `ttl_secs` from now; a negative `ttl_secs` makes
/// an already expired one (tests of refusal).
pub fn mint_for(secret: &[u8], user: &str, ttl_secs: i64) -> Result<String, jsonwebtoken::errors::Error> {
    let exp = chrono::Utc::now().timestamp().saturating_add(ttl_secs);
    mint(secret, user, u64::try_from(exp).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret";

    fn in_an_hour() -> u64 {
        u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default() + 3600
    }

    #[test]
    fn a_valid_token_yields_its_subject() {
        let token = mint(SECRET, "alice", in_an_hour()).unwrap();
        assert_eq!(JwtVerifier::new(SECRET).verify(&token).unwrap().sub, "alice");
    }

    #[test]
    fn an_expired_token_is_refused() {
        let token = mint(SECRET, "alice", 1_000_000).unwrap();
        assert!(matches!(JwtVerifier::new(SECRET).verify(&token), Err(AuthError::Expired)));
    }

    #[test]
    fn a_token_minted_for_a_duration_lives_that_long() {
        let v = JwtVerifier::new(SECRET);
        assert_eq!(v.verify(&mint_for(SECRET, "alice", 60).unwrap()).unwrap().sub, "alice");
        // Past the verifier's 5 s leeway on exp.
        assert!(matches!(v.verify(&mint_for(SECRET, "alice", -60).unwrap()), Err(AuthError::Expired)));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let token = mint(b"other", "alice", in_an_hour()).unwrap();
        assert!(matches!(JwtVerifier::new(SECRET).verify(&token), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn garbage_empty_and_subjectless_tokens_are_refused() {
        let v = JwtVerifier::new(SECRET);
        assert!(matches!(v.verify(""), Err(AuthError::Missing)));
        assert!(matches!(v.verify("not.a.jwt"), Err(AuthError::Invalid(_))));
        let empty_sub = mint(SECRET, "", in_an_hour()).unwrap();
        assert!(matches!(v.verify(&empty_sub), Err(AuthError::EmptySubject)));
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        #[derive(Serialize)]
        struct NoExp<'a> {
            sub: &'a str,
        }
        let token =
            encode(&Header::new(Algorithm::HS256), &NoExp { sub: "alice" }, &EncodingKey::from_secret(SECRET)).unwrap();
        assert!(matches!(JwtVerifier::new(SECRET).verify(&token), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn a_token_with_another_algorithm_is_refused() {
        let claims = Claims { sub: "alice".into(), exp: in_an_hour(), iat: None };
        let token = encode(&Header::new(Algorithm::HS512), &claims, &EncodingKey::from_secret(SECRET)).unwrap();
        assert!(matches!(JwtVerifier::new(SECRET).verify(&token), Err(AuthError::Invalid(_))));
    }
}
