//! Helpers for the end-to-end tests: a devstack per test on a free port, on the in-memory
//! backend or on moto, and `starling_client` clients for it with what the tests add on top.

pub mod asyncapi;
pub mod chaos;
pub mod lambda;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use starling_client::{Client, ClientError, ErrorFrame, Message, Request, RoomId, ServerFrame, answers};
use starling_devstack::{AwsBackend, Backend, Config, Handle};

/// The JWT secret of every test devstack.
pub const SECRET: &str = "e2e-secret";
/// How long a test waits for something that should happen promptly.
pub const PROMPT: Duration = Duration::from_secs(20);

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The in-memory store and queue.
    Memory,
    /// DynamoDB and SQS on the moto server at `STARLING_MOTO_ENDPOINT`.
    Moto,
    /// The real bootstraps under emulators, on moto enforcing IAM (see [`lambda`]).
    Lambda,
}

/// Every test runs once per backend: `NAME::memory` and `NAME::moto`. The moto variant needs
/// `STARLING_MOTO_ENDPOINT` and fails without it.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            $crate::variant!(memory, $name, Memory);
            $crate::variant!(moto, $name, Moto);
        }
    )*};
}

/// [`on_both_backends`], and a third variant, `NAME::bootstraps`, through the real bootstraps (see
/// [`lambda`]): for the tests that only need what the gateway and the functions do.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            $crate::variant!(memory, $name, Memory);
            $crate::variant!(moto, $name, Moto);
            $crate::variant!(bootstraps, $name, Lambda);
        }
    )*};
}

/// One backend's test of `NAME`; the Lambda ones take their turn (see [`lambda::turn`]).
#[doc(hidden)]
#[macro_export]
macro_rules! variant {
    ($variant:ident, $name:ident, $kind:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $variant() -> anyhow::Result<()> {
            let _turn = match $crate::Kind::$kind {
                $crate::Kind::Lambda => Some($crate::lambda::turn().await),
                _ => None,
            };
            super::$name($crate::Kind::$kind).await
        }
    };
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
            let endpoint = moto_endpoint()?;
            // Longer than any batch takes on moto, so nothing is redelivered by accident.
            c.mapping.visibility_timeout = Duration::from_secs(10);
            c.backend = Backend::Aws(AwsBackend {
                endpoint_url: Some(endpoint),
                table: unique("e2e"),
                queue: unique("e2e"),
                export_stream: None,
            });
        }
        Kind::Lambda => lambda::configure(&mut c)?,
    }
    Ok(c)
}

/// The moto server for the next devstack: turn by turn over `STARLING_MOTO_ENDPOINTS` (a comma
/// list; scripts/moto.sh starts two, as one moto server answers on one core), else
/// `STARLING_MOTO_ENDPOINT`.
fn moto_endpoint() -> anyhow::Result<String> {
    let var = |name| std::env::var(name).ok().filter(|e: &String| !e.is_empty());
    let list = var("STARLING_MOTO_ENDPOINTS").or_else(|| var("STARLING_MOTO_ENDPOINT")).ok_or_else(|| {
        anyhow!(
            "STARLING_MOTO_ENDPOINT is not set: the moto variant of every e2e test needs a moto server \
             (pip install 'moto[server]'; moto_server -H 127.0.0.1 -p 5055; \
             export STARLING_MOTO_ENDPOINT=http://127.0.0.1:5055). It fails rather than skips."
        )
    })?;
    let endpoints: Vec<&str> = list.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
    let turn = COUNTER.fetch_add(1, Ordering::SeqCst) as usize;
    endpoints
        .get(turn % endpoints.len().max(1))
        .map(|e| (*e).to_owned())
        .context("STARLING_MOTO_ENDPOINTS lists no endpoint")
}

/// A visibility timeout for tests that wait for redeliveries (SQS takes whole seconds).
pub fn fast_retry(kind: Kind, moto_secs: u64) -> Duration {
    match kind {
        Kind::Memory => Duration::from_millis(300),
        Kind::Moto | Kind::Lambda => Duration::from_secs(moto_secs),
    }
}

/// Starts a devstack with `config(kind)` changed by `tweak`.
pub async fn start(kind: Kind, tweak: impl FnOnce(&mut Config)) -> anyhow::Result<Handle> {
    log_to_file();
    let mut c = config(kind)?;
    let before = c.clone();
    tweak(&mut c);
    if kind == Kind::Lambda {
        lambda::check_tweak(&before, &c)?;
        lambda::fresh_start(&c).await?;
    }
    starling_devstack::serve(c).await.context("starting the devstack")
}

/// With `STARLING_E2E_LOG=FILE`, every devstack of the test binary logs to FILE (filtered by
/// `RUST_LOG`, `info` by default): a failing chaos run on a loaded CI machine is diagnosed from
/// the warnings its devstack logged, as it cannot be replayed by its seed alone.
fn log_to_file() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Some(path) = std::env::var_os("STARLING_E2E_LOG") else { return };
        let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) else {
            eprintln!("STARLING_E2E_LOG: cannot open {}", path.to_string_lossy());
            return;
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .try_init();
    });
}

/// A token for `user`, signed with [`SECRET`], valid for an hour.
pub fn token(user: &str) -> String {
    token_with(SECRET, user, 3600)
}

/// A token for `user` signed with `secret`, expiring in `ttl_secs` (negative: already expired).
pub fn token_with(secret: &str, user: &str, ttl_secs: i64) -> String {
    starling_shared::auth::mint_for(secret.as_bytes(), user, ttl_secs).unwrap_or_default()
}

/// A client of `stack` signed in as `user`, waiting up to [`PROMPT`] for each frame.
pub async fn connect(stack: &Handle, user: &str) -> anyhow::Result<Client> {
    let mut client = Client::connect(&stack.ws_url(), &token(user)).await?;
    client.set_timeout(PROMPT);
    Ok(client)
}

/// A client of `stack` signed in as `user` and joined to `room_name`.
pub async fn joined(stack: &Handle, user: &str, room_name: &str) -> anyhow::Result<Client> {
    let mut client = connect(stack, user).await?;
    client.join(&room(room_name)).await?;
    Ok(client)
}

/// The HTTP status of a handshake to `url` that should be refused.
pub async fn handshake_status(url: &str) -> anyhow::Result<u16> {
    match Client::connect_url(url).await {
        Ok(_) => bail!("the handshake to {url} succeeded"),
        Err(ClientError::Refused { status, .. }) => Ok(status),
        Err(e) => Err(e).context("handshake failed without an HTTP status"),
    }
}

/// `name` as a room; the tests only name valid rooms, so an invalid one is a bug in the test.
pub fn room(name: &str) -> RoomId {
    RoomId::parse(name).unwrap_or_else(|e| panic!("test room {name:?}: {e}"))
}

/// A `send` of `body` to `room`.
pub fn send_request(room_name: &str, body: impl Into<String>, client_msg_id: Option<&str>) -> Request {
    Request::Send {
        room: room(room_name),
        body: body.into(),
        client_msg_id: client_msg_id.map(str::to_owned),
        welcome: None,
    }
}

/// The error frame `result` was refused with; success or any other failure is an error.
pub fn refusal(result: Result<ServerFrame, ClientError>) -> anyhow::Result<ErrorFrame> {
    match result {
        Err(ClientError::Server(e)) => Ok(*e),
        Err(e) => Err(e).context("expected a refusal"),
        Ok(frame) => bail!("expected a refusal, got {}", frame.to_json()),
    }
}

fn is_message_in(frame: &ServerFrame, room: &str) -> bool {
    matches!(frame, ServerFrame::Message(m) if m.room == room)
}

/// What the tests do with a [`Client`] beyond the protocol: batches and counting deliveries.
#[expect(async_fn_in_trait, reason = "only the tests call these, and never across tasks")]
pub trait ClientExt {
    /// Sends every request before waiting for any reply, then fails if any was refused.
    async fn send_all(&mut self, requests: &[Request]) -> anyhow::Result<()>;
    /// The next `n` messages of `room`, in arrival order.
    async fn messages(&mut self, room: &str, n: usize) -> anyhow::Result<Vec<Message>>;
    /// Waits until `n` messages of `room` are buffered, leaving them there.
    async fn peek_messages(&mut self, room: &str, n: usize) -> anyhow::Result<()>;
}

impl ClientExt for Client {
    async fn send_all(&mut self, requests: &[Request]) -> anyhow::Result<()> {
        for r in requests {
            self.send(r).await?;
        }
        for r in requests {
            if let ServerFrame::Error(e) = self.wait_for(|f| answers(r, f)).await? {
                bail!("send refused: {}", ServerFrame::Error(e).to_json());
            }
        }
        Ok(())
    }

    async fn messages(&mut self, room: &str, n: usize) -> anyhow::Result<Vec<Message>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let frame = self
                .wait_for(|f| is_message_in(f, room))
                .await
                .with_context(|| format!("got {} of {n} messages in {room}", out.len()))?;
            if let ServerFrame::Message(m) = frame {
                out.push(m);
            }
        }
        Ok(out)
    }

    async fn peek_messages(&mut self, room: &str, n: usize) -> anyhow::Result<()> {
        while self.buffered().filter(|f| is_message_in(f, room)).count() < n {
            self.read_ahead().await.with_context(|| format!("waiting for {n} messages in {room}"))?;
        }
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

/// One HTTP request to the devstack: (status, headers with lowercase names, body).
pub async fn http(handle: &Handle, method: &str, path: &str) -> anyhow::Result<(u16, Vec<(String, String)>, String)> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).with_context(|| format!("HTTP method {method}"))?;
    let url = format!("http://{}{path}", handle.addr());
    send(reqwest::Client::new().request(method, &url)).await.with_context(|| url)
}

/// Sends a request built by the caller: (status, headers with lowercase names, body).
pub async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<(u16, Vec<(String, String)>, String)> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    Ok((status, headers, response.text().await?))
}

/// The management API's SDK client side, as the fanout uses it.
pub async fn pusher() -> starling_shared::adapters::apigw::ManagementApiPusher {
    starling_shared::adapters::apigw::ManagementApiPusher::new(starling_devstack::sdk_config(None).await)
}
