//! CrowdStrike integration settings: which CID, which API client, which cloud.
//!
//! # `member_cid`
//! One integration reads one CID. By default that CID is an MSSP child (Falcon Flight Control):
//! the API client belongs to the parent, and every token is minted with `member_cid=<CID>`, which
//! scopes the token and every call made with it to that child. When the CID is the API client's
//! own (`own_cid`), no `member_cid` is sent, since the token is already scoped to it. The rule never
//! depends on guesswork at run time: sending `member_cid` for a child is what keeps a parent token
//! from reading the wrong tenant.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::source::Cid;
use crate::http::RateLimit;
use crate::settings::parse_base_url;
use crate::{SettingsError, SourceId};

/// Default look-back: late alerts up to this much older than the newest one are still picked up.
pub const DEFAULT_LOOK_BACK: Duration = Duration::from_secs(120);
/// Longest look-back accepted: the seen set holds every version inside it.
pub const MAX_LOOK_BACK: Duration = Duration::from_secs(24 * 3600);
/// Default requests per minute for one CID: below the vendor's 6,000 per minute per customer
/// account, which every API client of that account shares.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 5_000;
/// The vendor's own per-account ceiling; a higher setting could only earn 429s.
pub const VENDOR_RATE_LIMIT_PER_MINUTE: u32 = 6_000;
/// Default requests per minute shared by every integration of this process that uses one API
/// client on one API host (an MSSP parent client and all its child CIDs). Falcon's 6,000 per
/// minute is per customer account, and which account a `member_cid` token spends is not
/// documented, so all children of a parent are budgeted together, with a sixth left as
/// headroom for the customer's other API clients. Override with
/// [`HttpOptions::account_rate_limit`](crate::http::HttpOptions::account_rate_limit).
pub const DEFAULT_ACCOUNT_RATE_LIMIT_PER_MINUTE: u32 = 5_000;

/// Falcon clouds (regions) and their API hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    Us1,
    Us2,
    Us3,
    Eu1,
    UsGov1,
    UsGov2,
}

impl Cloud {
    pub const ALL: [Cloud; 6] = [
        Cloud::Us1,
        Cloud::Us2,
        Cloud::Us3,
        Cloud::Eu1,
        Cloud::UsGov1,
        Cloud::UsGov2,
    ];

    /// Accepts the names the SDKs accept: `us-2`, `US-2`, `us2`, `usgov1`, `gov1`, ... Also the
    /// value of the `X-Cs-Region` header.
    pub fn parse(raw: &str) -> Option<Cloud> {
        let key: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Some(match key.as_str() {
            "us1" => Cloud::Us1,
            "us2" => Cloud::Us2,
            "us3" => Cloud::Us3,
            "eu1" => Cloud::Eu1,
            "usgov1" | "gov1" => Cloud::UsGov1,
            "usgov2" | "gov2" => Cloud::UsGov2,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Us1 => "us-1",
            Cloud::Us2 => "us-2",
            Cloud::Us3 => "us-3",
            Cloud::Eu1 => "eu-1",
            Cloud::UsGov1 => "us-gov-1",
            Cloud::UsGov2 => "us-gov-2",
        }
    }

    /// The API base URL: the allow-list a region redirect may lead to.
    pub fn api_base(self) -> &'static str {
        match self {
            Cloud::Us1 => "https://api.crowdstrike.com",
            Cloud::Us2 => "https://api.us-2.crowdstrike.com",
            Cloud::Us3 => "https://api.us-3.crowdstrike.com",
            Cloud::Eu1 => "https://api.eu-1.crowdstrike.com",
            Cloud::UsGov1 => "https://api.laggar.gcw.crowdstrike.com",
            Cloud::UsGov2 => "https://api.us-gov-2.crowdstrike.mil",
        }
    }

    pub fn api_url(self) -> Url {
        // Proven invariant: the table above holds valid absolute URLs, and the
        // `every_cloud_has_a_valid_https_host` test parses every one of them.
        Url::parse(self.api_base()).expect("the cloud table holds valid URLs")
    }
}

/// Settings as an operator typed them (CLI flags); unvalidated.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub client_id: String,
    /// A bare CID or a CCID (`<32 hex>-XX`), any case.
    pub cid: String,
    /// `us-1|us-2|us-3|eu-1|us-gov-1|us-gov-2`; default `us-1`.
    pub cloud: Option<String>,
    /// Overrides the cloud's API host (a proxy or a mock).
    pub base_url: Option<String>,
    /// True when the CID is the API client's own: no `member_cid` is sent. Default false: an MSSP
    /// child CID, reached with `member_cid`.
    pub own_cid: bool,
    pub allow_insecure_http: bool,
    /// Default 2 minutes.
    pub look_back: Option<Duration>,
    /// Default 5,000 per minute; at most 6,000.
    pub rate_limit_per_minute: Option<u32>,
}

/// Validated settings of one CrowdStrike integration. Holds no secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Stored", into = "Stored")]
pub struct Settings {
    client_id: String,
    cid: Cid,
    cloud: Option<Cloud>,
    base_url: Option<Url>,
    own_cid: bool,
    allow_insecure_http: bool,
    look_back: Duration,
    rate_limit_per_minute: u32,
}

/// The JSON form in the store. Deserialising goes through [`Settings::validate`] again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    client_id: String,
    cid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cloud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base_url: Option<String>,
    #[serde(default)]
    own_cid: bool,
    #[serde(default)]
    allow_insecure_http: bool,
    look_back_ms: u64,
    rate_limit_per_minute: u32,
}

impl TryFrom<Stored> for Settings {
    type Error = SettingsError;
    fn try_from(s: Stored) -> Result<Settings, SettingsError> {
        Settings::validate(Params {
            client_id: s.client_id,
            cid: s.cid,
            cloud: s.cloud,
            base_url: s.base_url,
            own_cid: s.own_cid,
            allow_insecure_http: s.allow_insecure_http,
            look_back: Some(Duration::from_millis(s.look_back_ms)),
            rate_limit_per_minute: Some(s.rate_limit_per_minute),
        })
    }
}

impl From<Settings> for Stored {
    fn from(s: Settings) -> Stored {
        Stored {
            client_id: s.client_id,
            cid: s.cid.as_str().to_owned(),
            cloud: s.cloud.map(|c| c.as_str().to_owned()),
            base_url: s.base_url.map(String::from),
            own_cid: s.own_cid,
            allow_insecure_http: s.allow_insecure_http,
            look_back_ms: u64::try_from(s.look_back.as_millis()).unwrap_or(u64::MAX),
            rate_limit_per_minute: s.rate_limit_per_minute,
        }
    }
}

impl Settings {
    pub fn validate(p: Params) -> Result<Settings, SettingsError> {
        let client_id = validate_client_id(&p.client_id)?;
        let cid = Cid::parse(&p.cid)?;
        let cloud = match p.cloud.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(raw) => Some(Cloud::parse(raw).ok_or_else(|| {
                SettingsError::new(
                    "cloud",
                    raw,
                    "expected one of us-1, us-2, us-3, eu-1, us-gov-1, us-gov-2",
                )
            })?),
        };
        let base_url = match p
            .base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            None => None,
            Some(raw) => {
                let mut url = parse_base_url("base URL", raw, p.allow_insecure_http)?;
                // Endpoint paths are appended to it; a trailing slash would double up.
                let path = url.path().trim_end_matches('/').to_owned();
                url.set_path(&path);
                Some(url)
            }
        };
        let look_back = p.look_back.unwrap_or(DEFAULT_LOOK_BACK);
        if look_back > MAX_LOOK_BACK {
            return Err(SettingsError::new(
                "look-back",
                format!("{}s", look_back.as_secs()),
                "at most 24 hours: every alert version inside the look-back is remembered",
            ));
        }
        // Stored in whole milliseconds; the window is floored to the millisecond anyway.
        let look_back = Duration::from_millis(u64::try_from(look_back.as_millis()).unwrap_or(0));
        let rate = p
            .rate_limit_per_minute
            .unwrap_or(DEFAULT_RATE_LIMIT_PER_MINUTE);
        if rate == 0 || rate > VENDOR_RATE_LIMIT_PER_MINUTE {
            return Err(SettingsError::new(
                "rate limit per minute",
                rate.to_string(),
                "must be between 1 and 6000 (the vendor's per-account limit)",
            ));
        }
        Ok(Settings {
            client_id,
            cid,
            cloud,
            base_url,
            own_cid: p.own_cid,
            allow_insecure_http: p.allow_insecure_http,
            look_back,
            rate_limit_per_minute: rate,
        })
    }

    /// `crowdstrike:<cid>`: the CID alone; neither the cloud nor the API client is identity.
    pub fn source_id(&self) -> SourceId {
        SourceId::crowdstrike(self.cid.clone())
    }

    /// A rotation may bring a new API client; the CID, and so the source, stays.
    pub fn with_client_id(&self, client_id: &str) -> Result<Settings, SettingsError> {
        Ok(Settings {
            client_id: validate_client_id(client_id)?,
            ..self.clone()
        })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    /// The configured cloud; `None` means US-1 unless a base URL overrides it.
    pub fn cloud(&self) -> Option<Cloud> {
        self.cloud
    }

    pub fn base_url_override(&self) -> Option<&Url> {
        self.base_url.as_ref()
    }

    /// Where requests go first: the base URL override, else the cloud's API host.
    pub fn api_base(&self) -> Url {
        match &self.base_url {
            Some(u) => u.clone(),
            None => self.cloud.unwrap_or(Cloud::Us1).api_url(),
        }
    }

    pub fn own_cid(&self) -> bool {
        self.own_cid
    }

    /// The `member_cid` to send when minting: the CID, unless it is the API client's own.
    pub fn member_cid(&self) -> Option<&str> {
        (!self.own_cid).then(|| self.cid.as_str())
    }

    pub fn allow_insecure_http(&self) -> bool {
        self.allow_insecure_http
    }

    pub fn look_back(&self) -> Duration {
        self.look_back
    }

    pub fn rate_limit(&self) -> RateLimit {
        RateLimit::per_minute(self.rate_limit_per_minute)
    }
}

/// Falcon client ids are 32 hex digits; any id of URL-safe characters is accepted so a renamed
/// format or a test fixture does not lock anyone out, but whitespace and separators are not.
fn validate_client_id(raw: &str) -> Result<String, SettingsError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(SettingsError::new("client id", raw, "must not be empty"));
    }
    if id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(SettingsError::new(
            "client id",
            raw,
            "expected the API client id (letters, digits, '-', '_' or '.')",
        ));
    }
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: &str = "92012896127c4a948236ba7601b886b0";

    fn params() -> Params {
        Params {
            client_id: "0123456789abcdef0123456789abcdef".into(),
            cid: CID.into(),
            ..Params::default()
        }
    }

    #[test]
    fn defaults_to_us1_member_cid_two_minute_look_back_and_5000_per_minute() {
        let s = Settings::validate(params()).unwrap();
        assert_eq!(s.api_base().as_str(), "https://api.crowdstrike.com/");
        assert_eq!(s.member_cid(), Some(CID));
        assert_eq!(s.look_back(), Duration::from_secs(120));
        assert_eq!(s.rate_limit(), RateLimit::per_minute(5000));
        assert!(s.rate_limit().requests < 6000);
    }

    #[test]
    fn own_cid_sends_no_member_cid() {
        let s = Settings::validate(Params {
            own_cid: true,
            ..params()
        })
        .unwrap();
        assert_eq!(s.member_cid(), None);
    }

    #[test]
    fn spelling_variants_of_one_cid_give_one_source_id() {
        let base = Settings::validate(params()).unwrap().source_id();
        for spelling in [
            "92012896127C4A948236BA7601B886B0",
            "92012896127c4a948236ba7601b886b0-4F",
            "  92012896127C4A948236BA7601B886B0-a1 ",
        ] {
            let s = Settings::validate(Params {
                cid: spelling.into(),
                cloud: Some("EU-1".into()),
                ..params()
            })
            .unwrap();
            assert_eq!(s.source_id(), base, "{spelling}");
            assert_eq!(s.member_cid(), Some(CID));
        }
        // Another API client or base URL reaching the same CID is still the same source.
        let other = Settings::validate(Params {
            client_id: "parent".into(),
            base_url: Some("http://127.0.0.1:9/".into()),
            allow_insecure_http: true,
            ..params()
        })
        .unwrap();
        assert_eq!(other.source_id(), base);
        assert_eq!(base.canonical(), format!("crowdstrike:{CID}"));
    }

    #[test]
    fn cloud_names_in_any_spelling() {
        for (raw, host) in [
            ("us-1", "https://api.crowdstrike.com/"),
            ("US-2", "https://api.us-2.crowdstrike.com/"),
            ("us3", "https://api.us-3.crowdstrike.com/"),
            ("eu-1", "https://api.eu-1.crowdstrike.com/"),
            ("us-gov-1", "https://api.laggar.gcw.crowdstrike.com/"),
            ("gov2", "https://api.us-gov-2.crowdstrike.mil/"),
        ] {
            let s = Settings::validate(Params {
                cloud: Some(raw.into()),
                ..params()
            })
            .unwrap();
            assert_eq!(s.api_base().as_str(), host, "{raw}");
        }
    }

    #[test]
    fn every_cloud_has_a_valid_https_host() {
        for c in Cloud::ALL {
            let u = Url::parse(c.api_base()).unwrap();
            assert_eq!(u.scheme(), "https");
            assert_eq!(Cloud::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn base_url_overrides_the_cloud_and_loses_its_trailing_slash() {
        let s = Settings::validate(Params {
            cloud: Some("us-2".into()),
            base_url: Some("https://falcon-proxy.example/api/".into()),
            ..params()
        })
        .unwrap();
        assert_eq!(s.api_base().as_str(), "https://falcon-proxy.example/api");
    }

    #[test]
    fn errors_name_the_field_and_value() {
        let cases: [(Params, &str, &str); 7] = [
            (
                Params {
                    cid: "acme".into(),
                    ..params()
                },
                "CID",
                "acme",
            ),
            (
                Params {
                    cid: format!("{CID}-zz"),
                    ..params()
                },
                "CID",
                "-zz",
            ),
            (
                Params {
                    client_id: " ".into(),
                    ..params()
                },
                "client id",
                " ",
            ),
            (
                Params {
                    client_id: "a b".into(),
                    ..params()
                },
                "client id",
                "a b",
            ),
            (
                Params {
                    cloud: Some("mars-1".into()),
                    ..params()
                },
                "cloud",
                "mars-1",
            ),
            (
                Params {
                    base_url: Some("http://127.0.0.1:9".into()),
                    ..params()
                },
                "base URL",
                "http://127.0.0.1:9",
            ),
            (
                Params {
                    rate_limit_per_minute: Some(6001),
                    ..params()
                },
                "rate limit per minute",
                "6001",
            ),
        ];
        for (p, field, value) in cases {
            let e = Settings::validate(p).unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.value.contains(value), "{e}");
            assert!(e.to_string().contains(value), "{e}");
        }
        let e = Settings::validate(Params {
            look_back: Some(Duration::from_secs(2 * 86_400)),
            ..params()
        })
        .unwrap_err();
        assert_eq!(e.field, "look-back");
    }

    #[test]
    fn json_round_trip_validates_again() {
        let s = Settings::validate(Params {
            cloud: Some("eu-1".into()),
            look_back: Some(Duration::from_secs(300)),
            ..params()
        })
        .unwrap();
        let json = serde_json::to_value(&s).unwrap();
        let back: Settings = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, s);
        let mut tampered = json.clone();
        tampered["cid"] = "not-a-cid".into();
        assert!(serde_json::from_value::<Settings>(tampered).is_err());
        let mut tampered = json;
        tampered["base_url"] = "http://evil.example".into();
        assert!(serde_json::from_value::<Settings>(tampered).is_err());
    }

    #[test]
    fn round_trips_inside_the_registry_enum() {
        let s = crate::Settings::Crowdstrike(Settings::validate(params()).unwrap());
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""kind":"crowdstrike""#), "{json}");
        let back: crate::Settings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn rotation_changes_the_client_id_only() {
        let s = Settings::validate(params()).unwrap();
        let r = s
            .with_client_id("fedcba9876543210fedcba9876543210")
            .unwrap();
        assert_eq!(r.client_id(), "fedcba9876543210fedcba9876543210");
        assert_eq!(r.source_id(), s.source_id());
        assert!(s.with_client_id("").is_err());
    }
}
