//! Helpers for the end-to-end tests: a devstack per test on a free port, on the in-memory
//! backend or on moto, and a WebSocket client that speaks protocol v1.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use starling_devstack::{AwsBackend, Backend, Config, Handle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const SECRET: &str = "e2e-secret";
/// How long a test waits for something that should happen promptly.
pub const PROMPT: Duration = Duration::from_secs(20);

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Moto,
}

/// Every test runs once per backend: `NAME::memory` and `NAME::moto`. The moto variant needs
/// `STARLING_MOTO_ENDPOINT` and fails without it.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() -> anyhow::Result<()> {
                super::$name($crate::Kind::Memory).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn moto() -> anyhow::Result<()> {
                super::$name($crate::Kind::Moto).await
            }
        }
    )*};
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test (or earlier run) uses: moto keeps state between tests.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let t = chrono_like_millis();
    format!("{prefix}-{}-{t}-{n}", std::process::id())
}

fn chrono_like_millis() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

/// A test config: free port, test secret, generous rate limit, fast redelivery.
pub fn config(kind: Kind) -> anyhow::Result<Config> {
    let mut c = Config { port: 0, jwt_secret: SECRET.into(), ..Config::default() };
    c.action_limits.rate_limit = 10_000;
    c.mapping.max_receive_count = 3;
    match kind {
        Kind::Memory => {
            c.mapping.visibility_timeout = Duration::from_millis(500);
        }
        Kind::Moto => {
            let endpoint = std::env::var("STARLING_MOTO_ENDPOINT").ok().filter(|e| !e.is_empty()).ok_or_else(|| {
                anyhow!(
                    "STARLING_MOTO_ENDPOINT is not set: the moto variant of every e2e test needs a moto server \
                     (pip install 'moto[server]'; moto_server -H 127.0.0.1 -p 5055; \
                     export STARLING_MOTO_ENDPOINT=http://127.0.0.1:5055). It fails rather than skips."
                )
            })?;
            // Longer than any batch takes on moto, so nothing is redelivered by accident.
            c.mapping.visibility_timeout = Duration::from_secs(10);
            c.backend =
                Backend::Aws(AwsBackend { endpoint_url: Some(endpoint), table: unique("e2e"), queue: unique("e2e") });
        }
    }
    Ok(c)
}

/// A visibility timeout for tests that wait for redeliveries (SQS takes whole seconds).
pub fn fast_retry(kind: Kind, moto_secs: u64) -> Duration {
    match kind {
        Kind::Memory => Duration::from_millis(300),
        Kind::Moto => Duration::from_secs(moto_secs),
    }
}

/// Starts a devstack with `config(kind)` changed by `tweak`.
pub async fn start(kind: Kind, tweak: impl FnOnce(&mut Config)) -> anyhow::Result<Handle> {
    let mut c = config(kind)?;
    tweak(&mut c);
    starling_devstack::serve(c).await.context("starting the devstack")
}

pub fn token(user: &str) -> String {
    token_with(SECRET, user, 3600)
}

pub fn token_with(secret: &str, user: &str, ttl_secs: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let exp = now.saturating_add_signed(ttl_secs);
    starling_shared::auth::mint(secret.as_bytes(), user, exp).unwrap_or_default()
}

/// A protocol v1 client.
#[derive(Debug)]
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pending: VecDeque<Value>,
}

/// The outcome of a handshake that should fail.
pub async fn handshake_status(url: &str) -> anyhow::Result<u16> {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => bail!("the handshake to {url} succeeded"),
        Err(tungstenite::Error::Http(resp)) => Ok(resp.status().as_u16()),
        Err(e) => Err(e).context("handshake failed without an HTTP status"),
    }
}

impl Client {
    pub async fn connect(handle: &Handle, user: &str) -> anyhow::Result<Self> {
        Self::connect_url(&format!("{}?token={}", handle.ws_url(), token(user))).await
    }

    pub async fn connect_url(url: &str) -> anyhow::Result<Self> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.with_context(|| format!("connecting to {url}"))?;
        Ok(Self { ws, pending: VecDeque::new() })
    }

    pub async fn send(&mut self, frame: Value) -> anyhow::Result<()> {
        self.ws.send(Message::Text(frame.to_string().into())).await.context("sending a frame")
    }

    pub async fn send_text(&mut self, text: String) -> anyhow::Result<()> {
        self.ws.send(Message::Text(text.into())).await.context("sending a frame")
    }

    async fn read(&mut self, deadline: tokio::time::Instant) -> anyhow::Result<Value> {
        loop {
            let next =
                tokio::time::timeout_at(deadline, self.ws.next()).await.context("timed out waiting for a frame")?;
            match next {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).context("frame is not JSON"),
                Some(Ok(Message::Close(f))) => bail!("connection closed: {f:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => bail!("connection failed: {e}"),
                None => bail!("connection ended"),
            }
        }
    }

    /// The first frame (buffered or new) matching `pred`; others stay buffered in order.
    pub async fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i).context("buffer");
        }
        let deadline = tokio::time::Instant::now() + PROMPT;
        loop {
            let v = self.read(deadline).await?;
            if pred(&v) {
                return Ok(v);
            }
            self.pending.push_back(v);
        }
    }

    /// The next frame of `type`.
    pub async fn wait_type(&mut self, ty: &str) -> anyhow::Result<Value> {
        self.wait_for(|v| v["type"] == ty).await
    }

    /// Sends a frame and returns the next reply (a frame of type `reply` or an error).
    pub async fn request(&mut self, frame: Value, reply: &str) -> anyhow::Result<Value> {
        self.send(frame).await?;
        self.wait_for(|v| v["type"] == reply || v["type"] == "error").await
    }

    pub async fn join(&mut self, room: &str) -> anyhow::Result<()> {
        let r = self.request(json!({"action": "join", "room": room}), "joined").await?;
        anyhow::ensure!(r["type"] == "joined", "join failed: {r}");
        Ok(())
    }

    /// `n` message frames of `room` in arrival order.
    pub async fn messages(&mut self, room: &str, n: usize) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let m = self
                .wait_for(|v| v["type"] == "message" && v["room"] == room)
                .await
                .with_context(|| format!("got {} of {n} messages in {room}", out.len()))?;
            out.push(m);
        }
        Ok(out)
    }

    /// Frames received but not yet taken by `wait_for`, in arrival order.
    pub fn buffered(&self) -> impl Iterator<Item = &Value> {
        self.pending.iter()
    }

    /// Sends `ping` and waits for `pong`: every frame the server sent before it is then buffered.
    pub async fn round_trip(&mut self) -> anyhow::Result<()> {
        let pong = self.request(json!({"action": "ping"}), "pong").await?;
        anyhow::ensure!(pong["type"] == "pong", "ping answered {pong}");
        Ok(())
    }

    /// Waits until `n` message frames of `room` have arrived, leaving them buffered.
    pub async fn peek_messages(&mut self, room: &str, n: usize) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + PROMPT;
        while self.pending.iter().filter(|v| v["type"] == "message" && v["room"] == room).count() < n {
            let v = self.read(deadline).await.with_context(|| format!("waiting for {n} messages in {room}"))?;
            self.pending.push_back(v);
        }
        Ok(())
    }

    /// Waits for the server to close the connection and returns the close code.
    pub async fn closed(&mut self, within: Duration) -> anyhow::Result<u16> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next =
                tokio::time::timeout_at(deadline, self.ws.next()).await.context("timed out waiting for a close")?;
            match next {
                Some(Ok(Message::Close(Some(f)))) => return Ok(u16::from(f.code)),
                Some(Ok(Message::Close(None))) => return Ok(1005),
                Some(Ok(_)) => {}
                Some(Err(e)) => bail!("connection failed before a close frame: {e}"),
                None => bail!("connection ended without a close frame"),
            }
        }
    }

    pub async fn close(mut self) -> anyhow::Result<()> {
        self.ws.close(None).await.context("closing")?;
        // Drain until the server's close reply.
        let _ = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = self.ws.next().await {} })
            .await;
        Ok(())
    }
}

/// Polls `check` until it returns `Some` or the deadline passes.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A minimal HTTP/1.1 request to the devstack: (status, lowercase headers, body).
pub async fn http(handle: &Handle, method: &str, path: &str) -> anyhow::Result<(u16, Vec<(String, String)>, String)> {
    let mut stream = TcpStream::connect(handle.addr()).await?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        handle.addr()
    );
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").context("no header end")?;
    let mut lines = head.lines();
    let status =
        lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).context("status")?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers, body.to_owned()))
}

/// The management API's SDK client side, as the fanout uses it.
pub async fn pusher() -> starling_shared::adapters::apigw::ManagementApiPusher {
    starling_shared::adapters::apigw::ManagementApiPusher::new(starling_devstack::sdk_config(None).await)
}
