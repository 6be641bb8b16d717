//! `POST /_devstack/token`: a dev token for a user name, so the page (or any local client) can
//! sign in without an auth service. Routed only while the devstack verifies tokens with the
//! development secret: anyone can mint those anyway, whereas with a real secret the tokens must
//! come from the deployment's own auth, and the route does not exist.
//!
//! It answers no CORS headers, so a web page of another origin can make the browser post here
//! but cannot read the token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, TimeZone, Utc};
use serde::Deserialize;
use serde_json::json;
use starling_shared::auth::{self, AuthError};

use crate::App;

/// A token's lifetime when the request names none: long enough for a working session, short
/// because the token travels in the WebSocket URL (protocol.md, "Authentication").
const DEFAULT_TTL_SECS: u64 = 3600;
/// The longest lifetime a request may ask for.
const MAX_TTL_SECS: u64 = 24 * 3600;

/// The body: `{"user":"alice"}`, optionally with `"ttlSecs":N`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TokenRequest {
    user: String,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

/// Why no token was minted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenRefusal {
    /// Not the JSON of a [`TokenRequest`].
    #[error(r#"the body must be JSON like {{"user":"alice"}} with an optional "ttlSecs": {0}"#)]
    Json(#[source] serde_json::Error),
    /// The user is not one the authorizer would let in, so its token would be refused.
    #[error("user {user:?} is not a valid user id ({reason}): 1 to 128 characters of A-Z a-z 0-9 . _ @ : + = -")]
    BadUser {
        /// The name asked for.
        user: String,
        /// What the authorizer's rule says about it.
        reason: String,
    },
    /// The lifetime is outside 1 s to a day.
    #[error("ttlSecs must be 1 to {MAX_TTL_SECS}")]
    BadTtl,
    /// The JWT library failed to sign.
    #[error("minting the token failed")]
    Mint(#[source] MintError),
}

/// `jsonwebtoken`'s error, boxed: the devstack mints through the shared crate and has no
/// dependency of its own on the JWT library.
type MintError = Box<dyn std::error::Error + Send + Sync>;

impl TokenRefusal {
    fn status(&self) -> StatusCode {
        match self {
            Self::Mint(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for TokenRefusal {
    fn into_response(self) -> Response {
        tracing::warn!(error = %self, "dev token refused");
        (self.status(), axum::Json(json!({ "error": self.to_string() }))).into_response()
    }
}

/// A minted token and where to use it.
#[derive(Debug, PartialEq, Eq)]
struct Minted {
    token: String,
    url: String,
    user: String,
    expires_at: String,
}

/// The handler: 200 with the token, or 400 saying what is wrong with the request.
pub(crate) async fn mint(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let url = ws_url_of(&app, &headers);
    match mint_at(&app.config.jwt_secret, &body, url, Utc::now().timestamp()) {
        Ok(m) => {
            tracing::info!(user = %m.user, expires_at = %m.expires_at, "dev token minted");
            (
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(json!({ "token": m.token, "url": m.url, "user": m.user, "expiresAt": m.expires_at })),
            )
                .into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

fn mint_at(secret: &str, body: &[u8], url: String, now: i64) -> Result<Minted, TokenRefusal> {
    let request: TokenRequest = serde_json::from_slice(body).map_err(TokenRefusal::Json)?;
    // The authorizer's own rule, so a name is refused here rather than by a 401 at the handshake.
    auth::check_user(&request.user).map_err(|e| TokenRefusal::BadUser {
        reason: match e {
            AuthError::BadSubject(reason) => reason.to_owned(),
            other => other.to_string(),
        },
        user: shortened(&request.user),
    })?;
    let ttl = request.ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
    if !(1..=MAX_TTL_SECS).contains(&ttl) {
        return Err(TokenRefusal::BadTtl);
    }
    let exp = u64::try_from(now).unwrap_or_default() + ttl;
    let token =
        auth::mint(secret.as_bytes(), &request.user, exp).map_err(|e| TokenRefusal::Mint(MintError::from(e)))?;
    let expires_at = Utc
        .timestamp_opt(i64::try_from(exp).unwrap_or_default(), 0)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    Ok(Minted { token, url, user: request.user, expires_at })
}

/// At most 40 characters of `user`, for an answer and a log line that echo a refused name (the
/// body may be as large as the body limit).
fn shortened(user: &str) -> String {
    match user.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &user[..end]),
        None => user.to_owned(),
    }
}

/// `ws://HOST/STAGE` with the host the browser used, so the page connects back the way it came
/// (`localhost` or `127.0.0.1`, a forwarded port). Without a usable `Host`, the bound address,
/// with loopback for an unspecified one.
pub(crate) fn ws_url(host: Option<&str>, local: SocketAddr, stage: &str) -> String {
    let host =
        host.filter(|h| is_host_and_port(h)).map_or_else(|| crate::serve::reachable(local).to_string(), str::to_owned);
    format!("ws://{host}/{stage}")
}

/// [`ws_url`] for a request to `app`, from its `Host` header.
pub(crate) fn ws_url_of(app: &App, headers: &HeaderMap) -> String {
    ws_url(headers.get(header::HOST).and_then(|h| h.to_str().ok()), app.local_addr, &app.config.stage)
}

/// `NAME[:PORT]` or `[IPV6][:PORT]`: what a browser sends as `Host`, and nothing that could
/// smuggle a path, a user or a second URL into the answer.
fn is_host_and_port(h: &str) -> bool {
    let (host, port) = match h.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, port)) => (ip.parse::<std::net::Ipv6Addr>().is_ok(), port),
            None => return false,
        },
        None => {
            let (name, port) = h.find(':').map_or((h, ""), |i| h.split_at(i));
            (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')), port)
        }
    };
    host && (port.is_empty() || port.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn url() -> String {
        "ws://127.0.0.1:3001/local".into()
    }

    #[test]
    fn a_minted_token_is_verified_by_the_authorizers_verifier_and_expires_when_it_says() {
        let m = mint_at("dev-secret", br#"{"user":"alice","ttlSecs":60}"#, url(), NOW).unwrap();
        assert_eq!((m.user.as_str(), m.url.as_str()), ("alice", "ws://127.0.0.1:3001/local"));
        assert_eq!(m.expires_at, "2023-11-14T22:14:20.000Z");
        let err = auth::JwtVerifier::new(b"dev-secret").verify(&m.token).unwrap_err();
        assert!(matches!(err, AuthError::Expired), "NOW is in the past, so the token is: {err}");
        let fresh = mint_at("dev-secret", br#"{"user":"alice"}"#, url(), Utc::now().timestamp()).unwrap();
        assert_eq!(auth::JwtVerifier::new(b"dev-secret").verify(&fresh.token).unwrap().sub, "alice");
    }

    #[test]
    fn a_user_the_authorizer_would_refuse_gets_the_reason() {
        for (user, reason) in
            [("", "empty"), ("al ice", "character"), ("a#b", "character"), (&"a".repeat(129), "longer")]
        {
            let body = json!({ "user": user }).to_string();
            let err = mint_at("s", body.as_bytes(), url(), NOW).unwrap_err();
            assert!(matches!(err, TokenRefusal::BadUser { .. }) && err.to_string().contains(reason), "{user}: {err}");
            assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        }
        let huge = json!({ "user": "é".repeat(10_000) }).to_string();
        let err = mint_at("s", huge.as_bytes(), url(), NOW).unwrap_err().to_string();
        assert!(err.len() < 300 && err.contains("…"), "a refused name is echoed shortened: {err}");
    }

    #[test]
    fn a_body_that_is_not_a_token_request_is_refused() {
        for body in [&b""[..], b"alice", br#"{"name":"alice"}"#, br#"{"user":7}"#, br#"{"user":"a","extra":1}"#] {
            let err = mint_at("s", body, url(), NOW).unwrap_err();
            assert!(matches!(err, TokenRefusal::Json(_)), "{}: {err}", String::from_utf8_lossy(body));
        }
        for ttl in ["0", "86401", "-1", "1.5"] {
            let body = format!(r#"{{"user":"alice","ttlSecs":{ttl}}}"#);
            assert!(mint_at("s", body.as_bytes(), url(), NOW).is_err(), "{ttl}");
        }
    }

    #[test]
    fn the_url_uses_the_host_the_client_used_or_a_reachable_address() {
        let local: SocketAddr = "0.0.0.0:3001".parse().unwrap();
        assert_eq!(ws_url(Some("localhost:3001"), local, "local"), "ws://localhost:3001/local");
        assert_eq!(ws_url(Some("[::1]:8080"), local, "dev"), "ws://[::1]:8080/dev");
        assert_eq!(ws_url(Some("127.0.0.1"), local, "local"), "ws://127.0.0.1/local");
        for bad in [
            None,
            Some(""),
            Some("a b"),
            Some("x/y"),
            Some("h:p"),
            Some("h:99999"),
            Some("u@h"),
            Some("[::1"),
            Some("[zz]:1"),
        ] {
            assert_eq!(ws_url(bad, local, "local"), "ws://127.0.0.1:3001/local", "{bad:?}");
        }
    }
}
