//! End-to-end encrypted rooms (docs/e2e.md) through the send and fanout functions: the key
//! package directory's actions, real MLS clients in `e2e:` rooms, and Welcome delivery. One test
//! program, so CI links mls-rs once.

mod common;

#[path = "mls/key_packages.rs"]
mod key_packages;
#[path = "mls/rooms.rs"]
mod rooms;
#[path = "mls/welcomes.rs"]
mod welcomes;
