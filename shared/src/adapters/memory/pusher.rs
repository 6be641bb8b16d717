//! A pusher that records what it posts.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{PushError, Pusher};
use crate::protocol::MAX_FRAME_BYTES;

#[derive(Debug, Default)]
struct PusherState {
    posts: Vec<(String, String)>,
    connected: HashSet<String>,
    /// connection id → how many more posts fail with a throttle
    throttled: HashMap<String, u32>,
    /// connection id → HTTP status every post to it answers
    refusing: HashMap<String, u16>,
}

/// A pusher that records what it posts. Only connections marked `connect`ed accept posts;
/// every other one answers Gone, and a frame over the message limit is refused (413), as the
/// management API does.
#[derive(Debug, Default)]
pub struct MemoryPusher {
    state: Mutex<PusherState>,
    /// How long each post takes, as a network round trip would (benches).
    latency: Duration,
}

impl MemoryPusher {
    fn lock(&self) -> MutexGuard<'_, PusherState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A pusher whose every post takes `latency` before it answers.
    pub fn with_latency(latency: Duration) -> Self {
        Self { latency, ..Self::default() }
    }

    /// Every post to this connection answers `status` from now on, as the management API does
    /// for one bad connection (413 payload too large, 403, 500; 429 is a throttle).
    pub fn refuse(&self, connection_id: &str, status: u16) {
        self.lock().refusing.insert(connection_id.to_owned(), status);
    }

    /// Ends what `refuse` and `throttle` set for this connection: its posts succeed again.
    pub fn heal(&self, connection_id: &str) {
        let mut s = self.lock();
        s.refusing.remove(connection_id);
        s.throttled.remove(connection_id);
    }

    /// Marks the connection open: posts to it succeed.
    pub fn connect(&self, connection_id: &str) {
        self.lock().connected.insert(connection_id.to_owned());
    }

    /// Marks the connection closed: posts to it answer Gone.
    pub fn disconnect(&self, connection_id: &str) {
        self.lock().connected.remove(connection_id);
    }

    /// The next `times` posts to this connection fail as throttled.
    pub fn throttle(&self, connection_id: &str, times: u32) {
        self.lock().throttled.insert(connection_id.to_owned(), times);
    }

    /// Frames posted to a connection, in order.
    pub fn posts_to(&self, connection_id: &str) -> Vec<String> {
        self.lock().posts.iter().filter(|(c, _)| c == connection_id).map(|(_, d)| d.clone()).collect()
    }

    /// Takes the frames posted to a connection so far, in order; later calls return only newer
    /// ones (benchmarks and long tests keep memory flat this way).
    pub fn take_posts_to(&self, connection_id: &str) -> Vec<String> {
        let mut s = self.lock();
        let (taken, kept) = std::mem::take(&mut s.posts).into_iter().partition(|(c, _)| c == connection_id);
        s.posts = kept;
        taken.into_iter().map(|(_, d): (String, String)| d).collect()
    }

    /// Posts made, to any connection.
    pub fn post_count(&self) -> usize {
        self.lock().posts.len()
    }
}

#[async_trait]
impl Pusher for MemoryPusher {
    async fn post(&self, _endpoint: &str, connection_id: &str, data: &[u8]) -> Result<(), PushError> {
        if data.len() > MAX_FRAME_BYTES {
            return Err(PushError::TooLarge { bytes: data.len() });
        }
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let mut s = self.lock();
        match s.refusing.get(connection_id) {
            Some(429) => return Err(PushError::Throttled("injected 429".into())),
            Some(status) => return Err(PushError::Failed(format!("injected {status}").into())),
            None => {}
        }
        if let Some(n) = s.throttled.get_mut(connection_id).filter(|n| **n > 0) {
            *n -= 1;
            return Err(PushError::Throttled("injected throttle".into()));
        }
        if !s.connected.contains(connection_id) {
            return Err(PushError::Gone(connection_id.to_owned()));
        }
        s.posts.push((connection_id.to_owned(), String::from_utf8_lossy(data).into_owned()));
        Ok(())
    }
}
