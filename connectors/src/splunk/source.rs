//! Splunk source rules: the management endpoint, the `servicesNS/<owner>/<app>` namespace, the
//! index list and the optional scope filter that make up one search scope (see
//! [`crate::SourceId`]).

use serde::{Deserialize, Serialize};

use crate::SettingsError;
use crate::glob;

/// Splunk's management (REST) port when the URL names none.
pub const SPLUNK_DEFAULT_PORT: u16 = 8089;
/// Splunk's owner for app- and global-shared objects.
pub const SPLUNK_DEFAULT_OWNER: &str = "nobody";
/// One optional field restriction on a Splunk scope, e.g. `orig_index=acme*`.
///
/// The field name keeps its case (Splunk field names are case-sensitive); the glob is lowercased
/// (Splunk compares `field=value` terms case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScopeFilter {
    pub field: String,
    pub glob: String,
}

impl ScopeFilter {
    /// Parses `FIELD=GLOB`, e.g. `orig_index=acme*` or `orig_index="acme*"`.
    pub fn parse(raw: &str) -> Result<ScopeFilter, SettingsError> {
        const FIELD: &str = "scope filter";
        let Some((field, value)) = raw.split_once('=') else {
            return Err(SettingsError::new(
                FIELD,
                raw,
                "expected FIELD=GLOB, e.g. orig_index=acme*",
            ));
        };
        let field = field.trim();
        let mut chars = field.chars();
        let field_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !field_ok {
            return Err(SettingsError::new(
                FIELD,
                raw,
                format!(
                    "field name {field:?} must start with a letter or underscore and hold only \
                     ASCII letters, digits, underscores and periods"
                ),
            ));
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let glob = glob::normalize(value);
        if glob.is_empty() {
            return Err(SettingsError::new(
                FIELD,
                raw,
                "the value after = must not be empty (use * to match any value)",
            ));
        }
        // The glob ends up inside an SPL search; anything that could close a term or start a
        // command (quotes, pipes, brackets, spaces, backslashes) is refused, not escaped.
        if !glob
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.:@/+*".contains(c))
        {
            return Err(SettingsError::new(
                FIELD,
                raw,
                format!(
                    "value {value:?} may hold only letters, digits, `*` and the characters _ - . : @ / +"
                ),
            ));
        }
        Ok(ScopeFilter {
            field: field.to_owned(),
            glob,
        })
    }
}

/// What a Splunk integration searches on one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "SplunkScopeRepr")]
pub struct SplunkScope {
    /// `https://host:port`, lowercase host (punycode), explicit port.
    pub endpoint: String,
    /// `servicesNS/<owner>/<app>`.
    pub namespace: String,
    /// Sorted, deduplicated, lowercase index names or globs.
    pub indexes: Vec<String>,
    pub filter: Option<ScopeFilter>,
}

impl SplunkScope {
    pub(crate) fn build(
        url: &url::Url,
        port: u16,
        owner: Option<&str>,
        app: &str,
        indexes: &[String],
        filter: Option<&str>,
    ) -> Result<SplunkScope, SettingsError> {
        let endpoint = splunk_endpoint(url, port)?;
        let owner = match owner {
            Some(o) => namespace_part("Splunk owner", o)?,
            None => SPLUNK_DEFAULT_OWNER.to_owned(),
        };
        let app = namespace_part("Splunk app", app)?;
        let indexes = index_list(indexes)?;
        let filter = filter.map(ScopeFilter::parse).transpose()?;
        Ok(SplunkScope {
            endpoint,
            namespace: format!("servicesNS/{owner}/{app}"),
            indexes,
            filter,
        })
    }

    /// True when both scopes can return a common event: same endpoint, some pair of index globs
    /// can name one index, and no filter on a shared field keeps them apart.
    ///
    /// The namespaces are not compared: an app namespace decides which macros and saved searches
    /// resolve, not which index data a search can read.
    pub fn conflicts_with(&self, other: &SplunkScope) -> bool {
        self.endpoint == other.endpoint && self.scopes_overlap(other)
    }

    /// The scope part of [`SplunkScope::conflicts_with`], for two endpoints already known to be
    /// one server (same server GUID under different URLs).
    pub fn scopes_overlap(&self, other: &SplunkScope) -> bool {
        let indexes_meet = self
            .indexes
            .iter()
            .any(|a| other.indexes.iter().any(|b| glob::can_overlap(a, b)));
        if !indexes_meet {
            return false;
        }
        // A filter on one side only, or on different fields, leaves the other scope free to read
        // any value of that field, so only same-field filters can separate two scopes.
        match (&self.filter, &other.filter) {
            (Some(a), Some(b)) if a.field == b.field => glob::can_overlap(&a.glob, &b.glob),
            _ => true,
        }
    }
}

/// The serialized shape of [`SplunkScope`]; deserializing validates and normalises it again, so a
/// scope read back from storage obeys the same rules as one built from settings.
#[derive(Deserialize)]
struct SplunkScopeRepr {
    endpoint: String,
    namespace: String,
    indexes: Vec<String>,
    filter: Option<ScopeFilter>,
}

impl TryFrom<SplunkScopeRepr> for SplunkScope {
    type Error = SettingsError;
    fn try_from(r: SplunkScopeRepr) -> Result<Self, Self::Error> {
        let url = url::Url::parse(&r.endpoint).map_err(|e| {
            SettingsError::new("Splunk endpoint", &r.endpoint, format!("not a URL ({e})"))
        })?;
        // A canonical endpoint always spells its port, so a missing one is the scheme default.
        let port = url.port_or_known_default().unwrap_or(SPLUNK_DEFAULT_PORT);
        let (owner, app) = r
            .namespace
            .strip_prefix("servicesNS/")
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| {
                SettingsError::new(
                    "Splunk namespace",
                    &r.namespace,
                    "expected servicesNS/<owner>/<app>",
                )
            })?;
        let filter = r.filter.map(|f| format!("{}={}", f.field, f.glob));
        SplunkScope::build(&url, port, Some(owner), app, &r.indexes, filter.as_deref())
    }
}

/// The port a Splunk management URL means. `url` drops a port equal to the scheme default, so
/// only the operator's text tells `https://h` (Splunk's 8089) from `https://h:443` (443).
/// `raw` is the text `url` was parsed from.
pub fn splunk_port(raw: &str, url: &url::Url) -> u16 {
    if let Some(p) = url.port() {
        return p;
    }
    if has_explicit_port(raw) {
        url.port_or_known_default().unwrap_or(SPLUNK_DEFAULT_PORT)
    } else {
        SPLUNK_DEFAULT_PORT
    }
}

/// True when the authority of `raw` (`scheme://[userinfo@]host[:port]/...`) spells a port.
fn has_explicit_port(raw: &str) -> bool {
    let rest = raw.trim().split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // An IPv6 literal holds colons of its own; the port can only follow its closing bracket.
    let after_host = match host_port.rsplit_once(']') {
        Some((_, tail)) => tail,
        None => host_port,
    };
    after_host
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty())
}

/// `scheme://host:port`: lowercase punycode host without a trailing dot, explicit port.
fn splunk_endpoint(url: &url::Url, port: u16) -> Result<String, SettingsError> {
    let scheme = url.scheme();
    if scheme != "https" && scheme != "http" {
        return Err(SettingsError::new(
            "Splunk URL",
            redacted(url),
            format!("scheme {scheme:?} is not http(s)"),
        ));
    }
    let host = match url.host() {
        // `url` already maps special-scheme domains through IDNA (lowercase punycode); the
        // lowercase here only guards against that ever changing.
        Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => format!("[{a}]"),
        None => String::new(),
    };
    if host.is_empty() {
        return Err(SettingsError::new(
            "Splunk URL",
            redacted(url),
            "the URL has no host",
        ));
    }
    if port == 0 {
        return Err(SettingsError::new(
            "Splunk URL",
            redacted(url),
            "port 0 is not a port",
        ));
    }
    Ok(format!("{scheme}://{host}:{port}"))
}

/// The URL without userinfo, fit for an error message.
fn redacted(url: &url::Url) -> String {
    let mut u = url.clone();
    // Both fail only for URLs that cannot carry credentials, which then have none to hide.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// A Splunk owner or app as a path segment of `servicesNS/<owner>/<app>`; `-` is Splunk's
/// wildcard and allowed. The case is kept: it is sent to Splunk as written.
fn namespace_part(field: &'static str, raw: &str) -> Result<String, SettingsError> {
    let part = raw.trim();
    let ok = !part.is_empty()
        && part != "."
        && part != ".."
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.@+".contains(c));
    if ok {
        Ok(part.to_owned())
    } else {
        Err(SettingsError::new(
            field,
            raw,
            "must be non-empty and hold only ASCII letters, digits and the characters _ - . @ +",
        ))
    }
}

/// Splunk index names are lowercase letters, digits, `_` and `-` and do not start with `-`
/// (indexes.conf.spec); `_` starts Splunk's internal indexes, which a search can name. `*` is
/// a wildcard. The result is lowercased, sorted and deduplicated.
fn index_list(raw: &[String]) -> Result<Vec<String>, SettingsError> {
    let mut out = Vec::new();
    for entry in raw {
        for part in entry.split(',') {
            let idx = glob::normalize(part.trim());
            let ok = !idx.is_empty()
                && !idx.starts_with('-')
                && idx
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-*".contains(c));
            if !ok {
                return Err(SettingsError::new(
                    "Splunk index",
                    part,
                    "index names hold only letters, digits, _ and - (not first) and the wildcard *",
                ));
            }
            out.push(idx);
        }
    }
    if out.is_empty() {
        return Err(SettingsError::new(
            "Splunk index",
            "",
            "at least one index is required",
        ));
    }
    out.sort();
    out.dedup();
    Ok(out)
}
