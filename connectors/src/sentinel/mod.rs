//! Microsoft Sentinel: incidents from the ARM `Microsoft.SecurityInsights` API.
//!
//! - [`settings`]: [`Params`] as typed, [`Settings`] validated; the source id is the cloud plus
//!   the workspace's lowercased ARM id (the tenant is an access attribute, not identity).
//! - [`auth`]: Entra ID v2 client-credentials grant, scope `<arm>/.default`.
//! - [`client`]: the connector. `Incidents_List` with
//!   `$filter=properties/lastModifiedTimeUtc ge <mark − look-back>`, ascending, `$top` ≤ 1000,
//!   `nextLink` followed to the end and re-encoded.
//! - [`mapping`]: incident JSON → `Alert` ([`map_incident`]).
//! - [`cursor`]: the checkpoint: the mark (moved only when a chain completes), the position of an
//!   unfinished chain (resumed with a fresh query, not a saved `nextLink`), and the versions
//!   already emitted that a later query can return again.
//! - [`source`]: the cloud and ARM-name rules (subscription GUID, resource group, workspace) of
//!   the source identity.
//!
//! With `with_alerts`, each emitted incident version also gets its alerts
//! (`POST …/incidents/{name}/alerts`), appended to `raw` as a top-level `alerts` array, for at
//! most [`ALERT_CALLS_PER_PULL`] calls per connector instance; later incidents come without.

pub mod auth;
pub mod client;
pub mod cursor;
pub mod mapping;
pub mod settings;
pub mod source;

pub use auth::ArmPolicy;
pub use client::{ALERT_CALLS_PER_PULL, MAX_TOP, Sentinel};
pub use mapping::{VENDOR, map_incident, severity};
pub use settings::{
    Cloud, DEFAULT_API_VERSION, DEFAULT_LOOK_BACK, DEFAULT_RATE_LIMIT_PER_MINUTE, MAX_LOOK_BACK,
    Params, Settings,
};
