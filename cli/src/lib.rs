//! The `starling` command: dev tokens, an interactive chat, one-shot send and history, and a
//! load benchmark. The binary only parses arguments and calls [`run`].

use std::io::Write;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

pub mod bench;
pub mod client;

use client::Session;

/// How long a one-shot command waits for each reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(name = "starling", version, about = "Talk to a Starling deployment or devstack")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct Conn {
    /// WebSocket URL of the API stage.
    #[arg(long, env = "STARLING_URL", default_value = "ws://127.0.0.1:3001/local")]
    pub url: String,
    /// A JWT (see `starling token`).
    #[arg(long, env = "STARLING_TOKEN", hide_env_values = true)]
    pub token: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Mint a dev token for USER (HS256, signed with the dev secret).
    Token {
        user: String,
        #[arg(long, env = "STARLING_JWT_SECRET", default_value = "dev-secret", hide_env_values = true)]
        secret: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 24 * 60 * 60)]
        ttl_secs: u64,
    },
    /// Join ROOM, send typed lines, print incoming messages with seq and sender.
    Chat {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        room: String,
    },
    /// Join ROOM, send one message and wait until it is delivered back.
    Send {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        room: String,
        /// Deduplication key: a repeat within 24 h is delivered once.
        #[arg(long)]
        client_msg_id: Option<String>,
        /// Return on `accepted`, without waiting for the delivery.
        #[arg(long)]
        no_wait: bool,
        body: String,
    },
    /// Print a page of ROOM's history, oldest first.
    History {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        room: String,
        /// Only messages with a seq below this.
        #[arg(long)]
        before: Option<u64>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Load test: N clients in one room on a local devstack; reports latency and throughput.
    Bench(bench::BenchArgs),
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("the server refused the connection with HTTP {status}{}", refused_hint(*.status, .body))]
    Refused { status: u16, body: String },
    #[error("cannot connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the connection dropped{}: {reason}", .code.map(|c| format!(" (close code {c})")).unwrap_or_default())]
    Dropped { code: Option<u16>, reason: String },
    #[error("the server answered {code}: {message}")]
    Server { code: String, message: String },
    #[error("no reply from the server in time")]
    Timeout,
    #[error("the server sent a frame that is not protocol JSON: {0}")]
    BadFrame(String),
    #[error("cannot mint a token")]
    Token(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}")]
    Usage(String),
    #[error("output failed")]
    Io(#[from] std::io::Error),
}

fn refused_hint(status: u16, body: &str) -> String {
    let hint = match status {
        401 => {
            " (the token is missing, expired or not signed with the server's secret; mint one with `starling token USER`)"
        }
        403 => " (the authorizer denied access)",
        _ => "",
    };
    if body.is_empty() { hint.to_owned() } else { format!("{hint}: {body}") }
}

/// Mints a token for `user` valid for `ttl_secs`.
pub fn mint_token(secret: &str, user: &str, ttl_secs: u64) -> Result<String, CliError> {
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
    starling_shared::auth::mint(secret.as_bytes(), user, now + ttl_secs).map_err(|e| CliError::Token(Box::new(e)))
}

/// Runs one command, writing what it prints to `out`.
pub async fn run(cli: Cli, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    match cli.command {
        Command::Token { user, secret, ttl_secs } => {
            if user.is_empty() {
                return Err(CliError::Usage("USER must not be empty".into()));
            }
            writeln!(out, "{}", mint_token(&secret, &user, ttl_secs)?)?;
            Ok(())
        }
        Command::Send { conn, room, client_msg_id, no_wait, body } => {
            send(&conn, &room, client_msg_id, no_wait, &body, out).await
        }
        Command::History { conn, room, before, limit } => history(&conn, &room, before, limit, out).await,
        Command::Chat { conn, room } => chat(&conn, &room, out).await,
        Command::Bench(args) => bench::run(args, out).await,
    }
}

async fn join(session: &mut Session, room: &str) -> Result<u64, CliError> {
    let joined = session.request(&json!({"action": "join", "room": room}), "joined", REPLY_TIMEOUT).await?;
    Ok(joined.get("lastSeq").and_then(Value::as_u64).unwrap_or(0))
}

fn default_client_msg_id() -> String {
    format!("cli-{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

async fn send(
    conn: &Conn,
    room: &str,
    client_msg_id: Option<String>,
    no_wait: bool,
    body: &str,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let mut session = Session::open(&conn.url, &conn.token).await?;
    join(&mut session, room).await?;
    let cmid = client_msg_id.unwrap_or_else(default_client_msg_id);
    let frame = json!({"action": "send", "room": room, "body": body, "clientMsgId": cmid});
    let accepted = session.request(&frame, "accepted", REPLY_TIMEOUT).await?;
    let id = accepted.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    if no_wait {
        writeln!(out, "accepted in {room} (id {id})")?;
    } else {
        let msg = session
            .wait_for(REPLY_TIMEOUT, |v| {
                v.get("type").and_then(Value::as_str) == Some("message")
                    && v.get("room").and_then(Value::as_str) == Some(room)
                    && v.get("clientMsgId").and_then(Value::as_str) == Some(cmid.as_str())
            })
            .await?;
        let seq = msg.get("seq").and_then(Value::as_u64).unwrap_or_default();
        writeln!(out, "sent to {room} as #{seq} (id {})", msg.get("id").and_then(Value::as_str).unwrap_or(&id))?;
    }
    session.close().await;
    Ok(())
}

/// `#42 2026-11-22T21:00:00.000Z alice: hi`
pub fn format_message(m: &Value) -> String {
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default();
    format!(
        "#{} {} {}: {}",
        m.get("seq").and_then(Value::as_u64).unwrap_or_default(),
        s("sentAt"),
        s("from"),
        s("body")
    )
}

async fn history(
    conn: &Conn,
    room: &str,
    before: Option<u64>,
    limit: u32,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let mut session = Session::open(&conn.url, &conn.token).await?;
    join(&mut session, room).await?;
    let mut frame = json!({"action": "history", "room": room, "limit": limit});
    if let (Some(b), Some(obj)) = (before, frame.as_object_mut()) {
        obj.insert("before".into(), json!(b));
    }
    let page = session.request(&frame, "history", REPLY_TIMEOUT).await?;
    let messages = page.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
    if messages.is_empty() {
        writeln!(out, "(no messages in {room})")?;
    }
    for m in &messages {
        writeln!(out, "{}", format_message(m))?;
    }
    if page.get("hasMore").and_then(Value::as_bool) == Some(true)
        && let Some(first) = messages.first().and_then(|m| m.get("seq")).and_then(Value::as_u64)
    {
        writeln!(out, "(older messages: --before {first})")?;
    }
    session.close().await;
    Ok(())
}

async fn chat(conn: &Conn, room: &str, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    use tokio::io::AsyncBufReadExt;

    let mut session = Session::open(&conn.url, &conn.token).await?;
    let last = join(&mut session, room).await?;
    writeln!(out, "joined {room} (last seq {last}); type a line to send it, Ctrl-D to leave")?;
    out.flush()?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut seen = std::collections::BTreeSet::new();
    let mut n = 0u64;
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => {
                    n += 1;
                    let frame = json!({"action": "send", "room": room, "body": line, "clientMsgId": format!("{}-{n}", default_client_msg_id())});
                    session.send(&frame).await?;
                }
                None => break,
            },
            frame = session.next(Duration::from_secs(24 * 60 * 60)) => {
                let v = match frame {
                    Ok(v) => v,
                    Err(CliError::Timeout) => continue,
                    Err(e) => return Err(e),
                };
                match v.get("type").and_then(Value::as_str) {
                    // A client drops a seq it has already seen (at-least-once delivery).
                    Some("message") => {
                        let seq = v.get("seq").and_then(Value::as_u64).unwrap_or_default();
                        if seen.insert(seq) {
                            writeln!(out, "{}", format_message(&v))?;
                        }
                    }
                    Some("accepted") => {}
                    Some("error") => writeln!(out, "! {}: {}", v.get("code").and_then(Value::as_str).unwrap_or("?"), v.get("message").and_then(Value::as_str).unwrap_or(""))?,
                    _ => writeln!(out, "{v}")?,
                }
                out.flush()?;
            }
        }
    }
    session.close().await;
    Ok(())
}
