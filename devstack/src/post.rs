//! PostToConnection itself: what `POST @connections/{id}` does to a connection, once, for both
//! of its callers. The HTTP route (`management::post`) answers with it; the in-process
//! functions reach it through [`LocalPusher`], without HTTP.
//!
//! Why not over HTTP: the in-process fanout posting to its own process through the AWS SDK cost
//! a signed HTTP request, a pooled TCP connection (two file descriptors) and a server task per
//! post in flight. One room of 200 clients at 50 messages/s is 10,000 posts/s; a presence
//! storm of 200 joins is 20,000 more, and with more pollers the pool ran the process out of
//! file descriptors (`Too many open files`, every post of the batch retried and lost). The
//! Management API over HTTP stays for everyone else: the CLI, the tests of the SDK adapter
//! (`tests/tests/connections.rs`), and functions in other processes (`--lambda-endpoint`).

use std::sync::Arc;

use async_trait::async_trait;
use starling_shared::ports::{ConnectionStore, PushError, Pusher};

use crate::faults::{Fault, Faults};
use crate::gateway::{PostRefused, Registry};

/// PostToConnection's largest payload: API Gateway's message limit, which the server's frames
/// are held to as well.
pub(crate) const MAX_POST_BYTES: usize = starling_shared::protocol::MAX_FRAME_BYTES;

/// What a post came to: the Management API's answer, before it is HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Posted {
    /// 200: the frame is in the connection's outbox.
    Sent,
    /// 410 `GoneException`: no such connection, or it closed.
    Gone,
    /// 413 `PayloadTooLargeException`.
    TooLarge,
    /// 429 `LimitExceededException`: the client does not read; the connection is closing.
    OutboxFull,
    /// A planned `post` fault's status (403, 410, 413, 429 or 500).
    Injected(u16),
}

/// The connections posts go to, and the faults planned for them.
#[derive(Debug, Clone)]
pub(crate) struct Poster {
    pub(crate) registry: Arc<Registry>,
    pub(crate) faults: Arc<Faults>,
    /// To find a connection's user, whom `post` faults are planned for.
    pub(crate) connections: Arc<dyn ConnectionStore>,
}

impl Poster {
    /// Posts `data` to connection `id`, as API Gateway's PostToConnection does.
    pub(crate) async fn post(&self, id: &str, data: Vec<u8>) -> Posted {
        if data.len() > MAX_POST_BYTES {
            return Posted::TooLarge;
        }
        if let Some(status) = self.injected_fault(id).await {
            return Posted::Injected(status);
        }
        let Some(conn) = self.registry.get(id) else { return Posted::Gone };
        match conn.post(data) {
            Ok(()) => Posted::Sent,
            // The client does not drain what it is sent: this post is refused, the connection
            // is closed, and later posts answer 410.
            Err(PostRefused::OutboxFull) => Posted::OutboxFull,
            Err(PostRefused::Gone) => Posted::Gone,
        }
    }

    /// The status a planned `post` fault answers for this connection's user, if one fires. A
    /// 410 also closes the connection, as only a connection that is gone answers it in AWS.
    async fn injected_fault(&self, id: &str) -> Option<u16> {
        if !self.faults.armed(|f| matches!(f, Fault::Post { .. })) {
            return None;
        }
        let user = self.connections.get(id).await.ok().flatten()?.user;
        let Some(Fault::Post { status, .. }) =
            self.faults.fire(|f| matches!(f, Fault::Post { user: u, .. } if *u == user))
        else {
            return None;
        };
        if status == 410
            && let Some(conn) = self.registry.get(id)
        {
            conn.delete();
        }
        Some(status)
    }
}

/// The in-process functions' `Pusher`: posts to this devstack's own Management API endpoint go
/// straight to [`Poster`], with the errors the SDK adapter (`ManagementApiPusher`) makes of the
/// HTTP answers; posts to any other endpoint go through `elsewhere`, over HTTP.
#[derive(Debug)]
pub(crate) struct LocalPusher {
    poster: Poster,
    /// `http://ADDR/STAGE`, the endpoint the in-process functions are given.
    endpoint: String,
    elsewhere: Arc<dyn Pusher>,
}

impl LocalPusher {
    pub(crate) fn new(poster: Poster, endpoint: String, elsewhere: Arc<dyn Pusher>) -> Self {
        Self { poster, endpoint, elsewhere }
    }
}

#[async_trait]
impl Pusher for LocalPusher {
    async fn post(&self, endpoint: &str, connection_id: &str, data: &[u8]) -> Result<(), PushError> {
        if endpoint.trim_end_matches('/') != self.endpoint {
            return self.elsewhere.post(endpoint, connection_id, data).await;
        }
        match self.poster.post(connection_id, data.to_vec()).await {
            Posted::Sent => Ok(()),
            Posted::Gone | Posted::Injected(410) => Err(PushError::Gone(connection_id.to_owned())),
            Posted::TooLarge | Posted::Injected(413) => Err(PushError::TooLarge { bytes: data.len() }),
            // `LimitExceededException` is a throttle to the SDK adapter.
            Posted::OutboxFull | Posted::Injected(429) => {
                Err(PushError::Throttled(format!("connection {connection_id} is not reading").into()))
            }
            Posted::Injected(status) => {
                Err(PushError::Failed(format!("PostToConnection answered {status} (injected)").into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ConnectionMeta;
    use starling_shared::adapters::memory::{MemoryPusher, MemoryStore};

    const HERE: &str = "http://127.0.0.1:3001/local";

    fn pusher(registry: &Arc<Registry>, elsewhere: Arc<MemoryPusher>) -> LocalPusher {
        let poster = Poster {
            registry: registry.clone(),
            faults: Arc::new(Faults::new(false)),
            connections: Arc::new(MemoryStore::new()),
        };
        LocalPusher::new(poster, HERE.to_owned(), elsewhere)
    }

    #[tokio::test]
    async fn posts_answer_as_the_sdk_adapter_maps_the_management_api() {
        let registry = Arc::new(Registry::default());
        let local = pusher(&registry, Arc::new(MemoryPusher::default()));
        let meta = ConnectionMeta::sample();
        // Room for one small frame only: the second finds the outbox full.
        let (conn, _outbox) = registry.new_conn(meta.clone(), 20);
        registry.insert(conn);
        let id = meta.connection_id.as_str();

        assert!(local.post(HERE, id, b"{}").await.is_ok());
        assert!(matches!(local.post(HERE, id, b"{}").await, Err(PushError::Throttled(_))));
        assert!(matches!(local.post(HERE, id, b"{}").await, Err(PushError::Gone(_))), "closing once not read");
        let big = vec![b'x'; MAX_POST_BYTES + 1];
        assert!(matches!(local.post(HERE, "other", &big).await, Err(PushError::TooLarge { .. })));
        assert!(matches!(local.post(&format!("{HERE}/"), "other", b"{}").await, Err(PushError::Gone(_))));
    }

    #[tokio::test]
    async fn posts_to_another_endpoint_go_over_the_sdk_adapter() {
        let registry = Arc::new(Registry::default());
        let elsewhere = Arc::new(MemoryPusher::default());
        elsewhere.connect("abc");
        let local = pusher(&registry, elsewhere.clone());
        local.post("https://abc.execute-api.us-east-1.amazonaws.com/prod", "abc", b"{}").await.expect("posted");
        assert_eq!(elsewhere.posts_to("abc"), ["{}"]);
    }
}
