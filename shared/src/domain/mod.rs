//! The domain's plain types: connections, subscriptions, messages and presence.
//!
//! This module depends on nothing else in the crate: the protocol, the ports, the adapters and
//! the services all speak in these types, so none of them has to import another to share data.

mod connection;
mod key_packages;
mod message;
mod presence;
mod presence_record;
mod shard;
mod stats;
mod time;
mod welcome;

pub use connection::{
    ACTIVITY_GRANULARITY_SECS, CONNECTION_TTL_SLACK_SECS, Connection, IDLE_TIMEOUT_SECS, MAX_CONNECTION_SECS,
    MAX_CONNECTIONS_PER_USER, Removed, Subscriber,
};
pub use key_packages::{ClaimedKey, DeviceKeys, MAX_DEVICES_PER_USER, MAX_ONE_TIME_PER_DEVICE, PublishOutcome};
pub use message::{
    AppendOutcome, Appended, CommitEpoch, DEDUP_WINDOW_SECS, HistoryPage, Message, NewMessage, RoomEpoch, SyncPage,
};
pub use presence::{Presence, Status};
pub use presence_record::{Opened, PresenceRecord, StatusSet, Tracked};
pub use shard::{BUCKETS, Probe, Shard, bucket};
pub use stats::{MAX_COUNTED_SENDERS, MinuteCounts, RunCounts, STATS_TTL_SECS, minute_of, window};
pub use time::{timestamp, timestamp_secs};
pub use welcome::{HeldWelcome, PendingWelcome, WELCOME_TTL_SECS};

/// One page of a paginated listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page, in the listing's order.
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next: Option<String>,
}
