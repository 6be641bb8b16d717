//! `serve`: bind, create the backend, and start the gateway, the management API and the
//! event source mapping.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use axum::{Router, middleware};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::app::App;
use crate::config::Config;
use crate::faults::{self, Faults};
use crate::handle::Handle;
use crate::mapping::EventSourceMapping;
use crate::post::MAX_POST_BYTES;
use crate::{DevstackError, backend, gateway, management, metrics_page, web};

/// Binds, creates the backend's resources when missing, and starts the gateway, the
/// management API and the event source mapping.
pub async fn serve(config: Config) -> Result<Handle, DevstackError> {
    config.validate()?;
    let (listener, addr) = bind(&config).await?;
    let faults = Arc::new(Faults::new(config.functions.is_lambda()));
    metrics_page::install();
    let ports = backend::ports(&config, &faults).await?;
    let management = management_endpoint(addr, &config.stage);
    let app = Arc::new(App::new(config, addr, ports, &faults, management).await);
    let server = Server::start(listener, router(app.clone()));
    let mapping = EventSourceMapping::start(&app);
    info!(
        %addr, stage = %app.config.stage, backend = ?app.config.backend, functions = ?app.config.functions,
        event_source_mapping = app.config.event_source_mapping, "devstack listening"
    );
    if !addr.ip().is_loopback() && !app.config.allow_remote_admin {
        info!("the management API and /_devstack/* answer loopback peers only (--allow-remote-admin to change)");
    }
    Ok(Handle { addr, app, faults, mapping, server })
}

async fn bind(config: &Config) -> Result<(TcpListener, SocketAddr), DevstackError> {
    let bind = SocketAddr::new(config.host, config.port);
    let listener = TcpListener::bind(bind).await.map_err(|source| DevstackError::Bind { addr: bind, source })?;
    let addr = listener.local_addr().map_err(|source| DevstackError::Bind { addr: bind, source })?;
    Ok((listener, addr))
}

/// `http://ADDR/STAGE`, with loopback for an unspecified listen address, so the handlers can
/// reach it whatever the devstack listens on.
fn management_endpoint(addr: SocketAddr, stage: &str) -> String {
    format!("http://{}/{stage}", reachable(addr))
}

/// The listen address, with loopback for an unspecified one: an address a local client can
/// connect to.
pub(crate) fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() { SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port()) } else { addr }
}

/// The gateway, the management API and the DLQ view, all under `/{stage}` on one port, the
/// metrics at `/_devstack/metrics`, and the chat page at `/` with its dev token endpoint (only
/// with the development secret). The admin
/// routes answer loopback peers only, unless `allow_remote_admin`.
fn router(app: Arc<App>) -> Router {
    let stage = &app.config.stage;
    let mut admin = Router::new()
        .route(
            &format!("/{stage}/@connections/{{id}}"),
            get(management::get).post(management::post).delete(management::delete),
        )
        .route(&format!("/{stage}/_devstack/dlq"), get(management::dlq))
        .route("/_devstack/metrics", get(metrics_page::render));
    if app.config.faults {
        admin = admin.route(
            &format!("/{stage}/_devstack/faults"),
            get(faults::http::list).post(faults::http::add).delete(faults::http::clear),
        );
    }
    if app.config.serves_dev_tokens() {
        admin = admin.route("/_devstack/token", post(web::token::mint));
    }
    let admin = admin.route_layer(middleware::from_fn_with_state(app.clone(), management::loopback_only));
    Router::new()
        .route(&format!("/{stage}"), get(gateway::handshake))
        .merge(admin)
        .merge(web::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_POST_BYTES * 2))
        .with_state(app)
}

/// The HTTP server task and the token that stops it.
#[derive(Debug)]
pub(crate) struct Server {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    fn start(listener: TcpListener, router: Router) -> Self {
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            // Each post is its own WebSocket frame, written as soon as it is posted. With Nagle's
            // algorithm a frame waits for the ACK of the one before, which the client may delay
            // by up to 40 ms: that was the p99 of a busy room (21-44 ms, 4-9 ms without).
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "could not set TCP_NODELAY");
                }
            });
            if let Err(e) = axum::serve(listener, service).with_graceful_shutdown(stop.cancelled_owned()).await {
                tracing::error!(error = %e, "server failed");
            }
        });
        Self { cancel, task }
    }

    /// Stops accepting and waits (a while) for the open requests.
    pub(crate) async fn stop(self) {
        self.cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}
