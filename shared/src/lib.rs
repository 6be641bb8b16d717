//! Starling's shared library: the wire protocol, the domain logic, the ports and their adapters,
//! and the Lambda handlers that the thin binaries in `functions/` and the devstack run.

pub mod adapters;
pub mod auth;
pub mod config;
pub mod handlers;
pub mod model;
pub mod ports;
pub mod protocol;
pub mod secrets;
pub mod service;
pub mod telemetry;

pub use aws_lambda_events;
pub use lambda_runtime;
