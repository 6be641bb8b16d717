//! The chat page at `/`: the files of `clients/web/dist/`, built into the binary so the devstack
//! serves the page from any working directory, with no npm; and `GET /_devstack/info`, which
//! tells the page where to connect and whether it can get dev tokens. The dev token endpoint
//! the page signs in with is in [`token`].

pub(crate) mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::App;

/// One file of the page, as it was when the devstack was compiled.
#[derive(Debug)]
struct Asset {
    /// The path it is served at (after the leading `/`).
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! dist {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../clients/web/dist/", $name)),
        }
    };
}

/// Every file the page's build writes (`clients/web/build.mjs`); a new one must be added here.
static ASSETS: &[Asset] = &[
    dist!("index.html", "text/html; charset=utf-8"),
    dist!("app.js", "text/javascript; charset=utf-8"),
    dist!("app.css", "text/css; charset=utf-8"),
];

fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// `no-cache`: a rebuilt devstack serves a rebuilt page, so the browser must revalidate (there
/// is no validator, so it refetches; the files are small and local).
fn serve(asset: &Asset) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        asset.bytes,
    )
        .into_response()
}

/// `GET /` (the page), `GET /{name}` for each of its files, and `GET /_devstack/info`.
pub(crate) fn routes() -> Router<Arc<App>> {
    let mut router = Router::new().route("/", get(|| async { serve(index()) })).route("/_devstack/info", get(info));
    for a in ASSETS {
        router = router.route(&format!("/{}", a.name), get(move || async move { serve(a) }));
    }
    router
}

/// `GET /_devstack/info`: `{"stage","url","devTokens"}`, so the page knows, before anyone signs
/// in, whether to ask for a name (dev tokens) or for a token from the deployment's own auth, and
/// which URL to offer for it. Nothing in it is secret, so it answers any peer, as the page does.
async fn info(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let url = token::ws_url_of(&app, &headers);
    (
        [(header::CACHE_CONTROL, "no-cache")],
        axum::Json(json!({ "stage": app.config.stage, "url": url, "devTokens": app.config.serves_dev_tokens() })),
    )
        .into_response()
}

fn index() -> &'static Asset {
    // The list above names index.html; a test checks it.
    asset("index.html").unwrap_or(&ASSETS[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_page_is_built_in_and_the_page_loads_its_bundle() {
        for a in ASSETS {
            assert!(!a.bytes.is_empty(), "{} is empty", a.name);
        }
        assert_eq!(index().name, "index.html");
        let html = std::str::from_utf8(index().bytes).unwrap();
        assert!(html.contains("/app.js") && html.contains("/app.css"), "{html}");
    }

    #[test]
    fn a_name_outside_the_page_is_not_a_file() {
        for name in ["", "../Cargo.toml", "app.js.map", "APP.JS", "index.html/"] {
            assert!(asset(name).is_none(), "{name}");
        }
    }
}
