//! One connection to a Starling WebSocket API.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{ClientError, MinuteStats, Request, RoomId, ServerFrame, StatsTotals, answers, parse_frame};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a new [`Client`] waits for a frame before [`ClientError::Timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Client::close`] waits for the server's close reply; closing is best effort.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// RFC 6455's code for a close frame without a code.
const NO_STATUS: u16 = 1005;
/// RFC 6455's code for a connection that ended without a close frame.
const ABNORMAL: u16 = 1006;

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// The close code: 1000 normal, 1001 going away, 1009 too big; 1005 when the close frame had
    /// no code and 1006 when the connection ended without a close frame.
    pub code: u16,
    /// The close frame's reason, possibly empty.
    pub reason: String,
}

impl Close {
    fn from_frame(frame: Option<CloseFrame>) -> Self {
        match frame {
            Some(f) => Self { code: f.code.into(), reason: f.reason.as_str().to_owned() },
            None => Self { code: NO_STATUS, reason: String::new() },
        }
    }

    fn abnormal() -> Self {
        Self { code: ABNORMAL, reason: "the connection ended without a close frame".into() }
    }
}

/// What one read from the connection produced.
enum Incoming {
    Frame(ServerFrame),
    Closed(Close),
}

/// A protocol v1 connection. Frames read while waiting for another one are buffered in arrival
/// order, and [`recv`](Self::recv) and [`wait_for`](Self::wait_for) look there first. Every wait
/// gives up after [`timeout`](Self::timeout).
#[derive(Debug)]
pub struct Client {
    ws: Ws,
    buffer: VecDeque<ServerFrame>,
    timeout: Duration,
}

impl Client {
    /// Connects to `url` with `token` in the `token` query parameter: the only place the
    /// authorizer reads it, because it is the deployed API's identity source (an `Authorization`
    /// header alone is refused with 401 there, and so in the devstack).
    pub async fn connect(url: &str, token: &str) -> Result<Self, ClientError> {
        let sep = if url.contains('?') { '&' } else { '?' };
        let with_token = format!("{url}{sep}token={}", query_escape(token));
        Self::open(with_token, url).await
    }

    /// Connects to `url` exactly as given: a token, if any, must already be in it.
    pub async fn connect_url(url: &str) -> Result<Self, ClientError> {
        let without_query = url.split_once('?').map_or(url, |(base, _)| base);
        Self::open(url, without_query).await
    }

    /// `shown` is the URL for error messages: never one with a token in it.
    async fn open(request: impl IntoClientRequest + Unpin, shown: &str) -> Result<Self, ClientError> {
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Self { ws, buffer: VecDeque::new(), timeout: DEFAULT_TIMEOUT }),
            Err(tungstenite::Error::Http(resp)) => {
                let body = resp.body().as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                Err(ClientError::Refused { status: resp.status().as_u16(), body })
            }
            Err(source) => Err(ClientError::Connect { url: shown.to_owned(), source }),
        }
    }

    /// How long each wait lasts before it fails with [`ClientError::Timeout`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets how long each wait lasts.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends `request` without waiting for its reply.
    pub async fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        self.send_text(request.to_json()).await
    }

    /// Sends `text` as one text frame, as is: for frames a [`Request`] cannot express, such as
    /// the invalid ones a server test sends on purpose.
    pub async fn send_text(&mut self, text: impl Into<String>) -> Result<(), ClientError> {
        self.ws.send(Message::text(text.into())).await.map_err(ClientError::Transport)
    }

    /// Sends `text` as one text message split into frames of at most `fragment_len` bytes, to
    /// exercise a server's frame and message size limits separately.
    pub async fn send_fragmented(&mut self, text: &str, fragment_len: usize) -> Result<(), ClientError> {
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(fragment_len.max(1)).collect();
        let last = chunks.len().saturating_sub(1);
        for (i, chunk) in chunks.into_iter().enumerate() {
            let opcode = OpCode::Data(if i == 0 { Data::Text } else { Data::Continue });
            let frame = Frame::message(chunk.to_vec(), opcode, i == last);
            self.ws.feed(Message::Frame(frame)).await.map_err(ClientError::Transport)?;
        }
        self.ws.flush().await.map_err(ClientError::Transport)
    }

    /// The next frame: the oldest buffered one, or else the next from the server.
    pub async fn recv(&mut self) -> Result<ServerFrame, ClientError> {
        match self.buffer.pop_front() {
            Some(frame) => Ok(frame),
            None => self.read_frame(self.deadline()).await,
        }
    }

    /// The first frame, buffered or new, for which `pred` holds; the others stay buffered.
    pub async fn wait_for(&mut self, pred: impl Fn(&ServerFrame) -> bool) -> Result<ServerFrame, ClientError> {
        if let Some(frame) = self.buffer.iter().position(&pred).and_then(|i| self.buffer.remove(i)) {
            return Ok(frame);
        }
        let deadline = self.deadline();
        loop {
            let frame = self.read_frame(deadline).await?;
            if pred(&frame) {
                return Ok(frame);
            }
            self.buffer.push_back(frame);
        }
    }

    /// Reads one more frame from the server into the buffer, without taking it.
    pub async fn read_ahead(&mut self) -> Result<(), ClientError> {
        let frame = self.read_frame(self.deadline()).await?;
        self.buffer.push_back(frame);
        Ok(())
    }

    /// The frames received but not taken yet, oldest first.
    pub fn buffered(&self) -> impl Iterator<Item = &ServerFrame> {
        self.buffer.iter()
    }

    /// Sends `request` and waits for its reply (see [`answers`]); an `error` reply is
    /// [`ClientError::Server`]. A successful `typing` has no reply, so send it with
    /// [`send`](Self::send) instead.
    pub async fn request(&mut self, request: &Request) -> Result<ServerFrame, ClientError> {
        self.send(request).await?;
        match self.wait_for(|frame| answers(request, frame)).await? {
            ServerFrame::Error(e) => Err(ClientError::Server(Box::new(e))),
            reply => Ok(reply),
        }
    }

    /// Joins `room` and returns its last seq.
    pub async fn join(&mut self, room: &RoomId) -> Result<u64, ClientError> {
        match self.request(&Request::Join { room: room.clone() }).await? {
            ServerFrame::Joined { last_seq, .. } => Ok(last_seq),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// The room's counters over the last `minutes` (1 to 1,440): the minutes with counts, oldest
    /// first, the totals, and whether older minutes were left out for size.
    pub async fn stats(
        &mut self,
        room: &RoomId,
        minutes: u32,
    ) -> Result<(Vec<MinuteStats>, StatsTotals, bool), ClientError> {
        match self.request(&Request::Stats { room: room.clone(), minutes }).await? {
            ServerFrame::Stats { minutes, totals, has_more, .. } => Ok((minutes, totals, has_more)),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// Sends `ping` and waits for `pong`. The server answers in order, so every frame it sent
    /// before the pong is buffered when this returns.
    pub async fn ping(&mut self) -> Result<(), ClientError> {
        self.request(&Request::Ping).await.map(drop)
    }

    /// Waits for the server to end the connection and says how it ended; frames that arrive
    /// first are buffered.
    pub async fn closed(&mut self) -> Result<Close, ClientError> {
        let deadline = self.deadline();
        loop {
            match self.read(deadline).await? {
                Incoming::Frame(frame) => self.buffer.push_back(frame),
                Incoming::Closed(close) => return Ok(close),
            }
        }
    }

    /// Closes the connection with code 1000.
    pub async fn close(mut self) -> Result<(), ClientError> {
        match self.ws.close(None).await {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {}
            Err(e) => return Err(ClientError::Transport(e)),
        }
        // Reading on until the server's close reply completes the handshake, so the server sees
        // a clean close rather than a dropped connection.
        let drain = async { while let Some(Ok(_)) = self.ws.next().await {} };
        let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
        Ok(())
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    async fn read_frame(&mut self, deadline: Instant) -> Result<ServerFrame, ClientError> {
        match self.read(deadline).await? {
            Incoming::Frame(frame) => Ok(frame),
            Incoming::Closed(close) => Err(ClientError::Closed(close)),
        }
    }

    /// The next frame or close from the connection. Cancel-safe: it holds nothing across an
    /// await but the stream's own `next`.
    async fn read(&mut self, deadline: Instant) -> Result<Incoming, ClientError> {
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| ClientError::Timeout { waited: self.timeout })?;
            match next {
                Some(Ok(Message::Text(text))) => return parse_frame(text.as_str()).map(Incoming::Frame),
                Some(Ok(Message::Binary(data))) => {
                    return parse_frame(&String::from_utf8_lossy(&data)).map(Incoming::Frame);
                }
                Some(Ok(Message::Close(frame))) => return Ok(Incoming::Closed(Close::from_frame(frame))),
                // Pings are answered by tungstenite itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(e)) => return Err(ClientError::Transport(e)),
                None => return Ok(Incoming::Closed(Close::abnormal())),
            }
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so any token survives the query.
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::query_escape;

    #[test]
    fn a_jwt_passes_the_query_unchanged_and_anything_else_is_escaped() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig-_";
        assert_eq!(query_escape(jwt), jwt);
        assert_eq!(query_escape("a b&c=é"), "a%20b%26c%3D%C3%A9");
    }
}
