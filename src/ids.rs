//! Typed identities. A workspace id and an integration id are both UUIDs underneath, but a
//! function that takes one cannot be handed the other: `insert_binding(source, workspace,
//! integration)` with the two swapped does not compile.
//!
//! ```compile_fail
//! use seliq_gateway::ids::{IntegrationId, WorkspaceId};
//! fn wants_workspace(_: WorkspaceId) {}
//! wants_workspace(IntegrationId::new());
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random (v4) id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> $name {
                $name(Uuid::new_v4())
            }

            /// Wrap an id read from a trusted place (the store, a fixed constant).
            pub const fn from_uuid(id: Uuid) -> $name {
                $name(id)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The 16 bytes, for associated data and hashes.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// Parse the hyphenated text form; the error names what was being parsed.
            pub fn parse(text: &str) -> Result<$name, String> {
                Uuid::parse_str(text)
                    .map($name)
                    .map_err(|e| format!("{} {text:?} is not a UUID: {e}", $what))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// One client organisation (a gateway workspace).
    WorkspaceId,
    "workspace id"
);
uuid_id!(
    /// One integration (a connection to one vendor source) inside a workspace.
    IntegrationId,
    "integration id"
);

/// The version of one integration's credential: 1 when added, one more with every rotation. It
/// is part of the credential's associated data, so a blob replayed under another version does
/// not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialVersion(u32);

impl CredentialVersion {
    pub const FIRST: CredentialVersion = CredentialVersion(1);

    /// Wrap a version read from the store or a request; 0 is never a version.
    pub fn new(version: u32) -> Option<CredentialVersion> {
        (version > 0).then_some(CredentialVersion(version))
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    /// The version a rotation writes; `None` past `u32::MAX` rotations.
    pub fn next(self) -> Option<CredentialVersion> {
        self.0.checked_add(1).map(CredentialVersion)
    }
}

impl fmt::Display for CredentialVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_bad_text_is_named() {
        let id = WorkspaceId::new();
        assert_eq!(WorkspaceId::parse(&id.to_string()), Ok(id));
        let err = IntegrationId::parse("nope").unwrap_err();
        assert!(
            err.starts_with("integration id \"nope\" is not a UUID"),
            "{err}"
        );
        // Serialised as the bare UUID string, as before the newtypes.
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            format!("\"{}\"", id.as_uuid())
        );
    }

    #[test]
    fn credential_versions_start_at_one_and_never_wrap() {
        assert_eq!(CredentialVersion::new(0), None);
        assert_eq!(CredentialVersion::new(1), Some(CredentialVersion::FIRST));
        assert_eq!(CredentialVersion::FIRST.next().unwrap().get(), 2);
        assert_eq!(CredentialVersion::new(u32::MAX).unwrap().next(), None);
    }
}
