//! The workload both systems run, and what each run measured.

use std::time::Duration;

use aws_config::SdkConfig;
use serde::Serialize;

use crate::meter::{Breakdown, Meter, Phase, Shadow, Tally};

/// A message body of a typical chat line's length.
pub(crate) const BODY: &str =
    "A chat message of about a hundred bytes, which is longer than most lines people type in a room.";

/// Where a system runs.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    /// Region, credentials and moto's endpoint, for every client.
    pub(crate) sdk: SdkConfig,
    /// moto's endpoint, which also serves the Management API's `@connections`.
    pub(crate) endpoint: String,
    /// Uncounted reads that tell what a projected read read.
    pub(crate) shadow: Shadow,
    /// Requests in flight while setting up and posting.
    pub(crate) concurrency: usize,
}

/// `connections` connections in rooms of `room_size`, one message to each of the first `rooms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Workload {
    /// Connections per room.
    pub(crate) room_size: usize,
    /// Connections in all (the baseline's table holds every one).
    pub(crate) connections: usize,
    /// Rooms set up on Starling and sent one message each, on both systems.
    pub(crate) rooms: usize,
}

impl Workload {
    /// Every room of `connections` in rooms of `room_size`.
    pub(crate) fn new(room_size: usize, connections: usize) -> Self {
        let room_size = room_size.max(1);
        Self { room_size, connections, rooms: connections.div_ceil(room_size) }
    }

    /// The first rooms only: at most `max_rooms` holding at most `max_connections` (at least one
    /// room). A Starling message reads and writes only its room's partition and its sender's
    /// items, so the rooms left out would not change what one costs; the baseline's table still
    /// holds every connection, and its Scan reads them all.
    pub(crate) fn sampled(self, max_rooms: usize, max_connections: usize) -> Self {
        Self { rooms: (max_connections / self.room_size).min(max_rooms).clamp(1, self.rooms), ..self }
    }

    /// Rooms in the whole workload.
    pub(crate) fn all_rooms(&self) -> usize {
        self.connections.div_ceil(self.room_size)
    }

    /// The room of connection `i`.
    pub(crate) fn room_of(&self, i: usize) -> String {
        room_name(i / self.room_size)
    }

    /// The workload's rooms in runs of whole rooms holding at most `max_connections` (at least
    /// one room each).
    pub(crate) fn shards(&self, max_connections: usize) -> Vec<std::ops::Range<usize>> {
        let per = (max_connections / self.room_size).max(1);
        (0..self.rooms).step_by(per).map(|start| start..(start + per).min(self.rooms)).collect()
    }
}

/// The name of room `r`.
pub(crate) fn room_name(r: usize) -> String {
    format!("room-{r:05}")
}

/// The id of connection `i`, shaped like API Gateway's (base64, ending in `=`).
pub(crate) fn connection_id(i: usize) -> String {
    format!("Cost{i:08}Conn=")
}

/// What one system's run of one workload measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Measured {
    /// Connections set up (the baseline's table, or Starling's sampled rooms).
    pub(crate) connections: usize,
    /// Messages sent.
    pub(crate) messages: usize,
    /// Successful posts of those messages.
    pub(crate) deliveries: u64,
    /// Connecting and joining, all connections.
    pub(crate) setup: Tally,
    /// The messages, from the frame to the last post.
    pub(crate) message: Tally,
    /// The message phase per operation.
    pub(crate) message_ops: Breakdown,
    /// The set-up per operation.
    pub(crate) setup_ops: Breakdown,
    /// Wall time of the message phase on moto (not a performance figure).
    #[serde(serialize_with = "seconds")]
    pub(crate) message_time: Duration,
}

impl Measured {
    /// What `meter` counted for `connections` set up and `messages` sent.
    pub(crate) fn of(meter: &Meter, connections: usize, messages: usize, message_time: Duration) -> Self {
        let message = meter.tally(Phase::Message);
        Self {
            connections,
            messages,
            deliveries: message.posts,
            setup: meter.tally(Phase::Setup),
            message,
            message_ops: meter.breakdown(Phase::Message),
            setup_ops: meter.breakdown(Phase::Setup),
            message_time,
        }
    }
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_keeps_whole_rooms_and_at_least_one() {
        let w = Workload::new(100, 10_000);
        assert_eq!(w.rooms, 100);
        assert_eq!(w.sampled(10, 1_000).rooms, 10);
        assert_eq!(w.sampled(5, 1_000).rooms, 5);
        assert_eq!(Workload::new(10, 10_000).sampled(10, 1_000).rooms, 10);
        assert_eq!(Workload::new(1_000, 10_000).sampled(10, 500).rooms, 1);
        assert_eq!(Workload::new(10, 10_000).sampled(usize::MAX, 100_000).rooms, 1_000);
    }

    #[test]
    fn shards_hold_whole_rooms() {
        let w = Workload::new(100, 1_000);
        assert_eq!(w.shards(300), vec![0..3, 3..6, 6..9, 9..10]);
        assert_eq!(Workload::new(1_000, 2_000).shards(300), vec![0..1, 1..2]);
    }

    #[test]
    fn connections_fill_rooms_in_order() {
        let w = Workload::new(10, 100);
        assert_eq!(w.room_of(0), w.room_of(9));
        assert_ne!(w.room_of(9), w.room_of(10));
    }
}
