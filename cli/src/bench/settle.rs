//! Waiting out the join storm before the clock starts. Every client that joins a room is
//! announced to every member already in it, so N joins make about N²/2 presence posts: 500,000
//! for a room of 1,000. Measuring message latency while those drain measures the storm, not the
//! steady state, so a soak first waits until no client has had a frame for a quiet period.

use std::time::{Duration, Instant};

use starling_client::{Client, ClientError};

use crate::CliError;

/// Reads and drops each client's frames until none has had one for `quiet`, or `deadline`
/// passes. Returns the clients and how long the storm took to drain. A message frame here means
/// another run is sending into the room, which would spoil the figures: that is an error.
pub(super) async fn settle(
    clients: Vec<Client>,
    quiet: Duration,
    deadline: Instant,
) -> Result<(Vec<Client>, Duration), CliError> {
    let started = Instant::now();
    let drained = futures::future::join_all(clients.into_iter().map(|c| drain(c, quiet, deadline))).await;
    let clients = drained.into_iter().collect::<Result<Vec<_>, _>>()?;
    // Each client stopped after its own quiet period; the last of them stopped at most `quiet`
    // after the storm's last frame.
    Ok((clients, started.elapsed().saturating_sub(quiet)))
}

async fn drain(mut client: Client, quiet: Duration, deadline: Instant) -> Result<Client, CliError> {
    let timeout = client.timeout();
    client.set_timeout(quiet);
    loop {
        if Instant::now() >= deadline {
            return Err(CliError::Usage("the presence storm after joining outlasted --timeout-secs".into()));
        }
        match client.recv().await {
            Ok(starling_client::ServerFrame::Message(m)) => {
                return Err(CliError::Usage(format!(
                    "room {} got message seq {} before the run sent any: use a fresh room",
                    m.room, m.seq
                )));
            }
            Ok(_) => {}
            Err(ClientError::Timeout { .. }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    client.set_timeout(timeout);
    Ok(client)
}
