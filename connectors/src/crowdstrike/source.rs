//! CrowdStrike source rules: the CID that names one Falcon customer (see [`crate::SourceId`]).

use serde::{Deserialize, Serialize};

use crate::SettingsError;

/// A CrowdStrike customer id: 32 lowercase hex digits, the `-XX` checksum suffix dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cid(String);

impl TryFrom<String> for Cid {
    type Error = SettingsError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Cid::parse(&raw)
    }
}

impl From<Cid> for String {
    fn from(c: Cid) -> String {
        c.0
    }
}

impl Cid {
    /// Accepts a bare CID or a CCID (`<32 hex>-<2 hex>`), any case, surrounding whitespace.
    pub fn parse(raw: &str) -> Result<Cid, SettingsError> {
        let refuse = || {
            SettingsError::new(
                "CID",
                raw,
                "a CID is 32 hex digits, optionally followed by a -XX checksum (CCID)",
            )
        };
        let trimmed = raw.trim();
        // The checksum only matters to sensor installers; the API and `member_cid` use the bare
        // CID, so a CCID and its CID name one source.
        let bare = match trimmed.split_once('-') {
            Some((cid, sum)) if sum.len() == 2 && is_hex(sum) => cid,
            Some(_) => return Err(refuse()),
            None => trimmed,
        };
        if bare.len() != 32 || !is_hex(bare) {
            return Err(refuse());
        }
        Ok(Cid(bare.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}
