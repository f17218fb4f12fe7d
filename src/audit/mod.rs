//! The immutable, tamper-evident audit log: one hash chain per workspace (ARCHITECTURE.md, "Invariants";
//! issue 9). Only append and read exist; the store refuses UPDATE and DELETE on audit rows,
//! except retention pruning of a range a sealed segment manifest covers.
//!
//! - `chain`: entries, hashing, append (fail closed, in the caller's transaction).
//! - `checkpoint`: HMAC-signed chain heads (every 64 entries, every export, every prune).
//! - `verify`: the checks, for the stored chain and for an exported `.jsonl` file.
//! - `export`, `csv`, `bundle`: CSV / JSON presentation, JSON Lines as the verifiable form.
//! - `gateway`: the reserved gateway-level chain (all-workspaces API tokens).
//! - `prune`: retention by plan tier, whole calendar months, manifests kept forever.

mod action;
pub(crate) mod bundle;
mod chain;
pub mod checkpoint;
pub mod clock;
mod csv;
pub mod export;
pub mod gateway;
pub mod prune;
pub mod verify;

pub use action::Action;
pub use bundle::{Bundle, Header, parse as parse_bundle};
pub use chain::{
    Attribution, Event, Outcome, append, checkpoint_at, checkpoint_head, entry_hash, genesis_hash,
    now_millis,
};
pub use checkpoint::{CHECKPOINT_INTERVAL, Checkpoint, CheckpointSigner};
