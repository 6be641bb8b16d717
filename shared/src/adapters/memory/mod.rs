//! In-memory adapters: the default backend of the devstack and the ground truth of the tests.

mod dead_letters;
mod export;
mod jwks;
mod key_packages;
mod ledger;
mod limiter;
mod moderation;
mod pusher;
mod queue;
mod stats;
mod store;
mod welcomes;

pub use dead_letters::MemoryDeadLetters;
pub use export::MemoryExportSink;
pub use jwks::MemoryKeySource;
pub use moderation::{HookAnswer, MemoryHook, MemoryRules};
pub use pusher::MemoryPusher;
pub use queue::RecordingQueue;
pub use store::MemoryStore;
