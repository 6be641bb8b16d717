//! OIDC sign-in: RS256 and ES256 tokens of one issuer, checked for issuer, audience, time and
//! user claim, with the issuer's keys cached by `kid`, refetched on an unknown `kid` at most
//! once per interval, refreshed when old, and kept through an outage of the issuer.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use starling_shared::adapters::memory::MemoryKeySource;
use starling_shared::auth::jwks::KeyCache;
use starling_shared::auth::testing::{TestKey, jwks};
use starling_shared::auth::{AuthError, OidcConfig, OidcVerifier};
use starling_shared::config::ConfigError;

const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Test";
const CLIENT: &str = "3n4b5urk1ft4fl3mg5e62d9ado";

fn config(user_claim: &str) -> OidcConfig {
    OidcConfig::new(ISSUER, &format!("other-client, {CLIENT}"), None, user_claim).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An ID token of the pool for `sub`, valid for an hour.
fn id_claims(sub: &str) -> Value {
    json!({ "sub": sub, "iss": ISSUER, "aud": CLIENT, "token_use": "id", "exp": now() + 3600, "iat": now() })
}

/// Alice's ID token claims with `patch` applied: a `null` removes the claim.
fn patched(patch: Value) -> Value {
    let mut claims = id_claims("alice");
    for (k, v) in patch.as_object().into_iter().flatten() {
        match (v.is_null(), claims.as_object_mut()) {
            (true, Some(c)) => drop(c.remove(k)),
            _ => claims[k] = v.clone(),
        }
    }
    claims
}

fn verifier(source: &Arc<MemoryKeySource>) -> OidcVerifier {
    OidcVerifier::with_source(config("sub"), source.clone())
}

#[tokio::test]
async fn rs256_and_es256_tokens_of_the_issuer_sign_their_user_in() {
    let (rsa, ec) = (TestKey::rsa("rsa-1"), TestKey::ec("ec-1"));
    let source = Arc::new(MemoryKeySource::new(jwks(&[&rsa, &ec])));
    let v = verifier(&source);
    assert_eq!(v.verify(&rsa.sign(&id_claims("alice"))).await.unwrap(), "alice");
    assert_eq!(v.verify(&ec.sign(&id_claims("bob"))).await.unwrap(), "bob");
    assert_eq!(source.fetches(), 1, "one fetch serves every known kid");
}

#[tokio::test]
async fn the_audience_may_be_one_of_several_an_array_or_an_access_tokens_client_id() {
    let key = TestKey::ec("k");
    let v = verifier(&Arc::new(MemoryKeySource::new(jwks(&[&key]))));
    let with = |patch: Value| key.sign(&patched(patch));
    assert_eq!(v.verify(&with(json!({ "aud": ["x", CLIENT] }))).await.unwrap(), "alice");
    assert_eq!(v.verify(&with(json!({ "aud": "other-client" }))).await.unwrap(), "alice");
    let access = with(json!({ "aud": null, "client_id": CLIENT, "token_use": "access" }));
    assert_eq!(v.verify(&access).await.unwrap(), "alice");
    for refused in [
        json!({ "aud": "someone-else" }),
        json!({ "aud": ["a", "b"] }),
        json!({ "aud": null }),
        json!({ "aud": null, "client_id": "someone-else" }),
        json!({ "aud": "someone-else", "client_id": CLIENT }),
    ] {
        assert!(matches!(v.verify(&with(refused.clone())).await, Err(AuthError::Audience)), "{refused}");
    }
}

#[tokio::test]
async fn issuer_time_and_user_claim_are_checked() {
    let key = TestKey::rsa("k");
    let v = verifier(&Arc::new(MemoryKeySource::new(jwks(&[&key]))));
    let signed = |patch: Value| key.sign(&patched(patch));
    let issuer = signed(json!({ "iss": format!("{ISSUER}/") }));
    assert!(matches!(v.verify(&issuer).await, Err(AuthError::Issuer)), "iss must match exactly");
    assert!(matches!(v.verify(&signed(json!({ "exp": now() - 60 }))).await, Err(AuthError::Expired)));
    assert_eq!(v.verify(&signed(json!({ "exp": now() - 2 }))).await.unwrap(), "alice", "5 s of leeway");
    assert!(matches!(v.verify(&signed(json!({ "nbf": now() + 60 }))).await, Err(AuthError::NotYetValid)));
    assert!(matches!(v.verify(&signed(json!({ "sub": "a#b" }))).await, Err(AuthError::BadSubject(_))));
    let auth0 = "google-oauth2|109876543210987654321";
    assert_eq!(v.verify(&signed(json!({ "sub": auth0 }))).await.unwrap(), auth0, "Auth0 subjects are provider|id");
    assert!(matches!(v.verify(&signed(json!({ "sub": 42 }))).await, Err(AuthError::NoUserClaim(_))));
    let no_exp = key.sign(&json!({ "sub": "alice", "iss": ISSUER, "aud": CLIENT }));
    assert!(matches!(v.verify(&no_exp).await, Err(AuthError::Invalid(_))), "exp is required");

    let by_username =
        OidcVerifier::with_source(config("cognito:username"), Arc::new(MemoryKeySource::new(jwks(&[&key]))));
    let token = signed(json!({ "cognito:username": "alice.smith" }));
    assert_eq!(by_username.verify(&token).await.unwrap(), "alice.smith");
    assert!(
        matches!(by_username.verify(&signed(json!({}))).await, Err(AuthError::NoUserClaim(c)) if c == "cognito:username")
    );
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let (key, other) = (TestKey::rsa("k"), TestKey::rsa("k"));
    let ec = TestKey::ec("e");
    let v = verifier(&Arc::new(MemoryKeySource::new(jwks(&[&key, &ec]))));
    let claims = id_claims("mallory");
    // Another key under the issuer's kid.
    assert!(matches!(v.verify(&other.sign(&claims)).await, Err(AuthError::Invalid(_))));
    // An algorithm the issuer's keys are not for, or none at all.
    for alg in ["none", "HS256", "RS512", "PS256", "ES384"] {
        let token = key.sign_with_header(&json!({ "alg": alg, "kid": "k" }), &claims);
        assert!(matches!(v.verify(&token).await, Err(AuthError::Algorithm(_)) | Err(AuthError::Invalid(_))), "{alg}");
    }
    // RS256 under the EC key's kid, ES256 under the RSA key's.
    let swapped = key.sign_with_header(&json!({ "alg": "RS256", "kid": "e" }), &claims);
    assert!(matches!(v.verify(&swapped).await, Err(AuthError::UnknownKey(_))));
    let swapped = ec.sign_with_header(&json!({ "alg": "ES256", "kid": "k" }), &claims);
    assert!(matches!(v.verify(&swapped).await, Err(AuthError::UnknownKey(_))));
    let no_kid = key.sign_with_header(&json!({ "alg": "RS256" }), &claims);
    assert!(matches!(v.verify(&no_kid).await, Err(AuthError::NoKeyId)));
    // The body changed after signing.
    let token = key.sign(&claims);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = key.sign(&id_claims("admin")).split('.').nth(1).unwrap().to_owned();
    assert!(matches!(v.verify(&parts.join(".")).await, Err(AuthError::Invalid(_))));
    assert!(matches!(v.verify("").await, Err(AuthError::Missing)));
    assert!(matches!(v.verify("a.b.c").await, Err(AuthError::Invalid(_))));
}

#[tokio::test(start_paused = true)]
async fn keys_survive_rotation_and_unknown_kids_refetch_at_most_once_per_interval() {
    let (old, new) = (TestKey::rsa("2026-01"), TestKey::ec("2026-02"));
    let source = Arc::new(MemoryKeySource::new(jwks(&[&old])));
    let cache = KeyCache::with_timing(source.clone(), Duration::from_secs(30), Duration::from_secs(3600));
    let v = OidcVerifier::with_keys(config("sub"), cache);
    assert_eq!(v.verify(&old.sign(&id_claims("alice"))).await.unwrap(), "alice");

    // The issuer publishes its next key beside the current one, then signs with it.
    source.replace(jwks(&[&old, &new]));
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(v.verify(&new.sign(&id_claims("bob"))).await.unwrap(), "bob", "an unknown kid refetches");
    assert_eq!(v.verify(&old.sign(&id_claims("alice"))).await.unwrap(), "alice", "the old key still works");
    assert_eq!(source.fetches(), 2);

    // A flood of made-up kids costs one fetch per interval, not one per token.
    for i in 0..50 {
        let forged = new.sign_with_header(&json!({ "alg": "ES256", "kid": format!("x{i}") }), &id_claims("m"));
        assert!(matches!(v.verify(&forged).await, Err(AuthError::UnknownKey(_))));
    }
    assert_eq!(source.fetches(), 2, "the last fetch was under 30 s ago");
    tokio::time::advance(Duration::from_secs(31)).await;
    let forged = new.sign_with_header(&json!({ "alg": "ES256", "kid": "y" }), &id_claims("m"));
    assert!(matches!(v.verify(&forged).await, Err(AuthError::UnknownKey(_))));
    assert_eq!(source.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_withdrawn_key_is_refused_after_the_refresh_and_held_keys_outlive_an_outage() {
    let (old, new) = (TestKey::rsa("old"), TestKey::ec("new"));
    let source = Arc::new(MemoryKeySource::new(jwks(&[&old, &new])));
    let cache = KeyCache::with_timing(source.clone(), Duration::from_secs(30), Duration::from_secs(600));
    let v = OidcVerifier::with_keys(config("sub"), cache);
    assert!(v.verify(&old.sign(&id_claims("alice"))).await.is_ok());

    // The issuer is down: the keys held keep working, a new kid is the issuer's failure (500).
    source.fail(true);
    tokio::time::advance(Duration::from_secs(601)).await;
    assert!(v.verify(&old.sign(&id_claims("alice"))).await.is_ok(), "refresh failed; keys kept");
    tokio::time::advance(Duration::from_secs(31)).await;
    let unknown = new.sign_with_header(&json!({ "alg": "ES256", "kid": "newer" }), &id_claims("bob"));
    assert!(matches!(v.verify(&unknown).await, Err(AuthError::KeysUnavailable(_))));

    // Back up, without the old key: once the keys are refreshed, the old key is refused.
    source.fail(false);
    source.replace(jwks(&[&new]));
    tokio::time::advance(Duration::from_secs(31)).await;
    assert!(matches!(v.verify(&old.sign(&id_claims("alice"))).await, Err(AuthError::UnknownKey(_))));
    assert!(v.verify(&new.sign(&id_claims("bob"))).await.is_ok());
}

#[tokio::test]
async fn an_issuer_whose_keys_never_came_is_an_error_not_a_refusal() {
    let key = TestKey::ec("k");
    let source = Arc::new(MemoryKeySource::new(jwks(&[&key])));
    source.fail(true);
    let v = verifier(&source);
    assert!(matches!(v.verify(&key.sign(&id_claims("alice"))).await, Err(AuthError::KeysUnavailable(_))));
}

#[test]
fn the_configuration_needs_an_audience_https_keys_and_a_claim() {
    let c = OidcConfig::new("https://tenant.eu.auth0.com/", "api", None, "sub").unwrap();
    assert_eq!(c.jwks_url, "https://tenant.eu.auth0.com/.well-known/jwks.json");
    assert_eq!(c.issuer, "https://tenant.eu.auth0.com/", "the issuer is kept as tokens write it");
    assert_eq!(OidcConfig::new(ISSUER, " a , ,b ", None, "sub").unwrap().audiences, ["a", "b"]);
    let local = OidcConfig::new(ISSUER, "a", Some("http://127.0.0.1:9999/jwks"), "sub").unwrap();
    assert_eq!(local.jwks_url, "http://127.0.0.1:9999/jwks");
    for (aud, url, claim) in [(" , ", None, "sub"), ("a", Some("http://example.com/jwks"), "sub"), ("a", None, "")] {
        assert!(
            matches!(OidcConfig::new(ISSUER, aud, url, claim), Err(ConfigError::Invalid { .. })),
            "{aud:?} {url:?} {claim:?}"
        );
    }
}
