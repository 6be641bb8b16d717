//! A protocol v1 client over one WebSocket connection.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::CliError;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// `url` with `token=` added to its query.
pub fn url_with_token(url: &str, token: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}token={token}")
}

/// Opens a connection; a refused handshake becomes `CliError::Refused` with the status.
pub async fn connect(url: &str, token: &str) -> Result<Ws, CliError> {
    match tokio_tungstenite::connect_async(url_with_token(url, token)).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            Err(CliError::Refused { status: resp.status().as_u16(), body })
        }
        Err(e) => Err(CliError::Connect { url: url.to_owned(), source: Box::new(e) }),
    }
}

/// A connection with a buffer of frames read but not yet asked for.
#[derive(Debug)]
pub struct Session {
    ws: Ws,
    pending: VecDeque<Value>,
}

impl Session {
    pub async fn open(url: &str, token: &str) -> Result<Self, CliError> {
        Ok(Self { ws: connect(url, token).await?, pending: VecDeque::new() })
    }

    pub fn into_inner(self) -> (Ws, VecDeque<Value>) {
        (self.ws, self.pending)
    }

    pub async fn send(&mut self, frame: &Value) -> Result<(), CliError> {
        self.ws.send(Message::Text(frame.to_string().into())).await.map_err(dropped)
    }

    /// The next frame from the server (buffered first).
    pub async fn next(&mut self, timeout: Duration) -> Result<Value, CliError> {
        if let Some(v) = self.pending.pop_front() {
            return Ok(v);
        }
        read_frame(&mut self.ws, timeout).await
    }

    /// The first frame matching `pred`, keeping the others buffered in order.
    pub async fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Result<Value, CliError> {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i).ok_or(CliError::Timeout);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let v = read_frame(&mut self.ws, left).await?;
            if pred(&v) {
                return Ok(v);
            }
            self.pending.push_back(v);
        }
    }

    /// Sends `frame` and waits for the reply of type `reply`; an `error` reply for this action
    /// becomes `CliError::Server`.
    pub async fn request(&mut self, frame: &Value, reply: &str, timeout: Duration) -> Result<Value, CliError> {
        self.send(frame).await?;
        let action = frame.get("action").and_then(Value::as_str).unwrap_or_default().to_owned();
        let v = self
            .wait_for(timeout, |v| {
                let t = v.get("type").and_then(Value::as_str);
                t == Some(reply) || (t == Some("error") && v.get("action").and_then(Value::as_str) == Some(&action))
            })
            .await?;
        server_error(&v)?;
        Ok(v)
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// `Err(CliError::Server)` for an error frame.
pub fn server_error(v: &Value) -> Result<(), CliError> {
    if v.get("type").and_then(Value::as_str) == Some("error") {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        return Err(CliError::Server { code: s("code"), message: s("message") });
    }
    Ok(())
}

fn dropped(e: tungstenite::Error) -> CliError {
    CliError::Dropped { code: None, reason: e.to_string() }
}

/// Reads the next JSON text frame; a close or a broken connection is `CliError::Dropped`.
pub async fn read_frame(ws: &mut Ws, timeout: Duration) -> Result<Value, CliError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next()).await.map_err(|_| CliError::Timeout)?;
        match next {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(t.as_str())
                    .map_err(|e| CliError::BadFrame(format!("{e}: {}", t.as_str())));
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(CliError::Dropped {
                    code: frame.as_ref().map(|f| u16::from(f.code)),
                    reason: frame.map(|f| f.reason.as_str().to_owned()).unwrap_or_default(),
                });
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(dropped(e)),
            None => return Err(CliError::Dropped { code: None, reason: "the server closed the connection".into() }),
        }
    }
}
