//! The client actions behind the `$default` route: validate, authorize, reply, enqueue.

use std::sync::Arc;

use tracing::warn;

use crate::model::{Clock, Connection, Envelope, PresenceNotice, Publish, timestamp};
use crate::ports::{
    MessageStore, PresenceStore, PushError, Pusher, Queue, QueueError, RateLimiter, StoreError, SubscriptionStore,
};
use crate::protocol::{ErrorCode, MemberPresence, ProtocolError, Request, RoomId, ServerFrame, Status, parse_request};
use crate::service::broadcast::{self, PushPolicy};

/// Per-connection limits of the actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionLimits {
    /// `send`s allowed per connection per window.
    pub rate_limit: u64,
    pub rate_window_secs: i64,
    /// Rooms one connection may be subscribed to at once.
    pub max_rooms: usize,
    /// At most one `typing` per this interval per connection and room; more are dropped.
    pub typing_interval_ms: i64,
    /// Messages one `sync` sends per room before it answers `hasMore`.
    pub sync_limit: usize,
}

impl Default for ActionLimits {
    fn default() -> Self {
        Self { rate_limit: 100, rate_window_secs: 10, max_rooms: 100, typing_interval_ms: 2_000, sync_limit: 1_000 }
    }
}

/// What the `send` function needs.
#[derive(Clone)]
pub struct ActionDeps {
    pub subscriptions: Arc<dyn SubscriptionStore>,
    pub messages: Arc<dyn MessageStore>,
    pub limiter: Arc<dyn RateLimiter>,
    pub queue: Arc<dyn Queue>,
    pub presence: Arc<dyn PresenceStore>,
    /// Posts `sync`'s frames to the caller and `typing`/`read` to the room.
    pub pusher: Arc<dyn Pusher>,
    pub clock: Arc<dyn Clock>,
    pub limits: ActionLimits,
    /// Overrides the caller's management endpoint (custom domains, the devstack).
    pub endpoint_override: Option<String>,
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
    BadRequest(String),
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
    #[error("no management endpoint to reach this connection")]
    NoEndpoint,
    #[error("posting to this connection failed; retry")]
    Push(#[from] PushError),
}

impl ActionError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Store(StoreError::NotFound(_)) => ErrorCode::NotFound,
            Self::Store(_) | Self::Queue(_) | Self::NoEndpoint | Self::Push(_) => ErrorCode::Internal,
        }
    }
}

/// The reply to one frame, with what the invocation log line needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub action: Option<String>,
    pub room: Option<String>,
    /// `None` when there is nothing to answer (a dropped `typing`) or all was pushed already.
    pub frame: Option<ServerFrame>,
}

impl Reply {
    /// `ok`, or the error code sent back.
    pub fn outcome(&self) -> &'static str {
        match &self.frame {
            Some(ServerFrame::Error(e)) => e.code.as_str(),
            _ => "ok",
        }
    }
}

/// Handles one text frame and returns the reply. Never fails: every problem becomes an error
/// frame, and the connection stays open.
pub async fn handle_frame(deps: &ActionDeps, caller: &Caller, text: &str) -> Reply {
    let request = match parse_request(text) {
        Ok(r) => r,
        Err(e) => return Reply { action: e.action.clone(), room: None, frame: Some(e.to_frame()) },
    };
    let action = Some(request.action().to_owned());
    let room = request.room().map(ToString::to_string);
    let frame = match execute(deps, caller, &request).await {
        Ok(frame) => frame,
        Err(e) => {
            if matches!(
                e,
                ActionError::Store(_) | ActionError::Queue(_) | ActionError::Push(_) | ActionError::NoEndpoint
            ) {
                warn!(error = %e, source = ?std::error::Error::source(&e), action = request.action(), "action failed");
            }
            let client_msg_id = match &request {
                Request::Send { client_msg_id, .. } => client_msg_id.clone(),
                _ => None,
            };
            Some(
                ProtocolError { code: e.code(), message: e.to_string(), action: action.clone(), client_msg_id }
                    .to_frame(),
            )
        }
    };
    Reply { action, room, frame }
}

async fn execute(deps: &ActionDeps, caller: &Caller, request: &Request) -> Result<Option<ServerFrame>, ActionError> {
    let conn = &caller.connection;
    let frame = match request {
        Request::Ping => ServerFrame::Pong,
        Request::Join { room } => join(deps, conn, room).await?,
        Request::Leave { room } => leave(deps, conn, room).await?,
        Request::Send { room, body, client_msg_id } => send(deps, caller, room, body, client_msg_id).await?,
        Request::History { room, before, limit } => {
            require_member(deps, conn, room).await?;
            let now = deps.clock.now().timestamp();
            let page = deps.messages.history(room.as_str(), *before, *limit, now).await?;
            ServerFrame::History { room: room.to_string(), messages: page.messages, has_more: page.has_more }
        }
        Request::Presence { room } => presence(deps, conn, room).await?,
        Request::SetStatus { status } => set_status(deps, caller, *status).await?,
        Request::Read { room, seq } => read(deps, caller, room, *seq).await?,
        Request::Sync { rooms } => return sync(deps, caller, rooms).await,
        Request::Typing { room } => return typing(deps, caller, room).await,
    };
    Ok(Some(frame))
}

async fn leave(deps: &ActionDeps, conn: &Connection, room: &RoomId) -> Result<ServerFrame, ActionError> {
    if !deps.subscriptions.is_subscribed(room.as_str(), &conn.id).await? {
        return Err(ActionError::NotFound(format!("not subscribed to {room}")));
    }
    deps.subscriptions.unsubscribe(room.as_str(), conn).await?;
    Ok(ServerFrame::Left { room: room.to_string() })
}

async fn send(
    deps: &ActionDeps,
    caller: &Caller,
    room: &RoomId,
    body: &str,
    client_msg_id: &Option<String>,
) -> Result<ServerFrame, ActionError> {
    let conn = &caller.connection;
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
        body: body.to_owned(),
        client_msg_id: client_msg_id.clone(),
        sent_at: timestamp(now),
        endpoint: caller.endpoint.clone(),
    });
    deps.queue.enqueue(&envelope).await?;
    Ok(ServerFrame::Accepted { room: room.to_string(), client_msg_id: client_msg_id.clone(), id })
}

async fn presence(deps: &ActionDeps, conn: &Connection, room: &RoomId) -> Result<ServerFrame, ActionError> {
    require_member(deps, conn, room).await?;
    let users = deps.subscriptions.members(room.as_str()).await?;
    let now = deps.clock.now().timestamp();
    let members = deps
        .presence
        .presence(&users, now)
        .await?
        .into_iter()
        .map(|p| MemberPresence { user: p.user, status: p.status, last_seen: p.last_seen })
        .collect();
    Ok(ServerFrame::Presence { room: room.to_string(), members })
}

/// `status`: a transition is queued for the fanout to announce to the user's rooms; the caller
/// gets its own `presenceChanged` as the reply.
async fn set_status(deps: &ActionDeps, caller: &Caller, status: Status) -> Result<ServerFrame, ActionError> {
    let user = &caller.connection.user;
    let now = deps.clock.now();
    if let Some(p) = deps.presence.set_status(user, status, now.timestamp()).await? {
        let notice = PresenceNotice {
            user: p.user,
            status: p.status,
            last_seen: None,
            at_ms: now.timestamp_millis(),
            endpoint: caller.endpoint.clone(),
        };
        deps.queue.enqueue(&Envelope::Presence(notice)).await?;
    }
    Ok(ServerFrame::PresenceChanged { user: user.clone(), status, last_seen: None })
}

/// `read`: stores the cursor and tells the room's other subscribers; the reader gets it as the reply.
async fn read(deps: &ActionDeps, caller: &Caller, room: &RoomId, seq: u64) -> Result<ServerFrame, ActionError> {
    let conn = &caller.connection;
    require_member(deps, conn, room).await?;
    let last = deps.messages.last_seq(room.as_str()).await?;
    if seq > last {
        return Err(ActionError::BadRequest(format!("seq {seq} is past {room}'s last seq {last}")));
    }
    let stored = deps.presence.set_read(&conn.user, room.as_str(), seq).await?;
    let frame = ServerFrame::Read { room: room.to_string(), user: conn.user.clone(), seq: stored };
    let audience =
        broadcast::audience(deps.subscriptions.as_ref(), &[room.to_string()], |s| s.connection_id == conn.id).await?;
    let endpoint = endpoint(deps, caller)?;
    broadcast::post_all(deps.pusher.as_ref(), PushPolicy::default(), &endpoint, audience, frame.to_json().as_bytes())
        .await;
    Ok(frame)
}

fn endpoint(deps: &ActionDeps, caller: &Caller) -> Result<String, ActionError> {
    deps.endpoint_override.clone().or_else(|| caller.endpoint.clone()).ok_or(ActionError::NoEndpoint)
}

/// `typing`: goes to the room's other subscribers (not the typist's own devices), never stored,
/// and at most once per interval; extra ones are dropped without a reply.
async fn typing(deps: &ActionDeps, caller: &Caller, room: &RoomId) -> Result<Option<ServerFrame>, ActionError> {
    let conn = &caller.connection;
    require_subscribed(deps, conn, room).await?;
    let now_ms = deps.clock.now().timestamp_millis();
    if !deps.presence.typing_allowed(&conn.id, room.as_str(), now_ms, deps.limits.typing_interval_ms).await? {
        return Ok(None);
    }
    let frame = ServerFrame::Typing { room: room.to_string(), user: conn.user.clone() }.to_json();
    let audience =
        broadcast::audience(deps.subscriptions.as_ref(), &[room.to_string()], |s| s.user == conn.user).await?;
    let endpoint = endpoint(deps, caller)?;
    broadcast::post_all(deps.pusher.as_ref(), PushPolicy::default(), &endpoint, audience, frame.as_bytes()).await;
    Ok(None)
}

/// `sync`: per room, the missed messages in seq order, then `synced`. Every frame but the last is
/// posted to the caller in order; the last is the reply, which API Gateway sends after them.
async fn sync(
    deps: &ActionDeps,
    caller: &Caller,
    rooms: &[(RoomId, Option<u64>)],
) -> Result<Option<ServerFrame>, ActionError> {
    let conn = &caller.connection;
    let endpoint = endpoint(deps, caller)?;
    let now = deps.clock.now().timestamp();
    let mut frames: Vec<ServerFrame> = Vec::new();
    let mut pending: Option<ServerFrame> = None;
    for (room, seq) in rooms {
        let room_frames = match sync_room(deps, conn, room, *seq, now).await {
            Ok(f) => f,
            Err(e @ (ActionError::Forbidden(_) | ActionError::NotFound(_))) => vec![
                ProtocolError {
                    code: e.code(),
                    message: format!("{room}: {e}"),
                    action: Some("sync".into()),
                    client_msg_id: None,
                }
                .to_frame(),
            ],
            Err(e) => return Err(e),
        };
        frames.extend(room_frames);
        // Post as we go so a room of 1,000 messages is not held in memory twice.
        let last = frames.pop();
        for frame in pending.take().into_iter().chain(frames.drain(..)) {
            broadcast::post_with_retry(
                deps.pusher.as_ref(),
                PushPolicy::default(),
                &endpoint,
                &conn.id,
                frame.to_json().as_bytes(),
            )
            .await?;
        }
        pending = last;
    }
    Ok(pending)
}

async fn sync_room(
    deps: &ActionDeps,
    conn: &Connection,
    room: &RoomId,
    seq: Option<u64>,
    now: i64,
) -> Result<Vec<ServerFrame>, ActionError> {
    require_member(deps, conn, room).await?;
    let after = match seq {
        Some(s) => s,
        None => deps.presence.read_cursor(&conn.user, room.as_str()).await?.unwrap_or(0),
    };
    let page = deps.messages.since(room.as_str(), after, deps.limits.sync_limit, now).await?;
    let last_seq = if page.has_more { page.messages.last().map_or(after, |m| m.seq) } else { page.last_seq };
    let mut frames: Vec<ServerFrame> = page.messages.into_iter().map(ServerFrame::Message).collect();
    frames.push(ServerFrame::Synced {
        room: room.to_string(),
        recovered: page.recovered,
        last_seq,
        has_more: page.has_more,
    });
    Ok(frames)
}

/// Reading a room (history, sync, presence, read) takes membership or a live subscription.
async fn require_member(deps: &ActionDeps, conn: &Connection, room: &RoomId) -> Result<(), ActionError> {
    if !room.admits(&conn.user) {
        return Err(forbidden_room(room));
    }
    if deps.subscriptions.is_member(room.as_str(), &conn.user).await?
        || deps.subscriptions.is_subscribed(room.as_str(), &conn.id).await?
    {
        Ok(())
    } else {
        Err(ActionError::Forbidden(format!("join {room} first")))
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
