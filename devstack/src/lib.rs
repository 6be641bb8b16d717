//! Starling on one machine: an API Gateway-like WebSocket gateway, its Management API, and the
//! SQS → fanout event source mapping, all running the same handlers as the Lambdas.
//!
//! `serve(config)` binds, starts everything and returns a [`Handle`] with the bound address;
//! the `starling-devstack` binary and the end-to-end tests both start it this way. The map of
//! its modules is at the top of `docs/devstack.md`.

mod app;
mod backend;
mod config;
mod error;
mod events;
mod faults;
mod fifo;
mod gateway;
mod handle;
mod ids;
mod invoke;
mod management;
mod mapping;
mod metrics_page;
mod moderation;
mod post;
mod serve;
mod web;

pub use backend::sdk_config;
pub use config::{AwsBackend, Backend, Config, DEV_SECRET, GatewayLimits, MappingSettings};
pub use error::DevstackError;
pub use faults::{ActiveFault, AppendFault, CrashPoint, DisconnectMode, DynamoFault, Fault, FaultError, Faults};
pub use handle::Handle;
pub use invoke::{Endpoint, FunctionFlag, FunctionTarget, Functions, LambdaFunctions, Role, TargetError};
pub use mapping::{DlqEntry, LONG_POLL};
pub use moderation::{FILE_RELOAD, HookTarget, ModerationSettings};
pub use serve::serve;

pub(crate) use app::App;
