//! CrowdStrike Falcon: one integration per CID.
//!
//! - [`settings`]: client id, CID (normalised from a CCID), cloud or base URL, the `member_cid`
//!   rule (an MSSP child CID gets `member_cid`; the API client's own CID does not), look-back and
//!   quota.
//! - [`auth`]: `POST /oauth2/token` (201), the allow-listed region redirect, 401/403 refusals.
//! - [`client`]: `POST /alerts/combined/alerts/v1` with `after` paging, `errors[]` on 2xx, the
//!   rate-limit headers, and the [`CrowdStrike`] connector.
//! - [`mapping`]: alert JSON → `Alert`, the severity table; [`map_alert`] for benchmarks.
//! - [`cursor`]: high-water mark at nanosecond precision, look-back window, seen set.
//! - [`source`]: the CID rules of the source identity.

pub mod auth;
pub mod client;
pub mod cursor;
pub mod mapping;
pub mod settings;
pub mod source;

pub use client::{CrowdStrike, PAGE_MAX};
pub use cursor::Timestamp;
pub use mapping::{map_alert, severity};
pub use settings::{
    Cloud, DEFAULT_ACCOUNT_RATE_LIMIT_PER_MINUTE, DEFAULT_LOOK_BACK, DEFAULT_RATE_LIMIT_PER_MINUTE,
    Params, Settings, VENDOR_RATE_LIMIT_PER_MINUTE,
};
