//! Canonical source identities for the binding guard (DESIGN.md §3).
//!
//! Two integrations that read the same data must produce conflicting `SourceId`s however the
//! operator spelled the settings: case, whitespace, trailing slashes, default ports, IDN hosts,
//! CCID checksum suffixes, braces on GUIDs, duplicate or unsorted index lists, wildcards.

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
        todo!("guard helper {raw}")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One optional field restriction on a Splunk scope, e.g. `orig_index=acme*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScopeFilter {
    pub field: String,
    pub glob: String,
}

/// What a Splunk integration searches on one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SplunkScope {
    /// `https://host:port`, lowercase host (punycode), explicit port.
    pub endpoint: String,
    /// `servicesNS/<owner>/<app>`.
    pub namespace: String,
    /// Sorted, deduplicated, lowercase index names or globs.
    pub indexes: Vec<String>,
    pub filter: Option<ScopeFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceId {
    Crowdstrike { cid: Cid },
    Sentinel { cloud: String, resource_id: String },
    Splunk(SplunkScope),
}

impl SourceId {
    pub fn crowdstrike(cid: Cid) -> SourceId {
        SourceId::Crowdstrike { cid }
    }

    /// Validates the ARM names (subscription GUID with or without braces, resource group,
    /// workspace name) and the cloud (`public|usgov|china`), then lowercases them.
    pub fn sentinel(
        cloud: &str,
        subscription_id: &str,
        resource_group: &str,
        workspace_name: &str,
    ) -> Result<SourceId, SettingsError> {
        let _ = (cloud, subscription_id, resource_group, workspace_name);
        todo!()
    }

    /// `url` is the management URL already parsed (scheme checked by the caller); the port
    /// defaults to 8089, the owner to `nobody`. `filter` is `FIELD=GLOB`.
    pub fn splunk(
        url: &url::Url,
        owner: Option<&str>,
        app: &str,
        indexes: &[String],
        filter: Option<&str>,
    ) -> Result<SourceId, SettingsError> {
        let _ = (url, owner, app, indexes, filter);
        todo!()
    }

    /// The canonical string form, e.g. `crowdstrike:<cid>` or
    /// `sentinel:public:/subscriptions/<sub>/resourcegroups/<rg>/providers/microsoft.operationalinsights/workspaces/<name>`.
    pub fn canonical(&self) -> String {
        todo!()
    }

    /// The part two conflicting sources always share. For CrowdStrike and Sentinel it is the
    /// canonical form (exact match conflicts); for Splunk it is the endpoint, and
    /// [`SourceId::conflicts_with`] decides between scopes that share it.
    pub fn binding_key(&self) -> String {
        todo!()
    }

    /// True when both identities can read a common alert.
    pub fn conflicts_with(&self, other: &SourceId) -> bool {
        let _ = other;
        todo!()
    }
}
