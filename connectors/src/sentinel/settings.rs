//! Sentinel settings: what the operator typed ([`Params`]) and its validated form ([`Settings`]).
//!
//! The source identity is the cloud plus the workspace's ARM resource id. The tenant id and the
//! client id are access attributes only: under Azure Lighthouse an MSSP's own tenant reaches the
//! customer's workspace, so two different tenant ids can name one source.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::source::{parse_guid, resource_group_name, workspace_name_of};
use crate::settings::parse_base_url;
use crate::{SettingsError, SourceId};

/// The api-version sent on every ARM call unless overridden.
///
/// `2024-03-01` rather than the spec's newest stable (`2025-12-01`): it is the version the two
/// most widely deployed Sentinel integrations (XSOAR, Elastic) run against, its `Incidents_List`
/// contract (`$top` ≤ 1000, `nextLink`) is the one documented in the vendor facts, and a version
/// that has been out for years is served in every national cloud, where new versions arrive late.
pub const DEFAULT_API_VERSION: &str = "2024-03-01";

/// Default look-back behind the high-water mark, for incidents that become visible late.
pub const DEFAULT_LOOK_BACK: Duration = Duration::from_secs(5 * 60);

/// Look-backs above this are refused: every pull re-reads the whole window, and XSOAR's
/// maintainers report memory trouble beyond an hour.
pub const MAX_LOOK_BACK: Duration = Duration::from_secs(24 * 60 * 60);

/// Default request quota per integration (ARM reads).
///
/// ARM's legacy limit is 12,000 reads per hour per principal and subscription (200/min). We take
/// 60% of that, so an MSSP principal that serves two workspaces in one subscription, or also runs
/// other automation there, stays under the subscription's quota.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 120;

/// Unvalidated settings as the operator typed them (CLI flags).
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub tenant_id: String,
    pub client_id: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub workspace_name: String,
    /// `public` (default), `usgov` or `china`.
    pub cloud: Option<String>,
    /// Overrides the cloud's login host (tests, mocks). The token URL is
    /// `<authority_url>/<tenant>/oauth2/v2.0/token`.
    pub authority_url: Option<String>,
    /// Overrides the cloud's ARM host (tests, mocks).
    pub management_url: Option<String>,
    /// Default [`DEFAULT_API_VERSION`].
    pub api_version: Option<String>,
    /// Default [`DEFAULT_LOOK_BACK`]; at most [`MAX_LOOK_BACK`]. Rounded up to whole seconds.
    pub look_back: Option<Duration>,
    /// Also fetch each new incident's alerts (POST `…/incidents/{id}/alerts`), under a per-fetch
    /// budget, and add them to `raw` as `seliqAlerts`.
    pub with_alerts: bool,
    pub allow_insecure_http: bool,
    /// Default [`DEFAULT_RATE_LIMIT_PER_MINUTE`].
    pub rate_limit_per_minute: Option<u32>,
}

/// An Azure cloud: its login (Entra ID) and ARM hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    Public,
    UsGov,
    China,
}

impl Cloud {
    pub fn parse(raw: &str) -> Result<Cloud, SettingsError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "public" | "azurecloud" | "azurepubliccloud" => Ok(Cloud::Public),
            "usgov" | "azureusgovernment" | "azureusgovernmentcloud" => Ok(Cloud::UsGov),
            "china" | "azurechinacloud" => Ok(Cloud::China),
            _ => Err(SettingsError::new(
                "cloud",
                raw,
                "expected public, usgov or china",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Public => "public",
            Cloud::UsGov => "usgov",
            Cloud::China => "china",
        }
    }

    pub fn login_host(self) -> &'static str {
        match self {
            Cloud::Public => "https://login.microsoftonline.com",
            Cloud::UsGov => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    pub fn management_host(self) -> &'static str {
        match self {
            Cloud::Public => "https://management.azure.com",
            Cloud::UsGov => "https://management.usgovcloudapi.net",
            Cloud::China => "https://management.chinacloudapi.cn",
        }
    }

    /// The OAuth2 scope for ARM. A token's audience names the resource, not the host we send the
    /// request to, so an overridden management URL (a proxy, a mock) keeps the cloud's scope.
    pub fn arm_scope(self) -> String {
        format!("{}/.default", self.management_host())
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validated, non-secret settings of one Sentinel integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Stored", into = "Stored")]
pub struct Settings {
    tenant_id: String,
    client_id: String,
    subscription_id: String,
    resource_group: String,
    workspace_name: String,
    cloud: Cloud,
    authority_url: Option<Url>,
    management_url: Option<Url>,
    api_version: String,
    look_back: Duration,
    with_alerts: bool,
    allow_insecure_http: bool,
    rate_limit_per_minute: u32,
    source: SourceId,
}

impl Settings {
    pub fn validate(p: Params) -> Result<Settings, SettingsError> {
        let tenant_id = parse_tenant(&p.tenant_id)?;
        let client_id = parse_guid("client id", &p.client_id)?;
        let subscription_id = parse_guid("subscription id", &p.subscription_id)?;
        let resource_group = resource_group_name(&p.resource_group)?.to_owned();
        let workspace_name = workspace_name_of(&p.workspace_name)?.to_owned();
        let cloud = match p.cloud.as_deref() {
            None => Cloud::Public,
            Some(c) => Cloud::parse(c)?,
        };
        let authority_url = p
            .authority_url
            .as_deref()
            .map(|u| parse_base_url("authority URL", u, p.allow_insecure_http))
            .transpose()?;
        let management_url = p
            .management_url
            .as_deref()
            .map(|u| parse_base_url("management URL", u, p.allow_insecure_http))
            .transpose()?;
        let api_version = match p.api_version.as_deref() {
            None => DEFAULT_API_VERSION.to_owned(),
            Some(v) => parse_api_version(v)?,
        };
        let look_back = match p.look_back {
            None => DEFAULT_LOOK_BACK,
            Some(d) if d > MAX_LOOK_BACK => {
                return Err(SettingsError::new(
                    "look-back",
                    format!("{}s", d.as_secs()),
                    "at most 24 hours",
                ));
            }
            Some(d) => Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0)),
        };
        let rate_limit_per_minute = match p.rate_limit_per_minute {
            None => DEFAULT_RATE_LIMIT_PER_MINUTE,
            Some(0) => {
                return Err(SettingsError::new(
                    "rate limit per minute",
                    "0",
                    "must be at least 1",
                ));
            }
            Some(n) => n,
        };
        let source = SourceId::sentinel(
            cloud.as_str(),
            &subscription_id,
            &resource_group,
            &workspace_name,
        )?;
        Ok(Settings {
            tenant_id,
            client_id,
            subscription_id,
            resource_group,
            workspace_name,
            cloud,
            authority_url,
            management_url,
            api_version,
            look_back,
            with_alerts: p.with_alerts,
            allow_insecure_http: p.allow_insecure_http,
            rate_limit_per_minute,
            source,
        })
    }

    pub fn source_id(&self) -> SourceId {
        self.source.clone()
    }

    /// A rotation may move to another app registration in the same tenant; the source is unchanged.
    pub fn with_client_id(&self, client_id: &str) -> Result<Settings, SettingsError> {
        Ok(Settings {
            client_id: parse_guid("client id", client_id)?,
            ..self.clone()
        })
    }

    /// Lowercase tenant GUID, or a lowercase verified domain (`contoso.onmicrosoft.com`).
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// Lowercase application (client) id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Lowercase subscription GUID without braces.
    pub fn subscription_id(&self) -> &str {
        &self.subscription_id
    }

    /// As typed (trimmed): ARM names are case-insensitive, so the operator's spelling is kept for
    /// URLs and display; the source id lowercases it.
    pub fn resource_group(&self) -> &str {
        &self.resource_group
    }

    pub fn workspace_name(&self) -> &str {
        &self.workspace_name
    }

    pub fn cloud(&self) -> Cloud {
        self.cloud
    }

    /// The login host: the override when set, else the cloud's.
    pub fn authority_url(&self) -> String {
        match &self.authority_url {
            Some(u) => u.as_str().trim_end_matches('/').to_owned(),
            None => self.cloud.login_host().to_owned(),
        }
    }

    /// The ARM host: the override when set, else the cloud's.
    pub fn management_url(&self) -> String {
        match &self.management_url {
            Some(u) => u.as_str().trim_end_matches('/').to_owned(),
            None => self.cloud.management_host().to_owned(),
        }
    }

    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_url(),
            self.tenant_id
        )
    }

    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    pub fn look_back(&self) -> Duration {
        self.look_back
    }

    pub fn with_alerts(&self) -> bool {
        self.with_alerts
    }

    pub fn allow_insecure_http(&self) -> bool {
        self.allow_insecure_http
    }

    pub fn rate_limit_per_minute(&self) -> u32 {
        self.rate_limit_per_minute
    }

    fn to_params(&self) -> Params {
        Params {
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            subscription_id: self.subscription_id.clone(),
            resource_group: self.resource_group.clone(),
            workspace_name: self.workspace_name.clone(),
            cloud: Some(self.cloud.as_str().to_owned()),
            authority_url: self.authority_url.as_ref().map(|u| u.to_string()),
            management_url: self.management_url.as_ref().map(|u| u.to_string()),
            api_version: Some(self.api_version.clone()),
            look_back: Some(self.look_back),
            with_alerts: self.with_alerts,
            allow_insecure_http: self.allow_insecure_http,
            rate_limit_per_minute: Some(self.rate_limit_per_minute),
        }
    }
}

/// The stored JSON form. Reading it runs [`Settings::validate`] again, so a hand-edited row
/// cannot smuggle in an invalid value.
#[derive(Serialize, Deserialize)]
struct Stored {
    tenant_id: String,
    client_id: String,
    subscription_id: String,
    resource_group: String,
    workspace_name: String,
    cloud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authority_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    management_url: Option<String>,
    api_version: String,
    look_back_secs: u64,
    #[serde(default)]
    with_alerts: bool,
    #[serde(default)]
    allow_insecure_http: bool,
    rate_limit_per_minute: u32,
}

impl From<Settings> for Stored {
    fn from(s: Settings) -> Stored {
        let p = s.to_params();
        Stored {
            tenant_id: p.tenant_id,
            client_id: p.client_id,
            subscription_id: p.subscription_id,
            resource_group: p.resource_group,
            workspace_name: p.workspace_name,
            cloud: s.cloud.as_str().to_owned(),
            authority_url: p.authority_url,
            management_url: p.management_url,
            api_version: s.api_version,
            look_back_secs: s.look_back.as_secs(),
            with_alerts: s.with_alerts,
            allow_insecure_http: s.allow_insecure_http,
            rate_limit_per_minute: s.rate_limit_per_minute,
        }
    }
}

impl TryFrom<Stored> for Settings {
    type Error = SettingsError;
    fn try_from(s: Stored) -> Result<Settings, SettingsError> {
        Settings::validate(Params {
            tenant_id: s.tenant_id,
            client_id: s.client_id,
            subscription_id: s.subscription_id,
            resource_group: s.resource_group,
            workspace_name: s.workspace_name,
            cloud: Some(s.cloud),
            authority_url: s.authority_url,
            management_url: s.management_url,
            api_version: Some(s.api_version),
            look_back: Some(Duration::from_secs(s.look_back_secs)),
            with_alerts: s.with_alerts,
            allow_insecure_http: s.allow_insecure_http,
            rate_limit_per_minute: Some(s.rate_limit_per_minute),
        })
    }
}

/// The directory (tenant) id: a GUID, or a domain name verified in the tenant
/// (`contoso.onmicrosoft.com`), which the token endpoint accepts in the same path segment.
/// `common`, `organizations` and `consumers` are refused: the client-credentials grant needs
/// one specific tenant.
fn parse_tenant(raw: &str) -> Result<String, SettingsError> {
    if let Ok(g) = parse_guid("tenant id", raw) {
        return Ok(g);
    }
    let t = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels_ok = t.len() <= 253
        && t.contains('.')
        && t.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if labels_ok {
        Ok(t)
    } else {
        Err(SettingsError::new(
            "tenant id",
            raw,
            "expected the directory (tenant) GUID or a verified domain such as contoso.onmicrosoft.com",
        ))
    }
}

/// `YYYY-MM-DD`, optionally `-preview`.
fn parse_api_version(raw: &str) -> Result<String, SettingsError> {
    let t = raw.trim();
    let date = t.strip_suffix("-preview").unwrap_or(t);
    let ok = date.len() == 10
        && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok()
        && date.as_bytes()[4] == b'-';
    if ok {
        Ok(t.to_owned())
    } else {
        Err(SettingsError::new(
            "api-version",
            raw,
            "expected a date like 2024-03-01, optionally with -preview",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "6b1ceb4f-3f0e-4b2c-9f7a-0a1b2c3d4e5f";
    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

    fn params() -> Params {
        Params {
            tenant_id: TENANT.into(),
            client_id: CLIENT.into(),
            subscription_id: SUB.into(),
            resource_group: "Acme-SOC".into(),
            workspace_name: "acme-sentinel".into(),
            ..Params::default()
        }
    }

    #[test]
    fn applies_documented_defaults() {
        let s = Settings::validate(params()).unwrap();
        assert_eq!(s.cloud(), Cloud::Public);
        assert_eq!(s.api_version(), "2024-03-01");
        assert_eq!(s.look_back(), Duration::from_secs(300));
        assert_eq!(s.rate_limit_per_minute(), 120);
        assert_eq!(s.management_url(), "https://management.azure.com");
        assert_eq!(
            s.token_url(),
            format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token")
        );
        assert_eq!(
            s.cloud().arm_scope(),
            "https://management.azure.com/.default"
        );
    }

    #[test]
    fn sovereign_clouds_use_their_own_hosts() {
        let s = Settings::validate(Params {
            cloud: Some("USGov".into()),
            ..params()
        })
        .unwrap();
        assert_eq!(s.authority_url(), "https://login.microsoftonline.us");
        assert_eq!(s.management_url(), "https://management.usgovcloudapi.net");
        assert_eq!(
            s.cloud().arm_scope(),
            "https://management.usgovcloudapi.net/.default"
        );
        let c = Settings::validate(Params {
            cloud: Some("china".into()),
            ..params()
        })
        .unwrap();
        assert_eq!(c.authority_url(), "https://login.chinacloudapi.cn");
        assert_eq!(c.management_url(), "https://management.chinacloudapi.cn");
    }

    #[test]
    fn spelling_variants_give_the_same_source_id() {
        let base = Settings::validate(params()).unwrap().source_id();
        let variants = [
            Params {
                subscription_id: format!("{{{}}}", SUB.to_uppercase()),
                ..params()
            },
            Params {
                resource_group: "ACME-soc".into(),
                workspace_name: " ACME-Sentinel ".into(),
                ..params()
            },
            Params {
                tenant_id: "contoso.onmicrosoft.com".into(),
                ..params()
            },
            Params {
                tenant_id: "99999999-8888-7777-6666-555555555555".into(),
                client_id: "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE".into(),
                ..params()
            },
            Params {
                cloud: Some("Public".into()),
                management_url: Some("http://127.0.0.1:9".into()),
                allow_insecure_http: true,
                ..params()
            },
        ];
        for v in variants {
            let p = format!("{v:?}");
            assert_eq!(Settings::validate(v).unwrap().source_id(), base, "{p}");
        }
        assert_eq!(
            base.canonical(),
            format!(
                "sentinel:public:/subscriptions/{SUB}/resourcegroups/acme-soc/providers/microsoft.operationalinsights/workspaces/acme-sentinel"
            )
        );
    }

    #[test]
    fn another_cloud_or_workspace_is_another_source() {
        let base = Settings::validate(params()).unwrap().source_id();
        let gov = Settings::validate(Params {
            cloud: Some("usgov".into()),
            ..params()
        })
        .unwrap();
        assert_ne!(gov.source_id(), base);
        let other = Settings::validate(Params {
            workspace_name: "acme-sentinel-2".into(),
            ..params()
        })
        .unwrap();
        assert_ne!(other.source_id(), base);
    }

    #[test]
    fn refuses_bad_values_naming_the_field() {
        let cases: [(Params, &str); 9] = [
            (
                Params {
                    tenant_id: "common".into(),
                    ..params()
                },
                "tenant id",
            ),
            (
                Params {
                    client_id: "not-a-guid".into(),
                    ..params()
                },
                "client id",
            ),
            (
                Params {
                    subscription_id: "1234".into(),
                    ..params()
                },
                "subscription id",
            ),
            (
                Params {
                    resource_group: "rg.".into(),
                    ..params()
                },
                "Azure resource group",
            ),
            (
                Params {
                    workspace_name: "-ws".into(),
                    ..params()
                },
                "Log Analytics workspace name",
            ),
            (
                Params {
                    cloud: Some("mars".into()),
                    ..params()
                },
                "cloud",
            ),
            (
                Params {
                    management_url: Some("http://127.0.0.1:9".into()),
                    ..params()
                },
                "management URL",
            ),
            (
                Params {
                    api_version: Some("latest".into()),
                    ..params()
                },
                "api-version",
            ),
            (
                Params {
                    look_back: Some(Duration::from_secs(2 * 86_400)),
                    ..params()
                },
                "look-back",
            ),
        ];
        for (p, field) in cases {
            let err = Settings::validate(p).unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn round_trips_through_json_and_validates_on_read() {
        let s = Settings::validate(Params {
            authority_url: Some("http://127.0.0.1:8080/".into()),
            management_url: Some("http://127.0.0.1:8080".into()),
            allow_insecure_http: true,
            look_back: Some(Duration::from_millis(1500)),
            with_alerts: true,
            ..params()
        })
        .unwrap();
        assert_eq!(s.look_back(), Duration::from_secs(2));
        let json = serde_json::to_string(&s).unwrap();
        let back: Settings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.authority_url(), "http://127.0.0.1:8080");

        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["allow_insecure_http"] = serde_json::Value::Bool(false);
        assert!(serde_json::from_value::<Settings>(v).is_err());
    }

    #[test]
    fn rotation_changes_only_the_client_id() {
        let s = Settings::validate(params()).unwrap();
        let r = s
            .with_client_id("{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}")
            .unwrap();
        assert_eq!(r.client_id(), "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
        assert_eq!(r.source_id(), s.source_id());
        assert!(s.with_client_id("nope").is_err());
    }
}
