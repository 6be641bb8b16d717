//! Tokens at the handshake: HS256 JWTs signed with the deployment's secret (development, tests,
//! dev tools, which also mint them), or RS256/ES256 tokens of an OIDC issuer ([`oidc`]).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

mod crypto;
pub mod jwks;
pub mod oidc;
#[cfg(feature = "test-util")]
pub mod testing;

pub use oidc::{OidcConfig, OidcVerifier};

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

/// The longest user id (`sub`) accepted, in bytes (all accepted characters are ASCII).
pub const MAX_USER_LEN: usize = 128;

/// Whether `c` may appear in a user id: ASCII letters, digits and `. _ @ : + = - |` (`|` for
/// Auth0's `provider|id` subjects). No `#` (the
/// separator of the table's keys), no `%` (the escape of the dedup key), no `/`, spaces or
/// control characters; so a user id fits every key it is put in, raw, and every log line.
pub fn is_user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | ':' | '+' | '=' | '-' | '|')
}

/// Why `sub` is not a valid user id, if it is not: 1 to [`MAX_USER_LEN`] characters that pass
/// [`is_user_char`].
pub fn check_user(sub: &str) -> Result<(), AuthError> {
    if sub.is_empty() {
        return Err(AuthError::BadSubject("it is empty"));
    }
    if sub.len() > MAX_USER_LEN {
        return Err(AuthError::BadSubject("it is longer than 128 characters"));
    }
    if !sub.chars().all(is_user_char) {
        return Err(AuthError::BadSubject("it has a character outside A-Z a-z 0-9 . _ @ : + = - |"));
    }
    Ok(())
}

/// The claims Starling reads from a token (and writes when minting). Other claims (`iss`, `jti`,
/// …) are ignored, except `aud`: no audience is configured, so a token carrying one is refused;
/// and `nbf`, which the library checks when present.
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
/// reason and API Gateway turns that into 401; except [`AuthError::KeysUnavailable`], which is
/// the issuer's failure, not the token's, and answers 500 so the client retries.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token: no non-empty `?token=` query parameter (the only place a token is read: the
    /// deployed API's identity source), or an empty token.
    #[error("no token: pass ?token=JWT")]
    Missing,
    /// The signature is good but `exp` is more than the 5 s leeway in the past.
    #[error("token has expired")]
    Expired,
    /// The signature is good but `nbf` is more than the 5 s leeway in the future.
    #[error("token is not valid yet (nbf)")]
    NotYetValid,
    /// The token is valid but its `sub` is not a user id Starling can store ([`check_user`]).
    #[error("token subject is not a valid user id: {0}")]
    BadSubject(&'static str),
    /// An OIDC token signed with an algorithm other than RS256 and ES256 (`none`, HS256, …).
    #[error("token algorithm {0:?} is not accepted (RS256 or ES256)")]
    Algorithm(Algorithm),
    /// An OIDC token without `kid`: the key cannot be chosen.
    #[error("token names no key (kid)")]
    NoKeyId,
    /// The issuer does not publish this `kid` (or not as a signing key of the token's
    /// algorithm), even after fetching its keys again (at most once per 30 s).
    #[error("token key {0:?} is not one of the issuer's signing keys")]
    UnknownKey(String),
    /// The issuer's keys could not be fetched for a `kid` not held yet: retry later.
    #[error("the issuer's keys are unavailable")]
    KeysUnavailable(#[source] jwks::JwksError),
    /// The token's `iss` is not the configured issuer.
    #[error("token issuer is not the configured one")]
    Issuer,
    /// Neither `aud` nor (without `aud`) `client_id` names a configured audience.
    #[error("token audience is not a configured one")]
    Audience,
    /// The configured user id claim is missing or not a string.
    #[error("token has no string claim {0:?} for the user id")]
    NoUserClaim(String),
    /// Anything else the JWT library refused: a malformed token, an `alg` other than HS256
    /// (including `none`), a bad signature, a missing `exp` or `sub`, a non-integer `exp`, `nbf`
    /// or `iat`, or an `aud` claim.
    #[error("token is invalid")]
    Invalid(#[source] jsonwebtoken::errors::Error),
}

impl AuthError {
    fn from_jwt(e: jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => Self::Expired,
            jsonwebtoken::errors::ErrorKind::ImmatureSignature => Self::NotYetValid,
            jsonwebtoken::errors::ErrorKind::InvalidIssuer => Self::Issuer,
            _ => Self::Invalid(e),
        }
    }
}

/// The authorizer's verifier: the deployment's HS256 secret, or an OIDC issuer.
#[derive(Debug)]
pub enum TokenVerifier {
    /// HS256 tokens signed with the deployment's secret.
    Hs256(JwtVerifier),
    /// RS256/ES256 tokens of one OIDC issuer.
    Oidc(OidcVerifier),
}

impl TokenVerifier {
    /// The user id `token` authenticates.
    pub async fn user_of(&self, token: &str) -> Result<String, AuthError> {
        match self {
            Self::Hs256(v) => v.verify(token).map(|c| c.sub),
            Self::Oidc(v) => v.verify(token).await,
        }
    }
}

impl From<JwtVerifier> for TokenVerifier {
    fn from(v: JwtVerifier) -> Self {
        Self::Hs256(v)
    }
}

impl From<OidcVerifier> for TokenVerifier {
    fn from(v: OidcVerifier) -> Self {
        Self::Oidc(v)
    }
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
    /// signed with another algorithm. `exp` and `sub` are required; `exp` and, when present,
    /// `nbf` get 5 s of leeway for clock skew (the library's default is 60 s). `iss` and `iat`
    /// are not checked, and no audience is configured, so any `aud` is refused.
    pub fn new(secret: &[u8]) -> Self {
        crypto::install();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self { key: DecodingKey::from_secret(secret), validation }
    }

    /// The token's claims, if it is HS256, signed with our secret, in its validity period, with a
    /// valid user id as subject.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let data = decode::<Claims>(token, &self.key, &self.validation).map_err(AuthError::from_jwt)?;
        check_user(&data.claims.sub)?;
        Ok(data.claims)
    }
}

/// Mints an HS256 token for `user` that expires at `exp` (epoch seconds).
pub fn mint(secret: &[u8], user: &str, exp: u64) -> Result<String, jsonwebtoken::errors::Error> {
    crypto::install();
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
        assert!(matches!(v.verify(&empty_sub), Err(AuthError::BadSubject(_))));
    }

    #[test]
    fn a_subject_that_is_too_long_or_has_a_key_separator_is_refused() {
        let v = JwtVerifier::new(SECRET);
        for sub in
            ["a".repeat(129), "a#b".into(), "a%23b".into(), "al ice".into(), "a/b".into(), "é".into(), "a\nb".into()]
        {
            let token = mint(SECRET, &sub, in_an_hour()).unwrap();
            assert!(matches!(v.verify(&token), Err(AuthError::BadSubject(_))), "{sub:?}");
        }
        for sub in [
            "a".repeat(128),
            "alice@example.com".into(),
            "auth0:x".into(),
            "u-1_2.3+4=".into(),
            "auth0|5f7c8ec7c33c6c004bbafe82".into(),
        ] {
            assert_eq!(v.verify(&mint(SECRET, &sub, in_an_hour()).unwrap()).unwrap().sub, sub);
        }
    }

    #[test]
    fn a_token_not_valid_yet_is_refused_with_the_exp_leeway() {
        #[derive(Serialize)]
        struct WithNbf<'a> {
            sub: &'a str,
            exp: u64,
            nbf: u64,
        }
        let now = in_an_hour() - 3600;
        let token = |nbf| {
            let claims = WithNbf { sub: "alice", exp: now + 86_400 * 2, nbf };
            signed(&Header::new(Algorithm::HS256), &claims)
        };
        let v = JwtVerifier::new(SECRET);
        assert!(matches!(v.verify(&token(now + 86_400)), Err(AuthError::NotYetValid)), "valid from tomorrow");
        assert!(matches!(v.verify(&token(now + 60)), Err(AuthError::NotYetValid)));
        assert_eq!(v.verify(&token(now + 2)).unwrap().sub, "alice", "within the leeway");
        assert_eq!(v.verify(&token(now - 60)).unwrap().sub, "alice");
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        #[derive(Serialize)]
        struct NoExp<'a> {
            sub: &'a str,
        }
        let token = signed(&Header::new(Algorithm::HS256), &NoExp { sub: "alice" });
        assert!(matches!(JwtVerifier::new(SECRET).verify(&token), Err(AuthError::Invalid(_))));
    }

    /// `claims` under `header`, HS256-signed with [`SECRET`] whatever `alg` the header names.
    fn signed(header: &Header, claims: &impl Serialize) -> String {
        use base64::Engine;
        crypto::install();
        let b64 = |v: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let message =
            format!("{}.{}", b64(serde_json::to_vec(header).unwrap()), b64(serde_json::to_vec(claims).unwrap()));
        let key = EncodingKey::from_secret(SECRET);
        format!("{message}.{}", jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap())
    }

    #[test]
    fn a_token_with_another_algorithm_is_refused() {
        let claims = Claims { sub: "alice".into(), exp: in_an_hour(), iat: None };
        for alg in [Algorithm::HS384, Algorithm::HS512, Algorithm::RS256, Algorithm::ES256] {
            let token = signed(&Header::new(alg), &claims);
            assert!(matches!(JwtVerifier::new(SECRET).verify(&token), Err(AuthError::Invalid(_))), "{alg:?}");
        }
        assert!(signed(&Header::new(Algorithm::HS256), &claims).len() > 40);
        assert_eq!(
            JwtVerifier::new(SECRET).verify(&signed(&Header::new(Algorithm::HS256), &claims)).unwrap().sub,
            "alice"
        );
    }

    #[test]
    fn signatures_match_another_implementation_of_hs256() {
        // jwt.io's example token: signed by another library, so a provider that signed and
        // verified consistently but wrongly would fail here.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        let (message, signature) = token.rsplit_once('.').unwrap();
        crypto::install();
        let ours = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(b"your-256-bit-secret"),
            Algorithm::HS256,
        );
        assert_eq!(ours.unwrap(), signature);
    }
}
