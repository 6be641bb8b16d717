//! The client actions behind the `$default` route: validate, authorize, reply, enqueue.

use std::sync::Arc;

use tracing::warn;

use crate::model::{Clock, Connection, Envelope, Publish, timestamp};
use crate::ports::{MessageStore, Queue, QueueError, RateLimiter, StoreError, SubscriptionStore};
use crate::protocol::{ErrorCode, ProtocolError, Request, RoomId, ServerFrame, parse_request};

/// Per-connection limits of the actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionLimits {
    /// `send`s allowed per connection per window.
    pub rate_limit: u64,
    pub rate_window_secs: i64,
    /// Rooms one connection may be subscribed to at once.
    pub max_rooms: usize,
}

impl Default for ActionLimits {
    fn default() -> Self {
        Self { rate_limit: 100, rate_window_secs: 10, max_rooms: 100 }
    }
}

/// What the `send` function needs.
#[derive(Clone)]
pub struct ActionDeps {
    pub subscriptions: Arc<dyn SubscriptionStore>,
    pub messages: Arc<dyn MessageStore>,
    pub limiter: Arc<dyn RateLimiter>,
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub limits: ActionLimits,
}

impl std::fmt::Debug for ActionDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionDeps").field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// Who sent the frame, as the gateway tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub connection: Connection,
    /// The management API endpoint to reach this caller's API.
    pub endpoint: Option<String>,
}

/// Why an action was refused after it parsed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("more than {limit} sends in {window}s; slow down")]
    RateLimited { limit: u64, window: i64 },
    #[error("storage is unavailable; retry")]
    Store(#[from] StoreError),
    #[error("the queue is unavailable; retry")]
    Queue(#[from] QueueError),
}

impl ActionError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Store(StoreError::NotFound(_)) => ErrorCode::NotFound,
            Self::Store(_) | Self::Queue(_) => ErrorCode::Internal,
        }
    }
}

/// The reply to one frame, with what the invocation log line needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub action: Option<String>,
    pub room: Option<String>,
    pub frame: ServerFrame,
}

impl Reply {
    /// `ok`, or the error code sent back.
    pub fn outcome(&self) -> &'static str {
        match &self.frame {
            ServerFrame::Error(e) => e.code.as_str(),
            _ => "ok",
        }
    }
}

/// Handles one text frame and returns the reply. Never fails: every problem becomes an error
/// frame, and the connection stays open.
pub async fn handle_frame(deps: &ActionDeps, caller: &Caller, text: &str) -> Reply {
    let request = match parse_request(text) {
        Ok(r) => r,
        Err(e) => return Reply { action: e.action.clone(), room: None, frame: e.to_frame() },
    };
    let action = Some(request.action().to_owned());
    let room = request.room().map(ToString::to_string);
    let frame = match execute(deps, caller, &request).await {
        Ok(frame) => frame,
        Err(e) => {
            if matches!(e, ActionError::Store(_) | ActionError::Queue(_)) {
                warn!(error = %e, source = ?std::error::Error::source(&e), action = request.action(), "action failed");
            }
            let client_msg_id = match &request {
                Request::Send { client_msg_id, .. } => client_msg_id.clone(),
                _ => None,
            };
            ProtocolError { code: e.code(), message: e.to_string(), action: action.clone(), client_msg_id }.to_frame()
        }
    };
    Reply { action, room, frame }
}

async fn execute(deps: &ActionDeps, caller: &Caller, request: &Request) -> Result<ServerFrame, ActionError> {
    let conn = &caller.connection;
    match request {
        Request::Ping => Ok(ServerFrame::Pong),
        Request::Join { room } => join(deps, conn, room).await,
        Request::Leave { room } => {
            if !deps.subscriptions.is_subscribed(room.as_str(), &conn.id).await? {
                return Err(ActionError::NotFound(format!("not subscribed to {room}")));
            }
            deps.subscriptions.unsubscribe(room.as_str(), conn).await?;
            Ok(ServerFrame::Left { room: room.to_string() })
        }
        Request::Send { room, body, client_msg_id } => {
            require_subscribed(deps, conn, room).await?;
            let now = deps.clock.now();
            let window = deps.limits.rate_window_secs.max(1);
            let window_start = now.timestamp() - now.timestamp().rem_euclid(window);
            let hits = deps.limiter.hit(&conn.id, window_start, window_start + 2 * window).await?;
            if hits > deps.limits.rate_limit {
                return Err(ActionError::RateLimited { limit: deps.limits.rate_limit, window });
            }
            let id = ulid::Ulid::generate().to_string();
            let envelope = Envelope::Publish(Publish {
                id: id.clone(),
                room: room.to_string(),
                from: conn.user.clone(),
                body: body.clone(),
                client_msg_id: client_msg_id.clone(),
                sent_at: timestamp(now),
                endpoint: caller.endpoint.clone(),
            });
            deps.queue.enqueue(&envelope).await?;
            Ok(ServerFrame::Accepted { room: room.to_string(), client_msg_id: client_msg_id.clone(), id })
        }
        Request::History { room, before, limit } => {
            require_subscribed(deps, conn, room).await?;
            let now = deps.clock.now().timestamp();
            let page = deps.messages.history(room.as_str(), *before, *limit, now).await?;
            Ok(ServerFrame::History { room: room.to_string(), messages: page.messages, has_more: page.has_more })
        }
    }
}

async fn join(deps: &ActionDeps, conn: &Connection, room: &RoomId) -> Result<ServerFrame, ActionError> {
    if !room.admits(&conn.user) {
        return Err(forbidden_room(room));
    }
    let count = deps.subscriptions.subscription_count(&conn.id).await?;
    if count >= deps.limits.max_rooms && !deps.subscriptions.is_subscribed(room.as_str(), &conn.id).await? {
        return Err(ActionError::Forbidden(format!(
            "a connection may be in at most {} rooms; leave one first",
            deps.limits.max_rooms
        )));
    }
    deps.subscriptions.subscribe(room.as_str(), conn).await?;
    let last_seq = deps.messages.last_seq(room.as_str()).await?;
    Ok(ServerFrame::Joined { room: room.to_string(), last_seq })
}

async fn require_subscribed(deps: &ActionDeps, conn: &Connection, room: &RoomId) -> Result<(), ActionError> {
    if !room.admits(&conn.user) {
        return Err(forbidden_room(room));
    }
    if deps.subscriptions.is_subscribed(room.as_str(), &conn.id).await? {
        Ok(())
    } else {
        Err(ActionError::Forbidden(format!("join {room} first")))
    }
}

/// The same words for every refused DM room, so a refusal tells nothing about the room.
fn forbidden_room(room: &RoomId) -> ActionError {
    ActionError::Forbidden(format!("{room} is not open to you"))
}
