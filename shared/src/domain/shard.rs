//! Shards of a room's subscribers. Every connection falls in one of [`BUCKETS`] buckets by a
//! fixed hash of its id, so it stays in the same bucket (and so the same shard) for its whole
//! life: each shard is delivered in order, so each connection gets the room's seqs in order.

use serde::{Deserialize, Serialize};

use super::Subscriber;

/// How many buckets subscribers are spread over; a shard is a contiguous range of them.
pub const BUCKETS: u16 = 256;

/// The bucket of a connection: the CRC-32 of its id, modulo [`BUCKETS`].
pub fn bucket(connection_id: &str) -> u8 {
    // 256 buckets: the low byte of the hash is the bucket.
    (crc32fast::hash(connection_id.as_bytes()) & 0xff) as u8
}

/// Shard `index` of `of` equal ranges of buckets (`of` between 1 and [`BUCKETS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// Which range, from 0.
    pub index: u16,
    /// How many ranges the buckets are cut into.
    pub of: u16,
}

impl Shard {
    /// Every bucket: the whole room.
    pub const ALL: Self = Self { index: 0, of: 1 };

    /// The shards of a room cut into `of` (clamped to 1..=[`BUCKETS`]).
    pub fn all_of(of: u16) -> impl Iterator<Item = Self> {
        let of = of.clamp(1, BUCKETS);
        (0..of).map(move |index| Self { index, of })
    }

    /// The first and last bucket of this shard, inclusive. Out-of-range shards are empty
    /// ranges at the end (first > last never happens for a valid shard).
    pub fn buckets(&self) -> (u8, u8) {
        let of = u32::from(self.of.clamp(1, BUCKETS));
        let index = u32::from(self.index).min(of - 1);
        let per = u32::from(BUCKETS);
        let first = index * per / of;
        let last = (index + 1) * per / of - 1;
        (u8::try_from(first).unwrap_or(u8::MAX), u8::try_from(last).unwrap_or(u8::MAX))
    }

    /// Whether the connection is in this shard.
    pub fn contains(&self, connection_id: &str) -> bool {
        let (first, last) = self.buckets();
        (first..=last).contains(&bucket(connection_id))
    }

    /// Whether this shard is the whole room.
    pub fn is_all(&self) -> bool {
        self.buckets() == (0, u8::MAX)
    }
}

/// What the fanout reads first about a room, to choose how to deliver to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// The room's subscribers when `complete`; otherwise some of them.
    pub subscribers: Vec<Subscriber>,
    /// Whether `subscribers` is every subscriber and there are fewer than the probe's limit.
    pub complete: bool,
    /// Until when (epoch seconds) the room is delivered through its shards whatever its size:
    /// set while it is large, so a room that shrinks does not switch back while shard
    /// deliveries of earlier messages may still be under way.
    pub sharded_until: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shards_of_a_room_cover_every_bucket_once() {
        for of in [1, 2, 3, 7, 16, 100, 255, 256, 1000] {
            let mut next = 0u16;
            for shard in Shard::all_of(of) {
                let (first, last) = shard.buckets();
                assert_eq!(u16::from(first), next, "of {of}: shard {} starts where the last ended", shard.index);
                assert!(first <= last);
                next = u16::from(last) + 1;
            }
            assert_eq!(next, BUCKETS, "of {of}: the last shard ends at the last bucket");
        }
    }

    #[test]
    fn a_connection_is_in_exactly_one_shard_and_its_bucket_is_fixed() {
        // CRC-32 is a published function: these values must never change, or connections would
        // move between shards across versions.
        assert_eq!(bucket("Qx7Y2cPQoAMCJ1A="), (crc32fast::hash(b"Qx7Y2cPQoAMCJ1A=") & 0xff) as u8);
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926, "the standard CRC-32 check value");
        for i in 0..500 {
            let id = format!("conn{i}=");
            assert_eq!(Shard::all_of(16).filter(|s| s.contains(&id)).count(), 1, "{id}");
            assert!(Shard::ALL.contains(&id));
        }
        assert!(Shard::ALL.is_all() && !Shard { index: 0, of: 2 }.is_all());
    }
}
