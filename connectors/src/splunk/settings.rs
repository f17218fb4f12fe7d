//! Splunk settings: the management endpoint, the namespace, the search scope and the auth mode.
//! Validated on construction and again on deserialisation (they are stored as JSON).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::mapping::RowScope;
use super::source::{ScopeFilter, SplunkScope, splunk_port};
use crate::SettingsError;
use crate::SourceId;
use crate::settings::parse_base_url;

/// Splunk's management port; the REST API lives there, not on the web port.
pub const DEFAULT_PORT: u16 = 8089;
pub const DEFAULT_OWNER: &str = "nobody";
/// Event-time floor of every search. Index-time windows find late-indexed events only while
/// their `_time` is newer than this.
pub const DEFAULT_EARLIEST: &str = "-7d";
/// The ES index whose default search is the `notable` macro.
pub const NOTABLE_INDEX: &str = "notable";
/// Index time re-read behind the high-water mark on every pull, for events that become
/// searchable after their `_indextime` second has passed (indexer clock behind the search head,
/// slow or restarting peers).
pub const DEFAULT_LOOK_BACK: Duration = Duration::from_secs(5 * 60);
/// The longest look-behind accepted: ten years, a bound against typos rather than a tuning hint
/// (every pull re-reads the whole look-behind).
pub const MAX_LOOK_BACK: Duration = Duration::from_secs(3650 * 86_400);

/// Unvalidated settings, as an operator typed them (CLI flags).
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// Management URL, e.g. `https://splunk.example.com` (port 8089 unless given).
    pub url: String,
    pub app: String,
    /// Namespace owner; `nobody` when `None`.
    pub owner: Option<String>,
    /// Index names or `*` globs; lowercase.
    pub indexes: Vec<String>,
    /// `FIELD=GLOB`, e.g. `orig_index=acme*` on the shared `notable` index.
    pub scope_filter: Option<String>,
    /// `None`: the secret is an auth token (Bearer). `Some`: the secret is this user's password.
    pub username: Option<String>,
    /// Replaces the default search; the scope restriction is appended to it.
    pub base_search: Option<String>,
    /// `earliest_time` of each search; `-7d` when `None`.
    pub earliest: Option<String>,
    pub allow_insecure_http: bool,
    pub rate_limit_per_minute: Option<u32>,
    /// Index time re-read behind the high-water mark on every pull; [`DEFAULT_LOOK_BACK`] when
    /// `None`. More than zero, at most [`MAX_LOOK_BACK`], rounded up to whole seconds.
    pub look_back: Option<Duration>,
}

/// How the secret is presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// `Authorization: Bearer <token>`.
    Token,
    /// Password login at `/services/auth/login`, then `Authorization: Splunk <sessionKey>`.
    Session { username: String },
}

/// The stored form; every field is already normalised, so validating it again is idempotent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsRepr {
    url: String,
    app: String,
    owner: String,
    indexes: Vec<String>,
    #[serde(default)]
    scope_filter: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    base_search: Option<String>,
    earliest: String,
    #[serde(default)]
    allow_insecure_http: bool,
    #[serde(default)]
    rate_limit_per_minute: Option<u32>,
    /// Absent in settings stored before the look-behind existed: they get the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    look_back_secs: Option<u64>,
}

/// Validated Splunk settings. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SettingsRepr", into = "SettingsRepr")]
pub struct Settings {
    repr: SettingsRepr,
    base: Url,
    source: SourceId,
    scope: SplunkScope,
}

impl TryFrom<SettingsRepr> for Settings {
    type Error = SettingsError;
    fn try_from(repr: SettingsRepr) -> Result<Self, Self::Error> {
        Settings::from_repr(repr)
    }
}

impl From<Settings> for SettingsRepr {
    fn from(s: Settings) -> SettingsRepr {
        s.repr
    }
}

impl Settings {
    pub fn validate(p: Params) -> Result<Settings, SettingsError> {
        Settings::from_repr(SettingsRepr {
            url: p.url,
            app: p.app,
            owner: p.owner.unwrap_or_else(|| DEFAULT_OWNER.to_owned()),
            indexes: p.indexes,
            scope_filter: p.scope_filter,
            username: p.username,
            base_search: p.base_search,
            earliest: p.earliest.unwrap_or_else(|| DEFAULT_EARLIEST.to_owned()),
            allow_insecure_http: p.allow_insecure_http,
            rate_limit_per_minute: p.rate_limit_per_minute,
            look_back_secs: p
                .look_back
                .map(|d| d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))),
        })
    }

    fn from_repr(r: SettingsRepr) -> Result<Settings, SettingsError> {
        let (base, port) = management_url(&r.url, r.allow_insecure_http)?;
        let app = path_segment("app", &r.app)?;
        let owner = path_segment("owner", &r.owner)?;
        if r.indexes.iter().all(|i| i.trim().is_empty()) {
            return Err(SettingsError::new(
                "index",
                r.indexes.join(","),
                "name at least one index (or index glob) to search",
            ));
        }
        let scope_filter = match r.scope_filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) => Some(f.to_owned()),
        };
        let source = SourceId::splunk_at(
            &base,
            port,
            Some(&owner),
            &app,
            &r.indexes,
            scope_filter.as_deref(),
        )?;
        let SourceId::Splunk(scope) = &source else {
            return Err(SettingsError::new(
                "url",
                &r.url,
                "the source identity is not a Splunk scope",
            ));
        };
        let scope = scope.clone();
        if let Some(f) = &scope.filter {
            search_field("scope filter", &f.field)?;
        }
        let username = match r.username {
            None => None,
            Some(u) => Some(username("username", &u)?),
        };
        let base_search = match r.base_search.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(base_search(s)?),
        };
        let earliest = time_modifier("earliest", &r.earliest)?;
        if r.rate_limit_per_minute == Some(0) {
            return Err(SettingsError::new(
                "rate limit per minute",
                "0",
                "must be at least 1 request per minute",
            ));
        }
        if let Some(secs) = r.look_back_secs
            && (secs == 0 || secs > MAX_LOOK_BACK.as_secs())
        {
            return Err(SettingsError::new(
                "look-back",
                format!("{secs}s"),
                "must be more than 0 and at most 3650 days",
            ));
        }
        let repr = SettingsRepr {
            url: endpoint_string(&base, port),
            app,
            owner,
            indexes: scope.indexes.clone(),
            scope_filter: scope
                .filter
                .as_ref()
                .map(|f| format!("{}={}", f.field, f.glob)),
            username,
            base_search,
            earliest,
            allow_insecure_http: r.allow_insecure_http,
            rate_limit_per_minute: r.rate_limit_per_minute,
            look_back_secs: r.look_back_secs,
        };
        Ok(Settings {
            repr,
            base,
            source,
            scope,
        })
    }

    pub fn source_id(&self) -> SourceId {
        self.source.clone()
    }

    /// Rotation may change the user name of a password credential; a token credential has none.
    pub fn with_client_id(&self, client_id: &str) -> Result<Settings, SettingsError> {
        if self.repr.username.is_none() {
            return Err(SettingsError::new(
                "username",
                client_id,
                "this integration authenticates with a token; it has no user name to change",
            ));
        }
        let mut repr = self.repr.clone();
        repr.username = Some(username("username", client_id)?);
        Settings::from_repr(repr)
    }

    /// `scheme://host:port`, no trailing slash.
    pub fn url(&self) -> &Url {
        &self.base
    }

    pub fn endpoint(&self) -> &str {
        &self.repr.url
    }

    pub fn app(&self) -> &str {
        &self.repr.app
    }

    pub fn owner(&self) -> &str {
        &self.repr.owner
    }

    /// Sorted, deduplicated, lowercase.
    pub fn indexes(&self) -> &[String] {
        &self.scope.indexes
    }

    pub fn scope_filter(&self) -> Option<&ScopeFilter> {
        self.scope.filter.as_ref()
    }

    pub fn auth(&self) -> AuthMode {
        match &self.repr.username {
            None => AuthMode::Token,
            Some(u) => AuthMode::Session {
                username: u.clone(),
            },
        }
    }

    pub fn base_search(&self) -> Option<&str> {
        self.repr.base_search.as_deref()
    }

    pub fn earliest(&self) -> &str {
        &self.repr.earliest
    }

    pub fn allow_insecure_http(&self) -> bool {
        self.repr.allow_insecure_http
    }

    pub fn rate_limit_per_minute(&self) -> Option<u32> {
        self.repr.rate_limit_per_minute
    }

    /// Index time re-read behind the high-water mark on every pull.
    pub fn look_back(&self) -> Duration {
        self.repr
            .look_back_secs
            .map_or(DEFAULT_LOOK_BACK, Duration::from_secs)
    }

    /// The scope is ES's shared notable index: results carry `event_id`, the dedup key.
    pub fn is_notable_scope(&self) -> bool {
        self.scope.indexes.len() == 1 && self.scope.indexes[0] == NOTABLE_INDEX
    }

    /// The SPL sent to Splunk. Every form restricts to the scope's indexes and filter, so a
    /// custom base search cannot read another client's data:
    /// - default: `search (index="a" OR index="b") field="glob"`;
    /// - ES notables: ``search `notable` | search index="notable" field="glob"`` (the macro adds
    ///   `event_id`, `urgency` and `status_label` at search time);
    /// - custom: `<base search> | search <restriction>`.
    pub fn search(&self) -> String {
        let restriction = self.restriction();
        match self.base_search() {
            Some(base) => {
                let base = if starts_with_word(base, "search") || base.starts_with('|') {
                    base.to_owned()
                } else {
                    format!("search {base}")
                };
                format!("{base} | search {restriction}")
            }
            None if self.is_notable_scope() => format!("search `notable` | search {restriction}"),
            None => format!("search {restriction}"),
        }
    }

    /// Defence in depth: the search already restricts to the scope, but a custom base search or a
    /// server that drops part of the pipeline must still never hand another client's row to this
    /// integration. A row outside the index globs, or without a matching filter value, is not
    /// ours. A row with no `index` field at all cannot be judged by index and is kept.
    pub fn row_in_scope(&self, row: &RowScope) -> bool {
        let index_ok = row.index.as_deref().is_none_or(|i| {
            self.scope
                .indexes
                .iter()
                .any(|g| crate::glob::matches(g, i))
        });
        let filter_ok = self
            .scope
            .filter
            .as_ref()
            .is_none_or(|f| row.values.iter().any(|v| crate::glob::matches(&f.glob, v)));
        index_ok && filter_ok
    }

    /// The field [`Settings::row_in_scope`] needs besides `index`.
    pub fn filter_field(&self) -> Option<&str> {
        self.scope.filter.as_ref().map(|f| f.field.as_str())
    }

    fn restriction(&self) -> String {
        let mut terms: Vec<String> = self
            .scope
            .indexes
            .iter()
            .map(|i| format!("index={}", quote(i)))
            .collect();
        let mut out = if terms.len() == 1 {
            terms.remove(0)
        } else {
            format!("({})", terms.join(" OR "))
        };
        if let Some(f) = &self.scope.filter {
            out.push_str(&format!(" {}={}", f.field, quote(&f.glob)));
        }
        out
    }
}

/// A double-quoted SPL string. `*` stays a wildcard inside quotes in the `search` command.
pub fn quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

fn starts_with_word(s: &str, word: &str) -> bool {
    s.len() >= word.len()
        && s[..word.len()].eq_ignore_ascii_case(word)
        && s[word.len()..].starts_with(char::is_whitespace)
}

/// The management URL with its port resolved: 8089 unless the operator typed one (even the
/// scheme's default, which `url` would otherwise drop).
fn management_url(raw: &str, allow_insecure_http: bool) -> Result<(Url, u16), SettingsError> {
    let mut url = parse_base_url("url", raw, allow_insecure_http)?;
    if !matches!(url.path(), "" | "/") {
        return Err(SettingsError::new(
            "url",
            raw,
            "give the management endpoint only (scheme, host and port), without a path",
        ));
    }
    let port = splunk_port(raw, &url);
    if port == 0 {
        return Err(SettingsError::new("url", raw, "port 0 is not a port"));
    }
    url.set_port(Some(port))
        .map_err(|()| SettingsError::new("url", raw, "this URL cannot carry a port"))?;
    Ok((url, port))
}

fn endpoint_string(url: &Url, port: u16) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        port
    )
}

/// App and owner become path segments of `/servicesNS/<owner>/<app>/`.
fn path_segment(field: &'static str, raw: &str) -> Result<String, SettingsError> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(SettingsError::new(field, raw, "must not be empty"));
    }
    if v.len() > 255 {
        return Err(SettingsError::new(field, raw, "longer than 255 characters"));
    }
    if v == "."
        || v == ".."
        || v.chars()
            .any(|c| c == '/' || c == '\\' || c.is_whitespace() || c.is_control())
    {
        return Err(SettingsError::new(
            field,
            raw,
            "must be a single name without slashes or spaces",
        ));
    }
    Ok(v.to_owned())
}

fn username(field: &'static str, raw: &str) -> Result<String, SettingsError> {
    let v = raw.trim();
    if v.is_empty() || v.len() > 255 || v.chars().any(char::is_control) {
        return Err(SettingsError::new(
            field,
            raw,
            "must be a non-empty Splunk user name without control characters",
        ));
    }
    Ok(v.to_owned())
}

/// A field name we can write unquoted in SPL.
fn search_field(field: &'static str, name: &str) -> Result<(), SettingsError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if ok {
        Ok(())
    } else {
        Err(SettingsError::new(
            field,
            name,
            "the field name must be letters, digits, '_', '.', ':' or '-', starting with a letter or '_'",
        ))
    }
}

fn base_search(s: &str) -> Result<String, SettingsError> {
    if s.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(SettingsError::new(
            "base search",
            s,
            "contains control characters",
        ));
    }
    if s.len() > 16 * 1024 {
        return Err(SettingsError::new("base search", s, "longer than 16 KiB"));
    }
    Ok(s.to_owned())
}

/// Splunk time modifiers: `0`, an epoch, `now`, or a relative form like `-7d`, `-30d@d`.
fn time_modifier(field: &'static str, raw: &str) -> Result<String, SettingsError> {
    let v = raw.trim();
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '@' | '.' | ':'))
        && (v == "now"
            || v.parse::<f64>().is_ok()
            || ((v.starts_with('-') || v.starts_with('+') || v.starts_with('@')) && v.len() > 1));
    if ok {
        Ok(v.to_owned())
    } else {
        Err(SettingsError::new(
            field,
            raw,
            "must be a Splunk time modifier such as -7d, -30d@d, 0 (all time) or an epoch",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_modifiers_accept_splunk_forms_only() {
        for ok in ["-7d", "-30d@d", "0", "1700000000", "now", "@d", "-24h"] {
            assert!(time_modifier("earliest", ok).is_ok(), "{ok}");
        }
        for bad in ["", "7 days", "-", "yesterday", "-7d; drop"] {
            assert!(time_modifier("earliest", bad).is_err(), "{bad}");
        }
    }

    fn scope(indexes: &[&str], filter: Option<&str>) -> Settings {
        Settings::validate(Params {
            url: "https://h.example".into(),
            app: "search".into(),
            indexes: indexes.iter().map(|s| s.to_string()).collect(),
            scope_filter: filter.map(str::to_owned),
            ..Params::default()
        })
        .unwrap()
    }

    fn row(index: Option<&str>, values: &[&str]) -> RowScope {
        RowScope {
            index: index.map(str::to_owned),
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn rows_are_checked_against_the_index_globs_and_the_filter() {
        let s = scope(&["acme*"], None);
        assert!(s.row_in_scope(&row(Some("acme_prod"), &[])));
        assert!(s.row_in_scope(&row(Some("ACME_dev"), &[])));
        assert!(!s.row_in_scope(&row(Some("globex_prod"), &[])));
        assert!(
            s.row_in_scope(&row(None, &[])),
            "no index field: cannot judge"
        );
        let n = scope(&["notable"], Some("orig_index=acme*"));
        assert_eq!(n.filter_field(), Some("orig_index"));
        assert!(n.row_in_scope(&row(Some("notable"), &["x", "acme_prod"])));
        assert!(!n.row_in_scope(&row(Some("notable"), &["globex_prod"])));
        assert!(
            !n.row_in_scope(&row(Some("notable"), &[])),
            "no filter value: not ours"
        );
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote("acme*"), "\"acme*\"");
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn search_word_detection_needs_whitespace() {
        assert!(starts_with_word("search index=a", "search"));
        assert!(starts_with_word("SEARCH index=a", "search"));
        assert!(!starts_with_word("searchindex=a", "search"));
    }
}
