//! The issuer's JWKS over HTTP, from a local server that rotates its keys: what the authorizer
//! fetches in AWS from Cognito or Auth0, with the same client and the same limits.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use jsonwebtoken::jwk::JwkSet;
use serde_json::json;
use starling_shared::adapters::jwks::{HttpsKeySource, MAX_JWKS_BYTES};
use starling_shared::auth::jwks::{JwksError, KeyCache, KeySource};
use starling_shared::auth::testing::{TestKey, jwks};
use starling_shared::auth::{AuthError, OidcConfig, OidcVerifier};

const ISSUER: &str = "https://issuer.example";

#[derive(Clone)]
struct Issuer {
    keys: Arc<Mutex<JwkSet>>,
    fetches: Arc<AtomicUsize>,
}

async fn serve(issuer: Issuer) -> SocketAddr {
    let app = Router::new()
        .route(
            "/jwks",
            get(|State(i): State<Issuer>| async move {
                i.fetches.fetch_add(1, Ordering::SeqCst);
                axum::Json(i.keys.lock().unwrap().clone())
            }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/garbage", get(|| async { "<html>not here</html>" }))
        .route("/huge", get(|| async { format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(MAX_JWKS_BYTES)) }))
        .with_state(issuer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn claims(sub: &str) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": sub, "iss": ISSUER, "aud": "app", "exp": now + 600 })
}

#[tokio::test]
async fn tokens_verify_against_a_local_issuer_that_rotates_its_keys() {
    let (first, second) = (TestKey::rsa("first"), TestKey::ec("second"));
    let issuer = Issuer { keys: Arc::new(Mutex::new(jwks(&[&first]))), fetches: Arc::default() };
    let addr = serve(issuer.clone()).await;
    let url = format!("http://{addr}/jwks");
    let config = OidcConfig::new(ISSUER, "app", Some(&url), "sub").unwrap();
    let source = Arc::new(HttpsKeySource::new(url));
    let v = OidcVerifier::with_keys(
        config,
        KeyCache::with_timing(source, Duration::from_millis(200), Duration::from_secs(3600)),
    );

    assert_eq!(v.verify(&first.sign(&claims("alice"))).await.unwrap(), "alice");
    assert_eq!(v.verify(&first.sign(&claims("alice"))).await.unwrap(), "alice");
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1, "cached by kid");

    // Rotation: the issuer replaces its key; the next token names the new one.
    *issuer.keys.lock().unwrap() = jwks(&[&second]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(v.verify(&second.sign(&claims("bob"))).await.unwrap(), "bob");
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
    // Right after a fetch, an unknown kid is refused without asking the issuer again.
    let unknown = second.sign_with_header(&json!({ "alg": "ES256", "kid": "third" }), &claims("m"));
    assert!(matches!(v.verify(&unknown).await, Err(AuthError::UnknownKey(_))));
    assert!(matches!(v.verify(&first.sign(&claims("alice"))).await, Err(AuthError::UnknownKey(_))), "withdrawn");
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_bad_or_absent_jwks_is_an_error_that_names_the_url() {
    let issuer = Issuer { keys: Arc::default(), fetches: Arc::default() };
    let addr = serve(issuer).await;
    let fetch = |path: &str| HttpsKeySource::new(format!("http://{addr}{path}"));
    let unusable = |e: JwksError| match e {
        JwksError::Unusable { url, reason } => format!("{url}: {reason}"),
        other => panic!("not unusable: {other}"),
    };
    assert!(unusable(fetch("/missing").fetch().await.unwrap_err()).ends_with("/missing: HTTP 404"));
    assert!(unusable(fetch("/garbage").fetch().await.unwrap_err()).contains("not a JWKS"));
    assert!(
        unusable(fetch("/huge").fetch().await.unwrap_err()).contains(&format!("larger than {MAX_JWKS_BYTES} bytes"))
    );
    assert!(fetch("/jwks").fetch().await.unwrap().keys.is_empty());

    // Nothing listens on a port just released.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let e = HttpsKeySource::new(format!("http://{closed}/jwks")).fetch().await.unwrap_err();
    assert!(matches!(e, JwksError::Unreachable { .. }), "{e}");
}
