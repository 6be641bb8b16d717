//! Starling's shared library: the wire protocol, the domain logic, the ports and their adapters,
//! and the Lambda handlers that the thin binaries in `functions/` and the devstack run.
//!
//! Layers, each importing only those above it: `domain` (plain types) → `envelope`, `clock`,
//! `protocol` → `ports`, `moderation` → `adapters`, `service` → `handlers` → `wiring`. `docs/architecture.md`
//! has the map.

pub mod adapters;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod envelope;
pub mod handlers;
pub mod moderation;
pub mod ports;
pub mod protocol;
pub mod sdk;
pub mod secrets;
pub mod service;
pub mod telemetry;
pub mod wiring;

pub use aws_lambda_events;
pub use lambda_runtime;
