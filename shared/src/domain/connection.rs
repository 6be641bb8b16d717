//! WebSocket connections and what hangs off them.

/// API Gateway closes every WebSocket connection after two hours.
pub const MAX_CONNECTION_SECS: i64 = 2 * 60 * 60;
/// Connection-scoped items outlive the connection by this much, so a lost `$disconnect` is
/// cleaned by TTL but a late one still finds its items.
pub const CONNECTION_TTL_SLACK_SECS: i64 = 15 * 60;

/// API Gateway closes a connection that sent no frame for ten minutes.
pub const IDLE_TIMEOUT_SECS: i64 = 10 * 60;
/// A connection's last activity is recorded at most this often, so presence may count a closed
/// connection this much longer than API Gateway keeps it.
pub const ACTIVITY_GRANULARITY_SECS: i64 = 60;
/// Connections counted in one user's presence; opening one more forgets the least recently
/// active, so a client that reconnects without its `$disconnect` arriving cannot grow the
/// user's items without bound.
pub const MAX_CONNECTIONS_PER_USER: usize = 20;

/// A registered WebSocket connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// API Gateway's connection id.
    pub id: String,
    /// The user the authorizer vouched for.
    pub user: String,
    /// Epoch milliseconds, as API Gateway reports `connectedAt`.
    pub connected_at_ms: i64,
    /// The client opted in at connect (`batch=1`) to `messages` frames: every live message comes
    /// to it in a `messages` frame, several of a room's messages in one post.
    pub batch: bool,
}

impl Connection {
    /// When the items of this connection may be deleted by TTL (epoch seconds).
    pub fn expires_at(&self) -> i64 {
        self.connected_at_ms / 1000 + MAX_CONNECTION_SECS + CONNECTION_TTL_SLACK_SECS
    }
}

/// One online subscriber of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// The subscribed connection.
    pub connection_id: String,
    /// Its user.
    pub user: String,
    /// Whether the connection takes `messages` frames (see [`Connection::batch`]).
    pub batch: bool,
}

/// What a removed connection was attached to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// The connection's user, when it was still registered.
    pub user: Option<String>,
    /// The rooms it was subscribed to.
    pub rooms: Vec<String>,
    /// The connection as it was registered, when it still was.
    pub connection: Option<Connection>,
}
