//! In-memory adapters: the default backend of the devstack and the ground truth of the tests.

mod limiter;
mod pusher;
mod queue;
mod store;

pub use pusher::MemoryPusher;
pub use queue::RecordingQueue;
pub use store::MemoryStore;
