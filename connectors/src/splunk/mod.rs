//! Splunk: one search scope (endpoint, `servicesNS/<owner>/<app>`, indexes, optional field
//! filter) per integration, fetched by index time so late-indexed events are never missed.
//!
//! - [`settings`]: validated settings and the scope's SPL;
//! - [`auth`]: Bearer token or session login, the `messages` envelope, per-credential search slots;
//! - [`client`]: server info, windows and batches, and the [`Connector`](crate::Connector);
//! - [`mapping`]: result row → [`Alert`](crate::Alert);
//! - [`cursor`]: the index-time high-water mark and the look-behind's dedup set;
//! - [`source`]: the endpoint, namespace, index and scope-filter rules of the source identity;
//! - `job`, `time`, `version` (private): the search job lifecycle (create, poll, page, delete),
//!   `earliest_time`, and which versions have the v2 endpoints (the last two re-exported from
//!   [`client`]).

pub mod auth;
pub mod client;
pub mod cursor;
pub mod mapping;
pub mod settings;
pub mod source;

mod job;
mod time;
mod version;

pub use client::{MAX_PAGE, ServerInfo, Splunk, Tuning};
pub use mapping::{IdMode, MappedRow, RowError, VENDOR, map_result, map_row, try_map_row};
pub use settings::{
    AuthMode, DEFAULT_EARLIEST, DEFAULT_LOOK_BACK, DEFAULT_OWNER, DEFAULT_PORT, MAX_LOOK_BACK,
    NOTABLE_INDEX, Params, Settings,
};
