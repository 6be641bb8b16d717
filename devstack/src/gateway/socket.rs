//! An open connection: a writer that keeps posts and replies in order, a reader that routes
//! frames until the client or the server ends the connection, then `$disconnect`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use base64::Engine;
use chrono::Utc;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info};

use super::integration;
use super::registry::{Conn, Outbound};
use super::{CLOSE_ABNORMAL, CLOSE_GOING_AWAY, CLOSE_NO_STATUS, CLOSE_NORMAL, CLOSE_TOO_BIG};
use crate::App;
use crate::faults::{DisconnectMode, Fault};

/// Why a connection ended: the close code and reason that `$disconnect` reports.
#[derive(Debug)]
struct Ending {
    code: u16,
    reason: String,
    /// A close frame to send to the client, when the server ends the connection.
    send_close: bool,
}

impl Ending {
    /// The server ends the connection and tells the client with a close frame.
    fn by_server(code: u16, reason: &str) -> Self {
        Self { code, reason: reason.to_owned(), send_close: true }
    }

    /// The client closed, or the connection broke: there is no one to send a close frame to.
    fn by_peer(code: u16, reason: impl Into<String>) -> Self {
        Self { code, reason: reason.into(), send_close: false }
    }
}

/// Runs an upgraded connection until it ends, then `$disconnect`.
pub(super) async fn run(
    app: Arc<App>,
    conn: Arc<Conn>,
    authorizer: Map<String, Value>,
    socket: WebSocket,
    rx: mpsc::UnboundedReceiver<Outbound>,
) {
    // The idle clock starts when the connection is open, not when the handshake began.
    conn.touch();
    let (sink, mut stream) = socket.split();
    let (close_tx, close_rx) = oneshot::channel();
    let writer = tokio::spawn(write(sink, rx, close_rx, conn.clone()));
    let session = Session { app, conn, authorizer };
    let ending = session.read_until_end(&mut stream).await;
    session.finish(stream, writer, close_tx, ending).await;
}

/// Posts and replies in order, then at most one close frame.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    mut close_rx: oneshot::Receiver<CloseFrame>,
    conn: Arc<Conn>,
) {
    loop {
        tokio::select! {
            biased;
            out = rx.recv() => {
                let Some(out) = out else { break };
                // The bytes leave the outbox once taken: the socket's own buffer is bounded.
                conn.written(&out);
                let message = match out {
                    Outbound::Text(t) => Message::Text(t.into()),
                    Outbound::Binary(b) => Message::Binary(b.into()),
                };
                if sink.send(message).await.is_err() {
                    break;
                }
            }
            close = &mut close_rx => {
                if let Ok(frame) = close {
                    let _ = sink.send(Message::Close(Some(frame))).await;
                }
                break;
            }
        }
    }
    let _ = sink.flush().await;
}

/// The reading side of one connection and what its frames are routed with.
struct Session {
    app: Arc<App>,
    conn: Arc<Conn>,
    authorizer: Map<String, Value>,
}

impl Session {
    async fn read_until_end(&self, stream: &mut SplitStream<WebSocket>) -> Ending {
        let max_deadline = Instant::now() + self.app.config.limits.max_connection_duration;
        loop {
            let frame = tokio::select! {
                frame = stream.next() => frame,
                ending = self.ended_by_server(max_deadline) => return ending,
            };
            if let Some(ending) = self.on_frame(frame).await {
                return ending;
            }
        }
    }

    /// Resolves when the server ends the connection: idle, too old, shutting down, deleted
    /// through the management API, or not reading (its outbox overflowed).
    async fn ended_by_server(&self, max_deadline: Instant) -> Ending {
        let idle_for = Utc::now().timestamp_millis() - self.conn.last_active_ms();
        let idle_for = Duration::from_millis(u64::try_from(idle_for).unwrap_or(0));
        let idle_deadline = Instant::now() + self.app.config.limits.idle_timeout.saturating_sub(idle_for);
        tokio::select! {
            _ = tokio::time::sleep_until(idle_deadline) => {
                Ending::by_server(CLOSE_GOING_AWAY, "Going away: idle timeout")
            }
            _ = tokio::time::sleep_until(max_deadline) => {
                Ending::by_server(CLOSE_GOING_AWAY, "Going away: maximum connection duration")
            }
            _ = self.app.closing.cancelled() => {
                Ending::by_server(CLOSE_GOING_AWAY, "Going away: the devstack is shutting down")
            }
            _ = self.conn.deleted() => Ending::by_server(CLOSE_NORMAL, "Connection deleted"),
            _ = self.conn.outbox_overflowed() => {
                info!(connection_id = %self.conn.meta.connection_id, "the client does not read; closing");
                Ending::by_server(CLOSE_GOING_AWAY, "Going away: the client does not read what is sent")
            }
        }
    }

    /// Routes a data frame; the ending when the frame ends the connection.
    async fn on_frame(&self, frame: Option<Result<Message, axum::Error>>) -> Option<Ending> {
        let id = &self.conn.meta.connection_id;
        let (body, is_base64) = match frame {
            Some(Ok(Message::Text(text))) => (text.as_str().to_owned(), false),
            Some(Ok(Message::Binary(bytes))) => (base64::engine::general_purpose::STANDARD.encode(&bytes), true),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                self.conn.touch();
                return None;
            }
            Some(Ok(Message::Close(Some(f)))) => return Some(Ending::by_peer(f.code, f.reason.as_str())),
            Some(Ok(Message::Close(None))) => {
                return Some(Ending::by_peer(CLOSE_NO_STATUS, "Client-side close frame status not set"));
            }
            Some(Err(e)) if is_capacity_error(&e) => {
                info!(connection_id = %id, error = %e, "frame or message over the limit; closing with 1009");
                return Some(Ending::by_server(CLOSE_TOO_BIG, "Message too big"));
            }
            Some(Err(e)) => {
                debug!(connection_id = %id, error = %e, "connection error");
                return Some(Ending::by_peer(CLOSE_ABNORMAL, "Connection lost"));
            }
            None => return Some(Ending::by_peer(CLOSE_ABNORMAL, "Connection lost")),
        };
        self.conn.touch();
        integration::route(&self.app, &self.conn, &self.authorizer, body, is_base64).await;
        None
    }

    /// Unregisters the connection, lets the close handshake finish, and runs `$disconnect`.
    async fn finish(
        self,
        mut stream: SplitStream<WebSocket>,
        writer: JoinHandle<()>,
        close_tx: oneshot::Sender<CloseFrame>,
        ending: Ending,
    ) {
        // From here on, posts to this connection answer 410.
        self.app.registry.remove(&self.conn.meta.connection_id);
        if ending.send_close {
            let _ = close_tx.send(CloseFrame { code: ending.code, reason: ending.reason.clone().into() });
        } else {
            drop(close_tx);
        }
        // Let the close handshake finish (the client's close frame, or the reply to it).
        let drained = async { while let Some(Ok(_)) = stream.next().await {} };
        let _ = tokio::time::timeout(Duration::from_secs(1), drained).await;
        // A client that does not read leaves the writer stuck in a send: drop it and the socket
        // with it, so nothing queued for that client outlives the connection.
        let abort = writer.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), writer).await.is_err() {
            abort.abort();
        }
        self.disconnect(ending).await;
    }

    /// `$disconnect`, unless a planned fault loses, delays or doubles it.
    async fn disconnect(self, ending: Ending) {
        let Session { app, conn, authorizer } = self;
        let run = async move |app: &App| {
            integration::disconnect(app, &conn.meta, &authorizer, ending.code, &ending.reason).await;
        };
        match app.faults.fire(|f| matches!(f, Fault::Disconnect { .. })) {
            Some(Fault::Disconnect { mode: DisconnectMode::Lost, .. }) => {}
            Some(Fault::Disconnect { mode: DisconnectMode::Late, delay_ms, .. }) => {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                    run(&app).await;
                });
            }
            Some(Fault::Disconnect { mode: DisconnectMode::Doubled, .. }) => {
                run(&app).await;
                run(&app).await;
            }
            _ => run(&app).await,
        }
    }
}

/// Whether a read failed because a frame or message was over the limits, which closes with
/// 1009 rather than as a lost connection.
fn is_capacity_error(e: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
            return matches!(t, tokio_tungstenite::tungstenite::Error::Capacity(_));
        }
        source = s.source();
    }
    // Some versions only say so in the message.
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
}
