//! Canonical source identities for the binding guard (README.md, "Rules worth knowing": binding guard).
//!
//! Two integrations that read the same data must produce conflicting `SourceId`s however the
//! operator spelled the settings: case, whitespace, trailing slashes, default ports, IDN hosts,
//! CCID checksum suffixes, braces on GUIDs, duplicate or unsorted index lists, wildcards.
//!
//! This module holds the [`SourceId`] enum and what crosses vendors (canonical form, binding key,
//! conflicts, the serialized shape). Each vendor's own rules are in its `source` module:
//! [`crate::crowdstrike::source`] (CID), [`crate::sentinel`]'s `source` (ARM names and clouds),
//! [`crate::splunk::source`] (endpoint, namespace, indexes, scope filter).

use serde::{Deserialize, Serialize};

use crate::SettingsError;
use crate::sentinel::source::{parse_guid, resource_group_name, sentinel_cloud, workspace_name_of};

// The vendor rules live with their vendors; these re-exports keep the old paths.
pub use crate::crowdstrike::source::Cid;
pub use crate::sentinel::source::SENTINEL_CLOUDS;
pub use crate::splunk::source::{
    SPLUNK_DEFAULT_OWNER, SPLUNK_DEFAULT_PORT, ScopeFilter, SplunkScope, splunk_port,
};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", try_from = "SourceIdRepr")]
pub enum SourceId {
    Crowdstrike { cid: Cid },
    Sentinel { cloud: String, resource_id: String },
    Splunk(SplunkScope),
}

/// The serialized shape of [`SourceId`]; deserializing validates and normalises it again.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum SourceIdRepr {
    Crowdstrike { cid: Cid },
    Sentinel { cloud: String, resource_id: String },
    Splunk(SplunkScope),
}

impl TryFrom<SourceIdRepr> for SourceId {
    type Error = SettingsError;
    fn try_from(r: SourceIdRepr) -> Result<Self, Self::Error> {
        match r {
            SourceIdRepr::Crowdstrike { cid } => Ok(SourceId::Crowdstrike { cid }),
            SourceIdRepr::Sentinel { cloud, resource_id } => {
                SourceId::sentinel_from_resource_id(&cloud, &resource_id)
            }
            SourceIdRepr::Splunk(scope) => Ok(SourceId::Splunk(scope)),
        }
    }
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
        let cloud = sentinel_cloud(cloud)?;
        let sub = parse_guid("Azure subscription id", subscription_id)?;
        let rg = resource_group_name(resource_group)?.to_lowercase();
        let name = workspace_name_of(workspace_name)?.to_ascii_lowercase();
        Ok(SourceId::Sentinel {
            cloud,
            resource_id: format!(
                "/subscriptions/{sub}/resourcegroups/{rg}/providers/\
                 microsoft.operationalinsights/workspaces/{name}"
            ),
        })
    }

    /// The same as [`SourceId::sentinel`], from the workspace's ARM resource id
    /// (`/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>`),
    /// in any case, with or without a trailing slash.
    pub fn sentinel_from_resource_id(
        cloud: &str,
        resource_id: &str,
    ) -> Result<SourceId, SettingsError> {
        let refuse = || {
            SettingsError::new(
                "Sentinel workspace resource id",
                resource_id,
                "expected /subscriptions/<guid>/resourceGroups/<group>/providers/\
                 Microsoft.OperationalInsights/workspaces/<name>",
            )
        };
        let trimmed = resource_id.trim();
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let parts: Vec<&str> = trimmed.split('/').collect();
        let [
            "",
            subscriptions,
            sub,
            resource_groups,
            rg,
            providers,
            namespace,
            workspaces,
            name,
        ] = parts.as_slice()
        else {
            return Err(refuse());
        };
        let fixed = [
            (subscriptions, "subscriptions"),
            (resource_groups, "resourcegroups"),
            (providers, "providers"),
            (namespace, "microsoft.operationalinsights"),
            (workspaces, "workspaces"),
        ];
        if !fixed
            .iter()
            .all(|(got, want)| got.eq_ignore_ascii_case(want))
        {
            return Err(refuse());
        }
        SourceId::sentinel(cloud, sub, rg, name)
    }

    /// `url` is the management URL already parsed (scheme checked by the caller); the port
    /// defaults to 8089, the owner to `nobody`. `filter` is `FIELD=GLOB`.
    ///
    /// A [`url::Url`] cannot say whether the operator wrote a scheme-default port: `url` parses
    /// `https://h:443` to the same value as `https://h`. Here a URL without a port means Splunk's
    /// management port 8089. A caller holding the operator's text should resolve the port with
    /// [`splunk_port`] and call [`SourceId::splunk_at`], so that `https://h:443` stays 443.
    pub fn splunk(
        url: &url::Url,
        owner: Option<&str>,
        app: &str,
        indexes: &[String],
        filter: Option<&str>,
    ) -> Result<SourceId, SettingsError> {
        let port = url.port().unwrap_or(SPLUNK_DEFAULT_PORT);
        SourceId::splunk_at(url, port, owner, app, indexes, filter)
    }

    /// [`SourceId::splunk`] with the port already resolved (see [`splunk_port`]); the URL's own
    /// port is ignored. Path, query, fragment and credentials in `url` are no part of the identity.
    /// `indexes` entries may also be comma-separated lists.
    pub fn splunk_at(
        url: &url::Url,
        port: u16,
        owner: Option<&str>,
        app: &str,
        indexes: &[String],
        filter: Option<&str>,
    ) -> Result<SourceId, SettingsError> {
        SplunkScope::build(url, port, owner, app, indexes, filter).map(SourceId::Splunk)
    }

    /// The canonical string form, e.g. `crowdstrike:<cid>` or
    /// `sentinel:public:/subscriptions/<sub>/resourcegroups/<rg>/providers/microsoft.operationalinsights/workspaces/<name>`
    /// or `splunk:https://host:8089/servicesNS/nobody/<app>?index=a,b&orig_index=acme*`.
    ///
    /// Alerts carry it as their `source`, and their `event_id` derives from it, so it must never
    /// change for one source.
    pub fn canonical(&self) -> String {
        match self {
            SourceId::Crowdstrike { cid } => format!("crowdstrike:{}", cid.as_str()),
            SourceId::Sentinel { cloud, resource_id } => format!("sentinel:{cloud}:{resource_id}"),
            SourceId::Splunk(s) => {
                let mut out = format!(
                    "splunk:{}/{}?index={}",
                    s.endpoint,
                    s.namespace,
                    s.indexes.join(",")
                );
                if let Some(f) = &s.filter {
                    out.push('&');
                    out.push_str(&f.field);
                    out.push('=');
                    out.push_str(&f.glob);
                }
                out
            }
        }
    }

    /// The part two conflicting sources always share. For CrowdStrike and Sentinel it is the
    /// canonical form (exact match conflicts); for Splunk it is the endpoint, and
    /// [`SourceId::conflicts_with`] decides between scopes that share it.
    ///
    /// For Splunk every scope on one endpoint is compared, whatever its app namespace: a
    /// namespace picks which macros and saved searches resolve, it does not partition the index
    /// data, so two apps on one search head read the same events.
    pub fn binding_key(&self) -> String {
        match self {
            SourceId::Splunk(s) => format!("splunk:{}", s.endpoint),
            _ => self.canonical(),
        }
    }

    /// [`SourceId::conflicts_with`] for two sources on one server (same Splunk server GUID),
    /// whatever host name, address or alias each URL used.
    pub fn conflicts_on_same_server(&self, other: &SourceId) -> bool {
        match (self, other) {
            (SourceId::Splunk(a), SourceId::Splunk(b)) => a.scopes_overlap(b),
            _ => self.conflicts_with(other),
        }
    }

    /// True when both identities can read a common alert.
    pub fn conflicts_with(&self, other: &SourceId) -> bool {
        match (self, other) {
            (SourceId::Crowdstrike { cid: a }, SourceId::Crowdstrike { cid: b }) => a == b,
            (SourceId::Sentinel { .. }, SourceId::Sentinel { .. }) => self == other,
            (SourceId::Splunk(a), SourceId::Splunk(b)) => a.conflicts_with(b),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: &str = "0123456789abcdef0123456789abcdef";
    const SUB: &str = "6f1c3a2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b";

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    fn idx(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn splunk(u: &str, indexes: &[&str], filter: Option<&str>) -> SourceId {
        SourceId::splunk(
            &url(u),
            None,
            "SplunkEnterpriseSecuritySuite",
            &idx(indexes),
            filter,
        )
        .unwrap()
    }

    fn scope(id: &SourceId) -> &SplunkScope {
        match id {
            SourceId::Splunk(s) => s,
            other => panic!("not splunk: {other:?}"),
        }
    }

    fn sentinel(cloud: &str, sub: &str, rg: &str, ws: &str) -> SourceId {
        SourceId::sentinel(cloud, sub, rg, ws).unwrap()
    }

    /// The refusal names the offending value and says which rule it broke.
    fn assert_refused(res: Result<impl std::fmt::Debug, SettingsError>, value: &str, rule: &str) {
        let err = res.expect_err("should be refused");
        assert_eq!(err.value, value);
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{value:?}")),
            "{msg} does not name {value:?}"
        );
        assert!(msg.contains(rule), "{msg} does not say {rule:?}");
    }

    // ---- CrowdStrike CID ----

    #[test]
    fn cid_is_lowercased_and_trimmed() {
        let cid = Cid::parse("  0123456789ABCDEF0123456789abcdef \n").unwrap();
        assert_eq!(cid.as_str(), CID);
    }

    #[test]
    fn ccid_checksum_suffix_is_dropped_in_either_case() {
        for raw in [
            "0123456789abcdef0123456789abcdef-3F",
            "0123456789abcdef0123456789abcdef-3f",
            "0123456789ABCDEF0123456789ABCDEF-3F",
            " 0123456789abcdef0123456789abcdef-a0 ",
        ] {
            assert_eq!(Cid::parse(raw).unwrap().as_str(), CID, "{raw}");
        }
    }

    #[test]
    fn cid_and_its_ccid_are_one_source() {
        let a = SourceId::crowdstrike(Cid::parse(CID).unwrap());
        let b = SourceId::crowdstrike(Cid::parse(&format!("{}-3F", CID.to_uppercase())).unwrap());
        assert_eq!(a, b);
        assert_eq!(a.canonical(), format!("crowdstrike:{CID}"));
        assert_eq!(a.binding_key(), a.canonical());
        assert!(a.conflicts_with(&b));
    }

    #[test]
    fn different_cids_do_not_conflict() {
        let a = SourceId::crowdstrike(Cid::parse(CID).unwrap());
        let b = SourceId::crowdstrike(Cid::parse("ffffffffffffffffffffffffffffffff").unwrap());
        assert!(!a.conflicts_with(&b));
        assert_ne!(a.binding_key(), b.binding_key());
    }

    #[test]
    fn malformed_cids_are_refused_naming_the_value() {
        for raw in [
            "",
            "   ",
            "0123456789abcdef0123456789abcde",    // 31 digits
            "0123456789abcdef0123456789abcdef0",  // 33 digits
            "0123456789abcdef0123456789abcdeg",   // not hex
            "0123456789abcdef0123456789abcdef-",  // empty checksum
            "0123456789abcdef0123456789abcdef-3", // short checksum
            "0123456789abcdef0123456789abcdef-3FF",
            "0123456789abcdef0123456789abcdef-ZZ",
            "0123456789abcdef-0123456789abcdef",
            "0123456789abcdef 0123456789abcdef",
            "{0123456789abcdef0123456789abcdef}",
            "0123456789abcdef0123456789abcdef-3F-3F",
            "０123456789abcdef0123456789abcdef", // full-width digit
        ] {
            assert_refused(Cid::parse(raw), raw, "32 hex digits");
        }
    }

    #[test]
    fn cid_deserialization_validates() {
        let cid: Cid = serde_json::from_str(&format!("\"{}-3F\"", CID.to_uppercase())).unwrap();
        assert_eq!(cid.as_str(), CID);
        assert!(serde_json::from_str::<Cid>("\"nope\"").is_err());
    }

    // ---- Sentinel ----

    fn sentinel_canonical(cloud: &str, sub: &str, rg: &str, ws: &str) -> String {
        format!(
            "sentinel:{cloud}:/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.operationalinsights/workspaces/{ws}"
        )
    }

    #[test]
    fn sentinel_canonical_form_is_the_lowercased_arm_id_with_the_cloud() {
        let id = sentinel("public", SUB, "rg-soc", "law-acme");
        assert_eq!(
            id.canonical(),
            sentinel_canonical("public", SUB, "rg-soc", "law-acme")
        );
        assert_eq!(id.binding_key(), id.canonical());
    }

    #[test]
    fn sentinel_spellings_of_one_workspace_are_one_source() {
        let base = sentinel("public", SUB, "rg-soc", "law-acme");
        let variants = [
            sentinel("PUBLIC", SUB, "rg-soc", "law-acme"),
            sentinel(" Public ", SUB, "rg-soc", "law-acme"),
            sentinel("public", &SUB.to_uppercase(), "rg-soc", "law-acme"),
            sentinel("public", &format!("{{{SUB}}}"), "rg-soc", "law-acme"),
            sentinel(
                "public",
                &format!(" {{{}}} ", SUB.to_uppercase()),
                "RG-SOC",
                "LAW-Acme",
            ),
            sentinel("public", SUB, " Rg-Soc ", " law-acme\t"),
        ];
        for v in &variants {
            assert_eq!(v, &base);
            assert_eq!(v.canonical(), base.canonical());
            assert!(v.conflicts_with(&base));
        }
    }

    #[test]
    fn tenant_is_not_part_of_the_sentinel_identity() {
        // The constructor takes no tenant at all: Lighthouse lets two tenants reach one workspace.
        let id = sentinel("public", SUB, "rg", "law-acme");
        assert!(!id.canonical().contains("tenant"));
    }

    #[test]
    fn sentinel_workspaces_differing_in_any_part_do_not_conflict() {
        let base = sentinel("public", SUB, "rg-soc", "law-acme");
        let other_sub = "00000000-0000-0000-0000-000000000001";
        for other in [
            sentinel("usgov", SUB, "rg-soc", "law-acme"),
            sentinel("china", SUB, "rg-soc", "law-acme"),
            sentinel("public", other_sub, "rg-soc", "law-acme"),
            sentinel("public", SUB, "rg-soc2", "law-acme"),
            sentinel("public", SUB, "rg-soc", "law-globex"),
        ] {
            assert!(!base.conflicts_with(&other), "{}", other.canonical());
            assert_ne!(base.binding_key(), other.binding_key());
        }
    }

    #[test]
    fn resource_group_allows_arm_characters_and_unicode_letters() {
        let id = sentinel("public", SUB, "My_RG.(Prod)-1", "law-acme");
        assert_eq!(
            id.canonical(),
            sentinel_canonical("public", SUB, "my_rg.(prod)-1", "law-acme")
        );
        let id = sentinel("public", SUB, "Résumé", "law-acme");
        assert!(id.canonical().contains("/resourcegroups/résumé/"));
        assert!(SourceId::sentinel("public", SUB, "a", "law").is_ok());
        assert!(SourceId::sentinel("public", SUB, &"r".repeat(90), "law").is_ok());
    }

    #[test]
    fn workspace_name_bounds_follow_the_api_pattern() {
        assert!(SourceId::sentinel("public", SUB, "rg", "abc").is_ok());
        assert!(SourceId::sentinel("public", SUB, "rg", "a-b").is_ok());
        assert!(SourceId::sentinel("public", SUB, "rg", "0law9").is_ok());
        assert!(SourceId::sentinel("public", SUB, "rg", &"w".repeat(90)).is_ok());
    }

    #[test]
    fn invalid_sentinel_cloud_is_refused_naming_the_value() {
        for raw in ["", "azure", "AzureCloud", "gov", "public "] {
            let res = SourceId::sentinel(raw, SUB, "rg", "law-acme");
            if raw == "public " {
                assert!(res.is_ok(), "surrounding whitespace is trimmed");
                continue;
            }
            assert_refused(res, raw, "public, usgov, china");
        }
    }

    #[test]
    fn invalid_subscription_ids_are_refused_naming_the_value() {
        for raw in [
            "",
            "not-a-guid",
            "6f1c3a2e8b4d4e5f9a0b1c2d3e4f5a6b", // no hyphens
            "6f1c3a2e-8b4d-4e5f-9a0b-1c2d3e4f5a6",
            "6f1c3a2e-8b4d-4e5f-9a0b-1c2d3e4f5a6bb",
            "6f1c3a2e-8b4d-4e5f-9a0b-1c2d3e4f5a6g",
            "6f1c3a2e-8b4d4-e5f-9a0b-1c2d3e4f5a6b",
            "{6f1c3a2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b",
            "6f1c3a2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b}",
            "{{6f1c3a2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b}}",
            "(6f1c3a2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b)",
        ] {
            assert_refused(
                SourceId::sentinel("public", raw, "rg", "law-acme"),
                raw,
                "GUID",
            );
        }
    }

    #[test]
    fn invalid_resource_groups_are_refused_naming_the_value() {
        let long = "r".repeat(91);
        for (raw, rule) in [
            ("", "1 to 90"),
            ("   ", "1 to 90"),
            (long.as_str(), "1 to 90"),
            ("rg.", "end with a period"),
            ("rg/other", "only letters"),
            ("rg soc", "only letters"),
            ("rg#1", "only letters"),
            ("rg%2F", "only letters"),
            ("..", "end with a period"),
        ] {
            assert_refused(
                SourceId::sentinel("public", SUB, raw, "law-acme"),
                raw,
                rule,
            );
        }
    }

    #[test]
    fn invalid_workspace_names_are_refused_naming_the_value() {
        let long = "w".repeat(91);
        for raw in [
            "",
            "ab",
            "-law",
            "law-",
            "law_acme",
            "law.acme",
            "law acme",
            "läw",
            "law/x",
            long.as_str(),
        ] {
            assert_refused(
                SourceId::sentinel("public", SUB, "rg", raw),
                raw,
                "3 to 90 ASCII letters",
            );
        }
    }

    #[test]
    fn sentinel_from_resource_id_accepts_the_arm_spelling() {
        let rid = format!(
            "/subscriptions/{}/resourceGroups/RG-Soc/providers/Microsoft.OperationalInsights/workspaces/LAW-Acme/",
            SUB.to_uppercase()
        );
        let id = SourceId::sentinel_from_resource_id("Public", &rid).unwrap();
        assert_eq!(id, sentinel("public", SUB, "rg-soc", "law-acme"));
    }

    #[test]
    fn sentinel_from_resource_id_refuses_other_resources() {
        for rid in [
            format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x"
            ),
            format!("/subscriptions/{SUB}/resourceGroups/rg"),
            format!(
                "subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law"
            ),
            format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law/extra"
            ),
        ] {
            assert_refused(
                SourceId::sentinel_from_resource_id("public", &rid),
                &rid,
                "expected /subscriptions/",
            );
        }
    }

    // ---- Splunk endpoint ----

    #[test]
    fn splunk_endpoint_ignores_case_trailing_slashes_and_path() {
        let base = splunk("https://splunk.example.com:8089", &["notable"], None);
        for u in [
            "https://SPLUNK.Example.com:8089/",
            "https://splunk.example.com:8089//",
            "https://splunk.example.com:8089/servicesNS/nobody/search",
            "https://splunk.example.com:8089/?x=1#frag",
            "HTTPS://splunk.example.com.:8089",
            "https://user@splunk.example.com:8089",
        ] {
            let id = splunk(u, &["notable"], None);
            assert_eq!(id, base, "{u}");
            assert_eq!(scope(&id).endpoint, "https://splunk.example.com:8089");
        }
    }

    #[test]
    fn splunk_url_without_port_means_the_management_port_8089() {
        let implied = splunk("https://splunk.example.com", &["notable"], None);
        let explicit = splunk("https://splunk.example.com:8089/", &["notable"], None);
        assert_eq!(implied, explicit);
        assert!(implied.conflicts_with(&explicit));
        assert_eq!(
            implied.binding_key(),
            "splunk:https://splunk.example.com:8089"
        );
    }

    #[test]
    fn splunk_port_443_written_by_the_operator_is_a_different_endpoint() {
        for raw in [
            "https://splunk.example.com:443",
            "https://splunk.example.com:443/",
            "https://user:pw@splunk.example.com:443/x",
            "HTTPS://SPLUNK.EXAMPLE.COM:443",
        ] {
            let u = url(raw);
            assert_eq!(splunk_port(raw, &u), 443, "{raw}");
            let id =
                SourceId::splunk_at(&u, splunk_port(raw, &u), None, "search", &idx(&["a"]), None)
                    .unwrap();
            assert_eq!(scope(&id).endpoint, "https://splunk.example.com:443");
            let default = splunk("https://splunk.example.com", &["a"], None);
            assert!(!id.conflicts_with(&default));
            assert_ne!(id.binding_key(), default.binding_key());
        }
    }

    #[test]
    fn splunk_port_resolves_from_the_operator_text() {
        for (raw, port) in [
            ("https://h", 8089),
            ("https://h/", 8089),
            ("https://h:", 8089),
            ("https://h:8089", 8089),
            ("https://h:443", 443),
            ("http://h:80", 80),
            ("http://h", 8089),
            ("https://h:9000/a:b", 9000),
            ("https://h/a:443", 8089),
            ("https://u:p@h", 8089),
            ("https://u:p@h:443", 443),
            ("https://[::1]", 8089),
            ("https://[::1]:443", 443),
            ("https://[::1]:8443", 8443),
            ("https://h?x=:443", 8089),
            (" https://h:443 ", 443),
        ] {
            assert_eq!(splunk_port(raw, &url(raw.trim())), port, "{raw}");
        }
    }

    #[test]
    fn splunk_idn_host_in_unicode_and_punycode_is_one_endpoint() {
        let unicode = splunk("https://splunk.bücher.example", &["notable"], None);
        let upper = splunk("https://SPLUNK.BÜCHER.example:8089/", &["notable"], None);
        let puny = splunk("https://splunk.xn--bcher-kva.example", &["notable"], None);
        assert_eq!(
            scope(&puny).endpoint,
            "https://splunk.xn--bcher-kva.example:8089"
        );
        assert_eq!(unicode, puny);
        assert_eq!(upper, puny);
        assert!(unicode.conflicts_with(&puny));
    }

    #[test]
    fn splunk_ip_hosts_are_written_in_their_normal_form() {
        let v4 = splunk("https://10.0.0.1", &["a"], None);
        assert_eq!(scope(&v4).endpoint, "https://10.0.0.1:8089");
        let v6 = splunk("https://[0:0:0:0:0:0:0:1]:8089", &["a"], None);
        assert_eq!(scope(&v6).endpoint, "https://[::1]:8089");
    }

    #[test]
    fn splunk_scopes_on_different_endpoints_never_conflict() {
        let a = splunk("https://splunk-a.example.com", &["*"], None);
        for other in [
            splunk("https://splunk-b.example.com", &["*"], None),
            splunk("https://splunk-a.example.com:8090", &["*"], None),
            splunk("http://splunk-a.example.com", &["*"], None),
        ] {
            assert!(!a.conflicts_with(&other));
            assert_ne!(a.binding_key(), other.binding_key());
        }
    }

    #[test]
    fn splunk_refuses_non_http_schemes_and_port_zero_without_echoing_credentials() {
        let err = SourceId::splunk(
            &url("ftp://u:secret@h.example"),
            None,
            "a",
            &idx(&["a"]),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("ftp"));
        assert!(!err.to_string().contains("secret"));
        let err = SourceId::splunk(&url("https://u:secret@h:0"), None, "a", &idx(&["a"]), None)
            .unwrap_err();
        assert!(err.to_string().contains("port 0"), "{err}");
        assert!(!err.to_string().contains("secret"));
        let err = SourceId::splunk(&url("file:///etc/passwd"), None, "a", &idx(&["a"]), None)
            .unwrap_err();
        assert!(err.to_string().contains("file"));
    }

    // ---- Splunk namespace ----

    #[test]
    fn splunk_owner_defaults_to_nobody_and_app_keeps_its_case() {
        let id = splunk("https://h", &["notable"], None);
        assert_eq!(
            scope(&id).namespace,
            "servicesNS/nobody/SplunkEnterpriseSecuritySuite"
        );
        let id = SourceId::splunk(
            &url("https://h"),
            Some(" admin "),
            " search ",
            &idx(&["a"]),
            None,
        )
        .unwrap();
        assert_eq!(scope(&id).namespace, "servicesNS/admin/search");
        let id = SourceId::splunk(&url("https://h"), Some("-"), "-", &idx(&["a"]), None).unwrap();
        assert_eq!(scope(&id).namespace, "servicesNS/-/-");
    }

    #[test]
    fn splunk_scopes_in_different_apps_on_one_endpoint_still_conflict() {
        let a = SourceId::splunk(&url("https://h"), None, "search", &idx(&["acme"]), None).unwrap();
        let b = SourceId::splunk(
            &url("https://h"),
            Some("admin"),
            "SA-Acme",
            &idx(&["acme"]),
            None,
        )
        .unwrap();
        assert_ne!(a.canonical(), b.canonical());
        assert_eq!(a.binding_key(), b.binding_key());
        assert!(a.conflicts_with(&b));
    }

    #[test]
    fn invalid_splunk_owner_and_app_are_refused_naming_the_value() {
        for raw in ["", "  ", "a/b", "a b", "..", ".", "a?b", "a%2f", "a#b"] {
            assert_refused(
                SourceId::splunk(&url("https://h"), None, raw, &idx(&["a"]), None),
                raw,
                "non-empty",
            );
            assert_refused(
                SourceId::splunk(&url("https://h"), Some(raw), "search", &idx(&["a"]), None),
                raw,
                "non-empty",
            );
        }
    }

    // ---- Splunk indexes ----

    #[test]
    fn splunk_indexes_are_lowercased_deduplicated_and_sorted() {
        let id = splunk(
            "https://h",
            &[
                "Notable",
                " acme_prod ",
                "notable",
                "ACME_PROD",
                "_internal",
                "acme**",
            ],
            None,
        );
        assert_eq!(
            scope(&id).indexes,
            ["_internal", "acme*", "acme_prod", "notable"]
        );
        let same = splunk(
            "https://h",
            &["acme*", "notable,_internal", "acme_prod"],
            None,
        );
        assert_eq!(id, same);
        assert_eq!(id.canonical(), same.canonical());
    }

    #[test]
    fn splunk_index_wildcard_overlapping_a_name_conflicts() {
        let a = splunk("https://h", &["acme*"], None);
        let b = splunk("https://h:8089", &["ACME_PROD"], None);
        assert!(a.conflicts_with(&b));
        assert!(b.conflicts_with(&a));
    }

    #[test]
    fn splunk_disjoint_index_sets_do_not_conflict() {
        let a = splunk("https://h", &["acme*", "acme_notable"], None);
        let b = splunk("https://h", &["globex*", "initech"], None);
        assert!(!a.conflicts_with(&b));
        assert!(!b.conflicts_with(&a));
    }

    #[test]
    fn splunk_any_shared_index_in_the_lists_conflicts() {
        let a = splunk("https://h", &["acme", "shared"], None);
        let b = splunk("https://h", &["globex", "SHARED"], None);
        assert!(a.conflicts_with(&b));
        let star = splunk("https://h", &["*"], None);
        assert!(star.conflicts_with(&a));
    }

    #[test]
    fn splunk_empty_index_list_is_refused() {
        let err = SourceId::splunk(&url("https://h"), None, "search", &[], None).unwrap_err();
        assert!(err.to_string().contains("at least one index"), "{err}");
    }

    #[test]
    fn invalid_splunk_indexes_are_refused_naming_the_value() {
        for raw in [
            "",
            " ",
            "-acme",
            "acme prod",
            "acme.prod",
            "acme|x",
            "ac\"me",
            "índex",
            "a=b",
        ] {
            assert_refused(
                SourceId::splunk(&url("https://h"), None, "search", &idx(&[raw]), None),
                raw,
                "index names hold only",
            );
        }
        // An empty item inside a comma list names that item.
        assert_refused(
            SourceId::splunk(&url("https://h"), None, "search", &idx(&["a,,b"]), None),
            "",
            "index names hold only",
        );
    }

    // ---- Splunk scope filter ----

    #[test]
    fn splunk_filter_is_parsed_trimmed_and_its_glob_lowercased() {
        let id = splunk("https://h", &["notable"], Some(" orig_index = ACME** "));
        assert_eq!(
            scope(&id).filter,
            Some(ScopeFilter {
                field: "orig_index".into(),
                glob: "acme*".into()
            })
        );
        let quoted = splunk("https://h", &["notable"], Some("orig_index=\"acme*\""));
        assert_eq!(id, quoted);
    }

    #[test]
    fn splunk_filters_on_one_field_with_disjoint_globs_do_not_conflict() {
        let acme = splunk("https://h", &["notable"], Some("orig_index=acme*"));
        let globex = splunk("https://h", &["notable"], Some("orig_index=globex*"));
        assert_eq!(acme.binding_key(), globex.binding_key());
        assert!(!acme.conflicts_with(&globex));
        assert!(!globex.conflicts_with(&acme));
    }

    #[test]
    fn splunk_filters_on_one_field_with_overlapping_globs_conflict() {
        let acme = splunk("https://h", &["notable"], Some("orig_index=acme*"));
        let ac = splunk("https://h", &["notable"], Some("orig_index=ac*"));
        assert!(acme.conflicts_with(&ac));
        assert!(ac.conflicts_with(&acme));
        let exact = splunk("https://h", &["notable"], Some("orig_index=ACME_prod"));
        assert!(acme.conflicts_with(&exact));
    }

    #[test]
    fn splunk_filter_on_one_side_only_does_not_separate_scopes() {
        let filtered = splunk("https://h", &["notable"], Some("orig_index=acme*"));
        let open = splunk("https://h", &["notable"], None);
        assert!(filtered.conflicts_with(&open));
        assert!(open.conflicts_with(&filtered));
    }

    #[test]
    fn splunk_filters_on_different_fields_do_not_separate_scopes() {
        let a = splunk("https://h", &["notable"], Some("orig_index=acme*"));
        let b = splunk("https://h", &["notable"], Some("client=globex"));
        assert!(a.conflicts_with(&b));
        // Splunk field names are case-sensitive: these are two fields.
        let c = splunk("https://h", &["notable"], Some("Orig_Index=globex*"));
        assert!(a.conflicts_with(&c));
    }

    #[test]
    fn splunk_disjoint_filters_do_not_help_when_indexes_do_not_meet_anyway() {
        let a = splunk("https://h", &["acme"], Some("orig_index=x"));
        let b = splunk("https://h", &["globex"], Some("orig_index=x"));
        assert!(!a.conflicts_with(&b));
    }

    #[test]
    fn splunk_canonical_form_is_deterministic() {
        let a = splunk(
            "https://SPLUNK.example.com/",
            &["notable", "Acme*", "notable"],
            Some("orig_index=Acme*"),
        );
        assert_eq!(
            a.canonical(),
            "splunk:https://splunk.example.com:8089/servicesNS/nobody/SplunkEnterpriseSecuritySuite?index=acme*,notable&orig_index=acme*"
        );
        let b = splunk("https://h:8089", &["b", "a"], None);
        assert_eq!(
            b.canonical(),
            "splunk:https://h:8089/servicesNS/nobody/SplunkEnterpriseSecuritySuite?index=a,b"
        );
        assert_eq!(b.binding_key(), "splunk:https://h:8089");
    }

    #[test]
    fn invalid_splunk_filters_are_refused_naming_the_value() {
        for (raw, rule) in [
            ("orig_index", "FIELD=GLOB"),
            ("", "FIELD=GLOB"),
            ("=acme*", "field name"),
            ("1field=acme", "field name"),
            ("orig index=acme", "field name"),
            ("orig_index!=acme", "field name"),
            ("orig-index=acme", "field name"),
            ("orig_index=", "must not be empty"),
            ("orig_index=  ", "must not be empty"),
            ("orig_index=\"\"", "must not be empty"),
            ("orig_index=acme | delete", "may hold only"),
            ("orig_index=acme\"", "may hold only"),
            ("orig_index=a b", "may hold only"),
            ("orig_index=[search x]", "may hold only"),
            ("orig_index=a=b", "may hold only"),
            ("orig_index=`macro`", "may hold only"),
            ("orig_index=a\\b", "may hold only"),
        ] {
            assert_refused(
                SourceId::splunk(&url("https://h"), None, "search", &idx(&["a"]), Some(raw)),
                raw,
                rule,
            );
        }
    }

    // ---- across kinds, serde ----

    #[test]
    fn different_kinds_never_conflict() {
        let ids = [
            SourceId::crowdstrike(Cid::parse(CID).unwrap()),
            sentinel("public", SUB, "rg", "law-acme"),
            splunk("https://h", &["*"], None),
        ];
        for (i, a) in ids.iter().enumerate() {
            for (j, b) in ids.iter().enumerate() {
                assert_eq!(a.conflicts_with(b), i == j, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn source_ids_survive_a_serde_round_trip() {
        let u = url("https://splunk.example.com:443");
        let ids = [
            SourceId::crowdstrike(Cid::parse(&format!("{CID}-3F")).unwrap()),
            sentinel("usgov", &format!("{{{SUB}}}"), "RG-(Soc)", "LAW-Acme"),
            splunk("https://h", &["notable", "acme*"], Some("orig_index=acme*")),
            splunk("https://[::1]", &["a"], None),
            splunk("https://splunk.bücher.example", &["a"], None),
            SourceId::splunk_at(&u, 443, Some("admin"), "search", &idx(&["a"]), None).unwrap(),
        ];
        for id in ids {
            let json = serde_json::to_string(&id).unwrap();
            let back: SourceId = serde_json::from_str(&json).unwrap();
            assert_eq!(back, id, "{json}");
            assert_eq!(back.canonical(), id.canonical());
        }
    }

    #[test]
    fn source_id_json_shape_is_tagged_by_kind() {
        let id = SourceId::crowdstrike(Cid::parse(CID).unwrap());
        assert_eq!(
            serde_json::to_value(&id).unwrap(),
            serde_json::json!({"kind": "crowdstrike", "cid": CID})
        );
        let id = splunk("https://h", &["a"], Some("f=x"));
        assert_eq!(
            serde_json::to_value(&id).unwrap(),
            serde_json::json!({
                "kind": "splunk",
                "endpoint": "https://h:8089",
                "namespace": "servicesNS/nobody/SplunkEnterpriseSecuritySuite",
                "indexes": ["a"],
                "filter": {"field": "f", "glob": "x"}
            })
        );
    }

    #[test]
    fn deserializing_a_source_id_validates_and_normalises_it() {
        let json = serde_json::json!({
            "kind": "sentinel",
            "cloud": "Public",
            "resource_id": format!("/subscriptions/{{{}}}/resourceGroups/RG/providers/Microsoft.OperationalInsights/workspaces/LAW", SUB.to_uppercase()),
        });
        let id: SourceId = serde_json::from_value(json).unwrap();
        assert_eq!(id, sentinel("public", SUB, "rg", "law"));

        let json = serde_json::json!({
            "kind": "splunk",
            "endpoint": "https://H:8089",
            "namespace": "servicesNS/nobody/search",
            "indexes": ["B", "a", "a"],
            "filter": null
        });
        let id: SourceId = serde_json::from_value(json).unwrap();
        assert_eq!(scope(&id).endpoint, "https://h:8089");
        assert_eq!(scope(&id).indexes, ["a", "b"]);

        for bad in [
            serde_json::json!({"kind": "crowdstrike", "cid": "xyz"}),
            serde_json::json!({"kind": "sentinel", "cloud": "mars", "resource_id": "/x"}),
            serde_json::json!({"kind": "sentinel", "cloud": "public", "resource_id": "/x"}),
            serde_json::json!({"kind": "splunk", "endpoint": "https://h:8089",
                "namespace": "services/search", "indexes": ["a"], "filter": null}),
            serde_json::json!({"kind": "splunk", "endpoint": "https://h:8089",
                "namespace": "servicesNS/nobody/search", "indexes": [], "filter": null}),
            serde_json::json!({"kind": "splunk", "endpoint": "not a url",
                "namespace": "servicesNS/nobody/search", "indexes": ["a"], "filter": null}),
            serde_json::json!({"kind": "splunk", "endpoint": "https://h:8089",
                "namespace": "servicesNS/nobody/search", "indexes": ["a"],
                "filter": {"field": "f", "glob": "a|b"}}),
            serde_json::json!({"kind": "okta", "x": 1}),
        ] {
            assert!(
                serde_json::from_value::<SourceId>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
