//! The `send` function: every client frame API Gateway routes to `$default`. Each action is
//! validated, authorized against the caller's rooms, and answered with one reply frame.

pub mod budget;
mod epochs;
mod guards;
mod key_packages;
mod messages;
mod presence;
mod rooms;
mod stats;
mod sync;
mod welcomes;

pub use stats::stats_frame;

use std::sync::Arc;

use tracing::warn;

use crate::clock::Clock;
use crate::domain::Connection;
use crate::moderation::{ModerationError, Moderators};
use crate::ports::{PushError, Pusher, Queue, QueueError, StoreError};
use crate::protocol::{ErrorCode, ProtocolError, Request, ServerFrame, parse_request};
use crate::service::Stores;

/// Limits of the `send` function's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimits {
    /// The budget of one user (all their connections together) per window, in cost units: every
    /// action spends its [`budget::cost`] from it.
    pub rate_limit: u64,
    /// The budget's window, in seconds.
    pub rate_window_secs: i64,
    /// Rooms one connection may be subscribed to at once.
    pub max_rooms: usize,
    /// At most one `typing` per this interval per connection and room; more are dropped.
    pub typing_interval_ms: i64,
    /// Messages one `sync` sends per room before it answers `hasMore`.
    pub sync_limit: usize,
    /// `typing` and `read` are pushed only to rooms with fewer subscribers than this (presence
    /// announcements too, by the fanout's setting of the same name).
    pub presence_push_limit: usize,
    /// At most one `read` per this interval per user and room is announced to the room; the
    /// cursor of the others is stored all the same.
    pub read_interval_ms: i64,
    /// At most one `status` change per this interval per user; a change sooner is refused.
    pub status_interval_ms: i64,
    /// Frames one `sync` posts at most before the rooms left answer `hasMore`.
    pub sync_max_frames: usize,
    /// After this long (ms), a `sync` starts no more message frames; the rooms left answer
    /// `hasMore`. Well under API Gateway's 29 s integration timeout.
    pub sync_time_budget_ms: u64,
}

impl Default for SendLimits {
    fn default() -> Self {
        Self {
            rate_limit: 100,
            rate_window_secs: 10,
            max_rooms: 100,
            typing_interval_ms: 2_000,
            sync_limit: 1_000,
            read_interval_ms: 1_000,
            status_interval_ms: 2_000,
            sync_max_frames: 250,
            sync_time_budget_ms: 20_000,
            presence_push_limit: 1_000,
        }
    }
}

/// What the `send` function needs.
#[derive(Debug, Clone)]
pub struct SendDeps {
    /// Rooms, messages (read only: the fanout writes them), presence and rate windows.
    pub stores: Stores,
    /// Where accepted messages and presence notices go.
    pub queue: Arc<dyn Queue>,
    /// Posts `sync`'s frames to the caller and `typing`/`read` to the room.
    pub pusher: Arc<dyn Pusher>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Per-user and per-connection limits.
    pub limits: SendLimits,
    /// Overrides the caller's management endpoint (custom domains, the devstack).
    pub endpoint_override: Option<String>,
    /// What reviews each `send` before it is queued; empty allows everything.
    pub moderation: Moderators,
}

/// Who sent the frame, as the gateway tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The connection, with the user the authorizer vouched for.
    pub connection: Connection,
    /// The management API endpoint to reach this caller's API.
    pub endpoint: Option<String>,
}

/// Why an action was refused after it parsed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The frame parsed but asks for something impossible: fix the request.
    #[error("{0}")]
    BadRequest(String),
    /// The caller may not do this (not a member, a DM of others, a limit): do not retry as is.
    #[error("{0}")]
    Forbidden(String),
    /// The thing named does not exist (e.g. leaving a room not joined).
    #[error("{0}")]
    NotFound(String),
    /// Too many actions: wait `retry_after_ms`, then retry; nothing was done.
    #[error("{reason}; retry in {retry_after_ms} ms")]
    RateLimited {
        /// Which limit refused it.
        reason: String,
        /// Milliseconds until the same request would be admitted.
        retry_after_ms: i64,
    },
    /// Moderation refused the message for its content: do not send it again as is.
    #[error("the message was rejected by moderation ({reason})")]
    Rejected {
        /// The reason code the client sees.
        reason: String,
    },
    /// Moderation could not decide (rules unreadable, a fail-closed hook failed): retry later.
    #[error(transparent)]
    Moderation(#[from] ModerationError),
    /// The store failed: the client may retry.
    #[error("storage is unavailable; retry")]
    Store(#[from] StoreError),
    /// The queue failed: the client may retry (with the same clientMsgId).
    #[error("the queue is unavailable; retry")]
    Queue(#[from] QueueError),
    /// Neither the event nor the configuration names a management endpoint: a deployment error.
    #[error("no management endpoint to reach this connection")]
    NoEndpoint,
    /// Posting to the caller failed: the client may retry.
    #[error("posting to this connection failed; retry")]
    Push(#[from] PushError),
}

impl ActionError {
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Rejected { .. } => ErrorCode::Rejected,
            Self::Store(StoreError::NotFound(_)) => ErrorCode::NotFound,
            Self::Store(_) | Self::Queue(_) | Self::NoEndpoint | Self::Push(_) | Self::Moderation(_) => {
                ErrorCode::Internal
            }
        }
    }
}

/// The reply to one frame, with what the invocation log line needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The action named by the frame, when it named one.
    pub action: Option<String>,
    /// The room it concerned, for the log line.
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
pub async fn handle_frame(deps: &SendDeps, caller: &Caller, text: &str) -> Reply {
    // Every client frame is activity, as API Gateway's idle limit counts it.
    if let Err(e) = deps.stores.presence.touch(&caller.connection, deps.clock.now().timestamp()).await {
        warn!(connection_id = %caller.connection.id, error = %e, "recording activity failed");
    }
    let request = match parse_request(text) {
        Ok(r) => r,
        Err(e) => return Reply { action: e.action.clone(), room: None, frame: Some(e.to_frame()) },
    };
    let action = Some(request.action().to_owned());
    let room = request.room().map(ToString::to_string);
    let outcome = match budget::spend(deps, caller, &request).await {
        Ok(()) => execute(deps, caller, &request).await,
        Err(e) => Err(e),
    };
    let frame = match outcome {
        Ok(frame) => frame,
        Err(e) => {
            if matches!(
                e,
                ActionError::Store(_)
                    | ActionError::Queue(_)
                    | ActionError::Push(_)
                    | ActionError::NoEndpoint
                    | ActionError::Moderation(_)
            ) {
                warn!(error = %crate::telemetry::chain(&e), action = request.action(), "action failed");
            }
            let client_msg_id = match &request {
                Request::Send { client_msg_id, .. } => client_msg_id.clone(),
                _ => None,
            };
            let mut frame =
                ProtocolError { code: e.code(), message: e.to_string(), action: action.clone(), client_msg_id }
                    .to_frame();
            match (&mut frame, &e) {
                (ServerFrame::Error(f), ActionError::RateLimited { retry_after_ms, .. }) => {
                    f.retry_after_ms = u64::try_from(*retry_after_ms).ok();
                }
                (ServerFrame::Error(f), ActionError::Rejected { reason }) => f.reason = Some(reason.clone()),
                _ => {}
            }
            Some(frame)
        }
    };
    Reply { action, room, frame }
}

async fn execute(deps: &SendDeps, caller: &Caller, request: &Request) -> Result<Option<ServerFrame>, ActionError> {
    let conn = &caller.connection;
    let frame = match request {
        Request::Ping => ServerFrame::Pong,
        Request::Join { room } => rooms::join(deps, conn, room).await?,
        Request::Leave { room } => rooms::leave(deps, conn, room).await?,
        Request::Send { room, body, client_msg_id, welcome } => {
            let message = messages::Outgoing { room, body, client_msg_id, welcome: welcome.as_deref() };
            messages::publish(deps, caller, message).await?
        }
        Request::History { room, before, limit } => messages::history(deps, conn, room, *before, *limit).await?,
        Request::Presence { room, cursor } => presence::members(deps, caller, room, cursor.as_deref()).await?,
        Request::SetStatus { status } => presence::set_status(deps, caller, *status).await?,
        Request::Read { room, seq } => presence::read(deps, caller, room, *seq).await?,
        Request::Stats { room, minutes } => stats::stats(deps, conn, room, *minutes).await?,
        Request::Keys(keys) => key_packages::keys(deps, caller, keys).await?,
        Request::Welcomes(request) => welcomes::welcomes(deps, caller, request).await?,
        Request::Sync { rooms, pages } => return sync::sync(deps, caller, rooms, *pages).await,
        Request::Typing { room } => return presence::typing(deps, caller, room).await,
    };
    Ok(Some(frame))
}
