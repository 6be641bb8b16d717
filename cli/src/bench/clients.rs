//! The bench's clients: each connects as a user of this run's own and joins the room, and
//! leaves it again before closing.

use std::time::Duration;

use futures::StreamExt;
use indicatif::ProgressBar;
use starling_client::{Client, Request, RoomId};

use super::BenchArgs;
use crate::{CliError, mint_token};

/// How long each client may take to connect and join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How many clients connect at once.
const CONNECT_CONCURRENCY: usize = 32;

/// Connects every client and joins it to `room`, a few at a time. The users are this run's own
/// (`bench-<run>-<i>`): membership outlives connections, and a user is announced to every room
/// it is a member of, so users shared with an earlier run would carry that run's presence
/// announcements (still queued after an overload) into this run's room.
pub(super) async fn connect_all(
    args: &BenchArgs,
    run_id: i64,
    room: &RoomId,
    bar: &ProgressBar,
) -> Result<Vec<Client>, CliError> {
    let mut clients = Vec::with_capacity(args.clients);
    let mut pending = futures::stream::iter(0..args.clients)
        .map(|i| async move {
            let token = mint_token(&args.secret, &format!("bench-{run_id}-{i}"), 3600)?;
            let mut client = Client::connect(&args.url, &token).await?;
            client.set_timeout(JOIN_TIMEOUT);
            client.join(room).await?;
            client.set_timeout(Duration::from_secs(args.timeout_secs));
            Ok::<_, CliError>(client)
        })
        .buffer_unordered(CONNECT_CONCURRENCY);
    while let Some(client) = pending.next().await {
        clients.push(client?);
        bar.inc(1);
    }
    Ok(clients)
}

/// How long a client waits for `left` before closing anyway.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Leaves the room, then closes. Without the leave each close announces the user offline to
/// the clients still in the room: about N²/2 posts after the figures are taken, which the next
/// run would find still queued. Failures are ignored: the figures are already in.
pub(super) async fn leave_and_close(mut client: Client, room: &RoomId) {
    client.set_timeout(LEAVE_TIMEOUT);
    let _ = client.request(&Request::Leave { room: room.clone() }).await;
    let _ = client.close().await;
}
