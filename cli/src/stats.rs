//! `starling stats`: a room's activity per minute, as the `stats` action returns it.

use std::io::Write;

use starling_client::{Client, ClientError, MinuteStats, RoomId, StatsTotals};

use crate::{CliError, Conn, REPLY_TIMEOUT};

/// Prints the room's minutes with counts (oldest first) and the totals. It connects without
/// joining: the user must be a member already (the server answers `forbidden` otherwise).
pub(crate) async fn stats(
    conn: &Conn,
    room: RoomId,
    minutes: u32,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let mut client = Client::connect(&conn.url, &conn.token).await.map_err(|e| match e {
        ClientError::Refused { status: 401, .. } => CliError::BadToken(e),
        e => e.into(),
    })?;
    client.set_timeout(REPLY_TIMEOUT);
    let (per_minute, totals, has_more) = client.stats(&room, minutes).await?;
    write!(out, "{}", format_stats(&room, minutes, &per_minute, &totals, has_more))?;
    client.close().await?;
    Ok(())
}

/// The table `starling stats` prints.
pub fn format_stats(
    room: &RoomId,
    minutes: u32,
    per_minute: &[MinuteStats],
    totals: &StatsTotals,
    has_more: bool,
) -> String {
    let mut text = format!(
        "{room}, last {minutes} minutes\n{:<18} {:>10} {:>8} {:>12}\n",
        "minute", "messages", "senders", "deliveries"
    );
    if has_more {
        text.push_str("(older minutes left out; their counts are in the totals)\n");
    }
    for m in per_minute {
        text.push_str(&format!("{:<18} {:>10} {:>8} {:>12}\n", m.minute, m.messages, m.senders, m.deliveries));
    }
    text.push_str(&format!(
        "{:<18} {:>10} {:>8} {:>12}\n",
        "total", totals.messages, totals.senders, totals.deliveries
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_each_minute_and_the_totals() {
        let room = RoomId::parse("lobby").unwrap();
        let minute = MinuteStats { minute: "2026-11-24T17:05Z".into(), messages: 3, senders: 2, deliveries: 6 };
        let totals = StatsTotals { messages: 3, senders: 2, deliveries: 6 };
        let text = format_stats(&room, 60, &[minute], &totals, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "lobby, last 60 minutes");
        assert!(lines[2].starts_with("2026-11-24T17:05Z") && lines[2].ends_with(" 6"), "{text}");
        assert!(lines[3].starts_with("total"), "{text}");
        assert!(format_stats(&room, 60, &[], &totals, true).contains("left out"));
    }
}
