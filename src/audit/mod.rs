//! The immutable, tamper-evident audit log: one hash chain per workspace (DESIGN.md §4,
//! issue 9). Only append and read exist; the store refuses UPDATE and DELETE on audit rows.

mod chain;
pub mod commands;

pub use chain::{Attribution, Event, Outcome, append, entry_hash, genesis_hash, now_millis};
