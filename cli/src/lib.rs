//! The `starling` command: dev tokens, an interactive chat, one-shot send, history and room
//! stats, and a load benchmark. The binary only parses arguments and calls [`run`].

use std::io::Write;

use clap::{Args, Parser, Subcommand};
use starling_client::{Client, ClientError, Inbox, Message, Request, RoomId, ServerFrame};

pub mod bench;
pub mod e2e;
mod stats;

pub use stats::format_stats;

/// How long a one-shot command waits for each reply.
const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "starling", version, about = "Talk to a Starling deployment or devstack")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where to connect and as whom.
#[derive(Debug, Args, Clone)]
pub struct Conn {
    /// WebSocket URL of the API stage.
    #[arg(long, env = "STARLING_URL", default_value = "ws://127.0.0.1:3001/local")]
    pub url: String,
    /// A JWT (see `starling token`).
    #[arg(long, env = "STARLING_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Mint a dev token for USER (HS256, signed with the dev secret).
    Token {
        /// The user the token names.
        user: String,
        /// Secret to sign with: the server's JWT secret.
        #[arg(long, env = "STARLING_JWT_SECRET", default_value = "dev-secret", hide_env_values = true)]
        secret: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 24 * 60 * 60)]
        ttl_secs: u64,
    },
    /// Join ROOM, send typed lines, print incoming messages with seq and sender, each seq once
    /// and in order; after a lost connection it reconnects and syncs what it missed. With
    /// `--e2e`, an end-to-end encrypted room (`e2e:...`): `starling chat --e2e --device NAME
    /// e2e:team`, then /add, /remove, /members (docs/e2e.md).
    Chat {
        /// Where to connect and as whom.
        #[command(flatten)]
        conn: Conn,
        /// Room name: letters, digits and _ . : -, or dm:USER:USER for a direct message.
        #[arg(long = "room", value_parser = RoomId::parse)]
        room: Option<RoomId>,
        /// The room, as an argument instead of --room.
        #[arg(value_parser = RoomId::parse, conflicts_with = "room", value_name = "ROOM")]
        room_arg: Option<RoomId>,
        /// The last seq you have seen: the messages after it are synced and printed first.
        /// Without it, the chat starts at the room's current last seq. Not with --e2e, where
        /// the device's state says what it has processed.
        #[arg(long, conflicts_with = "e2e")]
        since: Option<u64>,
        /// The encrypted chat's options.
        #[command(flatten)]
        e2e: e2e::E2eArgs,
    },
    /// Join ROOM, send one message and wait until it is delivered back.
    Send {
        /// Where to connect and as whom.
        #[command(flatten)]
        conn: Conn,
        /// Room name: letters, digits and _ . : -, or dm:USER:USER for a direct message.
        #[arg(long, value_parser = RoomId::parse)]
        room: RoomId,
        /// Deduplication key: a repeat within 24 h is delivered once.
        #[arg(long)]
        client_msg_id: Option<String>,
        /// Return on `accepted`, without waiting for the delivery.
        #[arg(long)]
        no_wait: bool,
        /// The message.
        body: String,
    },
    /// Print a page of ROOM's history, oldest first.
    History {
        /// Where to connect and as whom.
        #[command(flatten)]
        conn: Conn,
        /// Room name: letters, digits and _ . : -, or dm:USER:USER for a direct message.
        #[arg(long, value_parser = RoomId::parse)]
        room: RoomId,
        /// Only messages with a seq below this.
        #[arg(long)]
        before: Option<u64>,
        /// How many messages at most (1 to 100).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Print ROOM's activity per minute (messages, senders, deliveries) and the totals; you must
    /// be a member (docs/analytics.md).
    Stats {
        /// Where to connect and as whom.
        #[command(flatten)]
        conn: Conn,
        /// Room name: letters, digits and _ . : -, or dm:USER:USER for a direct message.
        #[arg(long, value_parser = RoomId::parse)]
        room: RoomId,
        /// How many minutes back, the current one included (1 to 1440).
        #[arg(long, default_value_t = 60)]
        minutes: u32,
    },
    /// Load test: N clients in one room on a local devstack; reports latency and throughput.
    Bench(bench::BenchArgs),
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Talking to the server failed; the client's error says what to do.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server refused the token (HTTP 401); the CLI can mint one. Not a `source`: the
    /// client's message is already in this one's.
    #[error("{0}; for a devstack, mint one with `starling token USER`")]
    BadToken(ClientError),
    /// A dev token could not be minted.
    #[error("cannot mint a token")]
    Token(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The arguments make no sense together.
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed.
    #[error("output failed")]
    Io(#[from] std::io::Error),
    /// The encrypted chat failed: its keys or state, or MLS itself.
    #[error(transparent)]
    E2e(#[from] e2e::E2eError),
}

/// Mints a token for `user` valid for `ttl_secs`.
pub fn mint_token(secret: &str, user: &str, ttl_secs: u64) -> Result<String, CliError> {
    let ttl_secs = i64::try_from(ttl_secs).unwrap_or(i64::MAX);
    starling_shared::auth::mint_for(secret.as_bytes(), user, ttl_secs).map_err(|e| CliError::Token(Box::new(e)))
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
            send(&conn, room, client_msg_id, no_wait, body, out).await
        }
        Command::History { conn, room, before, limit } => history(&conn, room, before, limit, out).await,
        Command::Chat { conn, room, room_arg, since, e2e } => {
            let room = room.or(room_arg).ok_or_else(|| CliError::Usage("name a room: ROOM or --room ROOM".into()))?;
            if e2e.e2e { e2e::chat::chat(&conn, room, &e2e, out).await } else { chat(&conn, &room, since, out).await }
        }
        Command::Stats { conn, room, minutes } => stats::stats(&conn, room, minutes, out).await,
        Command::Bench(args) => bench::run(args, out).await,
    }
}

/// Connects and joins `room`, returning the room's last seq.
async fn open(conn: &Conn, room: &RoomId) -> Result<(Client, u64), CliError> {
    let mut client = Client::connect(&conn.url, &conn.token).await.map_err(|e| match e {
        ClientError::Refused { status: 401, .. } => CliError::BadToken(e),
        e => e.into(),
    })?;
    client.set_timeout(REPLY_TIMEOUT);
    let last_seq = client.join(room).await?;
    Ok((client, last_seq))
}

fn default_client_msg_id() -> String {
    format!("cli-{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

async fn send(
    conn: &Conn,
    room: RoomId,
    client_msg_id: Option<String>,
    no_wait: bool,
    body: String,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let (mut client, _) = open(conn, &room).await?;
    let cmid = client_msg_id.unwrap_or_else(default_client_msg_id);
    let request = Request::Send { room: room.clone(), body, client_msg_id: Some(cmid.clone()), welcome: None };
    let accepted = client.request(&request).await?;
    let ServerFrame::Accepted { id, .. } = accepted else {
        return Err(ClientError::Unexpected(Box::new(accepted)).into());
    };
    if no_wait {
        writeln!(out, "accepted in {room} (id {id})")?;
    } else {
        let delivered = client
            .wait_for(|f| {
                matches!(f, ServerFrame::Message(m)
                    if m.room == room.as_str() && m.client_msg_id.as_deref() == Some(cmid.as_str()))
            })
            .await?;
        if let ServerFrame::Message(m) = delivered {
            writeln!(out, "sent to {room} as #{} (id {})", m.seq, m.id)?;
        }
    }
    client.close().await?;
    Ok(())
}

/// `#42 2026-11-22T21:00:00.000Z alice: hi`
pub fn format_message(m: &Message) -> String {
    format!("#{} {} {}: {}", m.seq, m.sent_at, m.from, m.body)
}

async fn history(
    conn: &Conn,
    room: RoomId,
    before: Option<u64>,
    limit: u32,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let (mut client, _) = open(conn, &room).await?;
    let page = client.request(&Request::History { room: room.clone(), before, limit }).await?;
    let ServerFrame::History { messages, has_more, .. } = page else {
        return Err(ClientError::Unexpected(Box::new(page)).into());
    };
    if messages.is_empty() {
        writeln!(out, "(no messages in {room})")?;
    }
    for m in &messages {
        writeln!(out, "{}", format_message(m))?;
    }
    if has_more && let Some(first) = messages.first() {
        writeln!(out, "(older messages: --before {})", first.seq)?;
    }
    client.close().await?;
    Ok(())
}

/// Reconnects after a lost connection this many times in a row before giving up.
const RECONNECTS: u32 = 5;

/// The chat: every frame goes through the sync procedure's [`Inbox`], so live and synced messages
/// print once each, in seq order, however they interleave.
async fn chat(conn: &Conn, room: &RoomId, since: Option<u64>, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    use tokio::io::AsyncBufReadExt;

    let (mut client, last) = open(conn, room).await?;
    let mut inbox = Inbox::new();
    inbox.track(room, since.unwrap_or(last));
    if since.is_some()
        && let Some(sync) = inbox.sync_request()
    {
        client.send(&sync).await?;
    }
    writeln!(out, "joined {room} (last seq {last}); type a line to send it, Ctrl-D to leave")?;
    out.flush()?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut n = 0u64;
    let mut failures = 0;
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) if line.trim().is_empty() => {}
                Some(body) => {
                    n += 1;
                    let client_msg_id = Some(format!("{}-{n}", default_client_msg_id()));
                    client.send(&Request::Send { room: room.clone(), body, client_msg_id, welcome: None }).await?;
                }
                None => break,
            },
            frame = client.recv() => match frame {
                Ok(frame) => {
                    failures = 0;
                    if let Some(follow_up) = chat_frame(&mut inbox, &frame, out)? {
                        client.send(&follow_up).await?;
                    }
                }
                // Quiet rooms are normal, and one bad frame does not end the session.
                Err(ClientError::Timeout { .. }) => continue,
                Err(e @ ClientError::Malformed { .. }) => writeln!(out, "! {e}")?,
                Err(e @ (ClientError::Closed(_) | ClientError::Transport(_))) if failures < RECONNECTS => {
                    failures += 1;
                    writeln!(out, "! {e}; reconnecting")?;
                    client = reconnect(conn, room, &mut inbox).await?;
                }
                Err(e) => return Err(e.into()),
            },
        }
        out.flush()?;
    }
    client.close().await?;
    Ok(())
}

/// Prints what one frame delivers; returns the `sync` to send next, if any.
fn chat_frame(
    inbox: &mut Inbox,
    frame: &ServerFrame,
    out: &mut (dyn Write + Send),
) -> Result<Option<Request>, CliError> {
    let step = inbox.on_frame(frame);
    for m in &step.deliver {
        writeln!(out, "{}", format_message(m))?;
    }
    match frame {
        ServerFrame::Message(_) | ServerFrame::SyncPage { .. } | ServerFrame::Accepted { .. } => {}
        ServerFrame::Synced { recovered: false, room, .. } => {
            writeln!(out, "(older messages of {room} are past retention)")?;
        }
        ServerFrame::Synced { .. } => {}
        ServerFrame::Error(e) => writeln!(out, "! {}: {}", e.code.as_str(), e.message)?,
        other => writeln!(out, "{}", other.to_json())?,
    }
    Ok(step.follow_up)
}

/// A new connection, joined, with a sync from what the inbox holds.
async fn reconnect(conn: &Conn, room: &RoomId, inbox: &mut Inbox) -> Result<Client, CliError> {
    let (mut client, _) = open(conn, room).await?;
    if let Some(sync) = inbox.sync_request() {
        client.send(&sync).await?;
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u64) -> Message {
        Message {
            room: "lobby".into(),
            seq,
            id: format!("id-{seq}"),
            from: "bob".into(),
            body: format!("m{seq}"),
            sent_at: "t".into(),
            client_msg_id: None,
        }
    }

    #[test]
    fn chat_prints_a_live_message_that_overtook_the_sync_after_the_synced_ones_once_each() {
        let room = RoomId::parse("lobby").unwrap();
        let mut inbox = Inbox::new();
        inbox.track(&room, 2);
        let sync = inbox.sync_request().unwrap();
        assert_eq!(sync, Request::Sync { rooms: vec![(room, Some(2))], pages: true });
        let frames = [
            ServerFrame::Message(msg(6)),
            ServerFrame::SyncPage { room: "lobby".into(), messages: vec![msg(3), msg(4)] },
            ServerFrame::Message(msg(4)),
            ServerFrame::SyncPage { room: "lobby".into(), messages: vec![msg(5), msg(6)] },
            ServerFrame::Synced { room: "lobby".into(), recovered: true, last_seq: 5, has_more: false },
            ServerFrame::Message(msg(7)),
        ];
        let mut out = Vec::new();
        for frame in &frames {
            assert_eq!(chat_frame(&mut inbox, frame, &mut out).unwrap(), None, "no gap is left to sync");
        }
        let printed: Vec<String> = String::from_utf8(out).unwrap().lines().map(str::to_owned).collect();
        let expected: Vec<String> = (3..=7).map(|s| format_message(&msg(s))).collect();
        assert_eq!(printed, expected);
    }

    #[test]
    fn chat_asks_for_the_rest_when_synced_says_has_more() {
        let room = RoomId::parse("lobby").unwrap();
        let mut inbox = Inbox::new();
        inbox.track(&room, 0);
        inbox.sync_request();
        let mut out = Vec::new();
        let page = ServerFrame::SyncPage { room: "lobby".into(), messages: vec![msg(1), msg(2)] };
        assert_eq!(chat_frame(&mut inbox, &page, &mut out).unwrap(), None);
        let synced = ServerFrame::Synced { room: "lobby".into(), recovered: true, last_seq: 2, has_more: true };
        let next = chat_frame(&mut inbox, &synced, &mut out).unwrap();
        assert_eq!(next, Some(Request::Sync { rooms: vec![(room, Some(2))], pages: true }));
    }
}
