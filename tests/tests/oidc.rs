//! End-to-end OIDC sign-in: the devstack's authorizer verifies an issuer's RS256 and ES256 tokens
//! against the JWKS of a local issuer that rotates its keys, over real WebSocket handshakes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::ensure;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};
use starling_client::{Client, Request, ServerFrame};
use starling_e2e::{ClientExt, Kind, handshake_status, room, send_request, start, token};
use starling_shared::auth::OidcConfig;
use starling_shared::auth::testing::{TestKey, jwks};

const ISSUER: &str = "https://issuer.example/";

async fn issuer(keys: Arc<Mutex<Value>>) -> anyhow::Result<String> {
    let app = Router::new()
        .route(
            "/.well-known/jwks.json",
            get(|State(k): State<Arc<Mutex<Value>>>| async move {
                axum::Json(k.lock().map(|k| k.clone()).unwrap_or_default())
            }),
        )
        .with_state(keys);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/.well-known/jwks.json"))
}

fn id_token(key: &TestKey, sub: &str, aud: &str) -> String {
    let now = chrono_now();
    key.sign(&json!({ "sub": sub, "iss": ISSUER, "aud": aud, "exp": now + 600, "iat": now }))
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuers_users_sign_in_across_a_key_rotation_and_others_are_refused() -> anyhow::Result<()> {
    let (first, second) = (TestKey::rsa("2026-11-a"), TestKey::ec("2026-11-b"));
    let keys = Arc::new(Mutex::new(serde_json::to_value(jwks(&[&first]))?));
    let jwks_url = issuer(keys.clone()).await?;
    let mut oidc = OidcConfig::new(ISSUER, "web-app", Some(&jwks_url), "sub")?;
    oidc.refetch_after = Duration::from_millis(300);
    let stack = start(Kind::Memory, |c| c.oidc = Some(oidc)).await?;
    let url = stack.ws_url();

    let mut alice = Client::connect(&url, &id_token(&first, "alice", "web-app")).await?;
    alice.join(&room("oidc")).await?;
    let reply = alice.request(&send_request("oidc", "signed in by the issuer", None)).await?;
    ensure!(matches!(reply, ServerFrame::Accepted { .. }), "{reply:?}");

    for (what, t) in [
        ("an HS256 token of the dev secret", token("alice")),
        ("another audience", id_token(&first, "alice", "other-app")),
        ("a key the issuer does not publish", id_token(&TestKey::ec("2026-11-a"), "alice", "web-app")),
    ] {
        ensure!(handshake_status(&format!("{url}?token={t}")).await? == 401, "{what} was not refused with 401");
    }

    // The issuer rotates: the new key replaces the old one, and the next tokens name it.
    *keys.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = serde_json::to_value(jwks(&[&second]))?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    // An Auth0 subject (`provider|id`) is a user id like any other: it joins, sends, is named.
    let mut bob = Client::connect(&url, &id_token(&second, "auth0|bob", "web-app")).await?;
    bob.join(&room("oidc")).await?;
    let reply = bob.request(&send_request("oidc", "from auth0", None)).await?;
    ensure!(matches!(reply, ServerFrame::Accepted { .. }), "{reply:?}");
    let got = alice.messages("oidc", 2).await?;
    ensure!(got[1].from == "auth0|bob" && got[1].body == "from auth0", "alice got {got:?}");
    let old = id_token(&first, "carol", "web-app");
    ensure!(handshake_status(&format!("{url}?token={old}")).await? == 401, "a withdrawn key still signed in");

    // Connections made before the rotation stay open and keep working.
    alice.request(&Request::Ping).await?;
    stack.shutdown().await;
    Ok(())
}
