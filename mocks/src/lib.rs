#![forbid(unsafe_code)]
//! Wiremock servers that behave as the vendors' public API references describe (each vendor
//! module names its sources), with seeded, deterministic data and injectable faults. They write the vendors' JSON themselves and never
//! import the connectors' types, so a field-name mistake on one side is caught by the other.

pub mod crowdstrike;
pub mod sentinel;
pub mod splunk;
