//! What the gateway, the management API and the mapping share, and the handlers' deps built
//! over the backend's ports.

use std::net::SocketAddr;
use std::sync::Arc;

use starling_shared::adapters::apigw::ManagementApiPusher;
use starling_shared::auth::{JwtVerifier, OidcVerifier};
use starling_shared::ports::{Pusher, Queue};
use starling_shared::service::Stores;
use starling_shared::service::connection::ConnectionDeps;
use starling_shared::service::fanout::{FanoutDeps, FanoutSettings};
use starling_shared::service::send::SendDeps;
use starling_shared::wiring;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::Ports;
use crate::config::Config;
use crate::faults::{Faults, Faulty};
use crate::gateway::Registry;
use crate::ids;
use crate::invoke::{Functions, InProcess, Invoker, LambdaInvoker};
use crate::mapping::QueueSource;
use crate::post::{LocalPusher, Poster};

/// Shared by the gateway, the management API and the mapping.
pub(crate) struct App {
    pub(crate) config: Config,
    pub(crate) local_addr: SocketAddr,
    pub(crate) api_id: String,
    /// What the functions run as: in-process handlers, or the Invoke API.
    pub(crate) invoker: Arc<dyn Invoker>,
    /// The store, as the handlers see it, for the management API and the test hooks.
    pub(crate) stores: Stores,
    pub(crate) registry: Arc<Registry>,
    /// PostToConnection, for the management API's route.
    pub(crate) poster: Poster,
    pub(crate) source: Arc<dyn QueueSource>,
    /// The delivery queue, which the fanout consumes too.
    pub(crate) delivery_source: Arc<dyn QueueSource>,
    /// Planned faults (the HTTP endpoint exists only with `--faults`).
    pub(crate) faults: Arc<Faults>,
    /// Cancelled when connections must close (shutdown).
    pub(crate) closing: CancellationToken,
    pub(crate) sockets: TaskTracker,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl App {
    /// The shared state. `management` is this devstack's Management API endpoint, which the
    /// in-process handlers post to over HTTP as in AWS.
    pub(crate) async fn new(
        config: Config,
        local_addr: SocketAddr,
        ports: Ports,
        faults: &Arc<Faults>,
        management: String,
    ) -> Self {
        let registry = Arc::new(Registry::default());
        let poster = Poster {
            registry: registry.clone(),
            faults: faults.clone(),
            connections: Stores::new(ports.store.clone()).connections,
        };
        let deps = HandlerDeps::over(&ports, &poster, &config, management);
        let stores = deps.action.stores.clone();
        let invoker: Arc<dyn Invoker> = match &config.functions {
            Functions::InProcess => Arc::new(InProcess {
                verifier: match &config.oidc {
                    Some(oidc) => OidcVerifier::new(oidc.clone()).into(),
                    None => JwtVerifier::new(config.jwt_secret.as_bytes()).into(),
                },
                connection: deps.connection,
                action: deps.action,
                fanout: deps.fanout,
                fanout_timeout: config.mapping.function_timeout,
            }),
            Functions::Lambda(targets) => Arc::new(LambdaInvoker::new(targets).await),
        };
        Self {
            invoker,
            stores,
            registry,
            poster,
            source: ports.source,
            delivery_source: ports.delivery_source,
            faults: faults.clone(),
            closing: CancellationToken::new(),
            sockets: TaskTracker::new(),
            local_addr,
            api_id: ids::api_id(),
            config,
        }
    }
}

/// Every handler's deps over one set of ports, as each Lambda builds its own over AWS.
struct HandlerDeps {
    connection: ConnectionDeps,
    action: SendDeps,
    fanout: FanoutDeps,
}

impl HandlerDeps {
    fn over(ports: &Ports, poster: &Poster, config: &Config, management: String) -> Self {
        let faults = &poster.faults;
        // Every sender's enqueue can be made to fail; the fanout's appends can fail, and its
        // invocation can crash after storing or between posts.
        let queue: Arc<dyn Queue> = Arc::new(Faulty::wrap(ports.queue.clone(), faults.clone()));
        // Posts to this devstack skip HTTP (see `post.rs`); any other endpoint gets the SDK's.
        let over_http: Arc<dyn Pusher> = Arc::new(ManagementApiPusher::new(ports.sdk.clone()));
        let pusher: Arc<dyn Pusher> = Arc::new(LocalPusher::new(poster.clone(), management.clone(), over_http));
        let mut fanout_settings = config.fanout.clone();
        fanout_settings.endpoint_override = Some(management.clone());
        fit_to_redrive(&mut fanout_settings, config.mapping.max_receive_count);
        let fanout_pusher: Arc<dyn Pusher> = Arc::new(Faulty::wrap(pusher.clone(), faults.clone()));
        let mut fanout =
            wiring::fanout(ports.store.clone(), fanout_pusher, ports.dead_letters.clone(), fanout_settings);
        fanout.stores.messages = Arc::new(Faulty::wrap(fanout.stores.messages, faults.clone()));
        fanout.deliveries = Some(Arc::new(Faulty::wrap(ports.deliveries.clone(), faults.clone())));
        let mut action =
            wiring::send(ports.store.clone(), queue.clone(), pusher, config.action_limits, Some(management));
        action.moderation = config.moderation.moderators();
        fanout.exports = ports.exports.clone();
        let connection = wiring::connection(ports.store.clone(), queue);
        Self { connection, action, fanout }
    }
}

/// Keeps the fanout's own give-up points under the queue's redrive, as the templates do (5
/// attempts, ceiling 90, redrive 100): a record must reach the DLQ through the fanout, with its
/// reason, not through the redrive. A devstack run with a small `maxReceiveCount` (the tests use
/// 3) lowers them to fit.
fn fit_to_redrive(settings: &mut FanoutSettings, max_receive_count: u32) {
    let max_receive_count = max_receive_count.max(1);
    settings.max_attempts = settings.max_attempts.min(max_receive_count.saturating_sub(1)).max(1);
    settings.receive_ceiling = settings.receive_ceiling.min(max_receive_count);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ConnectionMeta;
    use starling_shared::ports::PushError;

    /// The in-process functions post to this devstack's connections without its HTTP
    /// Management API, which cost each post a signed request and a TCP connection to itself
    /// (`post.rs`). Nothing listens at the endpoint here: a post that went over HTTP would fail.
    #[tokio::test]
    async fn in_process_functions_post_without_http() {
        let config = Config::default();
        let faults = Arc::new(Faults::new(false));
        let ports = crate::backend::ports(&config, &faults).await.expect("memory ports");
        let registry = Arc::new(Registry::default());
        let connections = Stores::new(ports.store.clone()).connections;
        let poster = Poster { registry: registry.clone(), faults, connections };
        let nothing_listens = "http://127.0.0.1:1/local".to_owned();
        let deps = HandlerDeps::over(&ports, &poster, &config, nothing_listens.clone());
        let meta = ConnectionMeta::sample();
        let (conn, mut outbox) = registry.new_conn(meta.clone(), 1 << 20);
        registry.insert(conn);

        for (who, pusher) in [("fanout", &deps.fanout.pusher), ("send", &deps.action.pusher)] {
            let posted = pusher.post(&nothing_listens, &meta.connection_id, b"{}").await;
            assert!(posted.is_ok(), "{who}: {posted:?}");
            assert!(outbox.try_recv().is_ok(), "{who}: the frame is in the connection's outbox");
        }
        let unknown = deps.fanout.pusher.post(&nothing_listens, "AAAAAAAAAAAAAAA=", b"{}").await;
        assert!(matches!(unknown, Err(PushError::Gone(_))), "{unknown:?}");
    }

    #[test]
    fn the_fanouts_limits_fit_under_a_small_redrive() {
        let mut s = FanoutSettings::default();
        fit_to_redrive(&mut s, 3);
        assert_eq!((s.max_attempts, s.receive_ceiling), (2, 3));
        let mut s = FanoutSettings::default();
        fit_to_redrive(&mut s, 100);
        assert_eq!((s.max_attempts, s.receive_ceiling), (5, 90));
    }
}
