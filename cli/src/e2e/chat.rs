//! `starling chat --e2e`: the I/O around a [`Session`]: one WebSocket connection (re-opened
//! when lost), the lines the user types, and the events shown.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use starling_client::{Client, ClientError, RoomId};
use tokio::sync::mpsc;

use super::session::Output;
use super::{Device, Event, Session};
use crate::{CliError, Conn};

/// How long the loop waits for a frame before it pings: only client frames reset API
/// Gateway's 10-minute idle timeout (docs/protocol.md, `ping`).
const IDLE: Duration = Duration::from_secs(60);
/// Reconnects after a lost connection this many times in a row before giving up.
const RECONNECTS: u32 = 5;

/// The options of an encrypted chat.
#[derive(Debug, Args, Clone, Default)]
pub struct E2eArgs {
    /// End-to-end encrypted (MLS, docs/e2e.md): the room must start with `e2e:`.
    #[arg(long)]
    pub e2e: bool,
    /// This device's id (1 to 64 of A-Z a-z 0-9 _ . -), kept in the state directory; a new
    /// device without one gets a random id.
    #[arg(long, requires = "e2e")]
    pub device: Option<String>,
    /// The directory of this device's keys and group states (one device per directory).
    /// Default: $XDG_DATA_HOME/starling/e2e/USER, else ~/.local/share/starling/e2e/USER.
    #[arg(long, env = "STARLING_STATE")]
    pub state: Option<PathBuf>,
    /// Your user id as the server knows it. Default: the token's `sub` claim (set it when the
    /// deployment names users by another claim).
    #[arg(long, requires = "e2e")]
    pub user: Option<String>,
}

/// The interactive encrypted chat on stdin and `out`.
pub async fn chat(conn: &Conn, room: RoomId, args: &E2eArgs, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    use tokio::io::AsyncBufReadExt;

    let device = open_device(&conn.token, args)?;
    writeln!(out, "device {} ({})", device.identity(), device.dir().display())?;
    let (tx, rx) = mpsc::channel(16);
    let reader = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).await.is_err() {
                break;
            }
        }
    });
    let result = run(conn, device, room, rx, &mut |e: &Event| {
        writeln!(out, "{e}")?;
        out.flush()
    })
    .await;
    reader.abort();
    result
}

/// The device of `args` (or the default state directory of the token's user).
pub fn open_device(token: &str, args: &E2eArgs) -> Result<Device, CliError> {
    let user = match &args.user {
        Some(u) => u.clone(),
        None => {
            token_user(token).ok_or_else(|| CliError::Usage("the token names no user (sub); pass --user".into()))?
        }
    };
    let dir = match &args.state {
        Some(dir) => dir.clone(),
        None => default_state(&user)?,
    };
    Ok(Device::open(&dir, &user, args.device.as_deref())?)
}

/// `$XDG_DATA_HOME/starling/e2e/{user}`, else `~/.local/share/starling/e2e/{user}`.
fn default_state(user: &str) -> Result<PathBuf, CliError> {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").ok_or_else(|| CliError::Usage("no HOME: pass --state DIR".into()))?;
            PathBuf::from(home).join(".local").join("share")
        }
    };
    Ok(base.join("starling").join("e2e").join(user))
}

/// The `sub` claim of a JWT, read without verifying it (the server verifies; this only names
/// the local state).
pub fn token_user(token: &str) -> Option<String> {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// Runs the session of `device` in `room` until `lines` ends or says `/quit`, reporting every
/// event to `emit`. The tests run this with channels; the terminal with stdin.
pub async fn run(
    conn: &Conn,
    device: Device,
    room: RoomId,
    mut lines: mpsc::Receiver<String>,
    emit: &mut (dyn FnMut(&Event) -> std::io::Result<()> + Send),
) -> Result<(), CliError> {
    if !room.as_str().starts_with("e2e:") {
        return Err(CliError::Usage(format!("{room} is not an encrypted room: its name must start with e2e:")));
    }
    let mut client = connect(conn).await?;
    let mut session = Session::new(device, room);
    dispatch(&mut client, session.start(), emit).await?;
    let mut failures = 0;
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) if line.trim() == "/quit" => break,
                Some(line) => dispatch(&mut client, session.on_line(&line), emit).await?,
                None => break,
            },
            frame = client.recv() => match frame {
                Ok(frame) => {
                    failures = 0;
                    dispatch(&mut client, session.on_frame(&frame), emit).await?;
                }
                Err(ClientError::Timeout { .. }) => client.send(&starling_client::Request::Ping).await?,
                Err(e @ ClientError::Malformed { .. }) => emit(&Event::Warning(e.to_string()))?,
                Err(e @ (ClientError::Closed(_) | ClientError::Transport(_))) if failures < RECONNECTS => {
                    failures += 1;
                    emit(&Event::Warning(format!("{e}; reconnecting")))?;
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(failures))).await;
                    client = connect(conn).await?;
                    dispatch(&mut client, session.reconnected(), emit).await?;
                }
                Err(e) => return Err(e.into()),
            },
        }
    }
    client.close().await?;
    Ok(())
}

async fn connect(conn: &Conn) -> Result<Client, CliError> {
    let mut client = Client::connect(&conn.url, &conn.token).await.map_err(|e| match e {
        ClientError::Refused { status: 401, .. } => CliError::BadToken(e),
        e => e.into(),
    })?;
    client.set_timeout(IDLE);
    Ok(client)
}

async fn dispatch(
    client: &mut Client,
    outputs: Vec<Output>,
    emit: &mut (dyn FnMut(&Event) -> std::io::Result<()> + Send),
) -> Result<(), CliError> {
    for output in outputs {
        match output {
            Output::Send(request) => client.send(&request).await?,
            Output::Event(event) => emit(&event)?,
        }
    }
    Ok(())
}
