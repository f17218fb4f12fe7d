#![forbid(unsafe_code)]
//! Seliq Gateway: per-workspace credential vault, binding guard, pull engine and audit log.
//! See ARCHITECTURE.md for the map.

pub mod api;
pub mod app;
pub mod audit;
#[cfg(feature = "dev-tools")]
pub mod bench;
pub mod cli;
pub mod config;
#[cfg(feature = "dev-tools")]
pub mod demo;
pub mod error;
pub mod fs_atomic;
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod integrations;
mod key_files;
pub mod lock;
pub mod pull;
pub mod rekey;
pub mod serve;
pub mod sinks;
pub mod sla;
pub mod slug;
pub mod store;
pub mod timespec;
pub mod vault;
pub mod workspaces;
