//! `[[sink]]` tables of the config file: one per sink, validated at start so a bad value is
//! refused with one sentence naming the sink and the key before anything is polled.
//!
//! Secrets never sit in the file's text: a sink names an environment variable (`*_env`) or a
//! file (`*_file`) and the value is read straight into a `SecretString`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::slug::Slug;

/// One `[[sink]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SinkTable {
    Nats(NatsTable),
    Hec(HecTable),
    #[serde(alias = "opensearch")]
    Elasticsearch(ElasticTable),
    File(FileTable),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsTable {
    pub name: String,
    pub url: String,
    pub stream: Option<String>,
    pub subject_prefix: Option<String>,
    /// At least the gateway's longest retry span (10 minutes); created streams get this.
    pub duplicate_window: Option<String>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub user: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub creds_file: Option<PathBuf>,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_required: Option<bool>,
    pub workspaces: Option<Vec<String>>,
    #[serde(default)]
    pub route: Vec<RouteTable>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HecTable {
    pub name: String,
    /// Base URL of the HEC endpoint, e.g. `https://splunk.example:8088`.
    pub url: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub index: Option<String>,
    pub sourcetype: Option<String>,
    pub source: Option<String>,
    pub gzip: Option<bool>,
    /// Indexer acknowledgment: wait until the indexers confirm every event.
    pub use_ack: Option<bool>,
    pub tls_ca_file: Option<PathBuf>,
    pub workspaces: Option<Vec<String>>,
    #[serde(default)]
    pub route: Vec<RouteTable>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticTable {
    pub name: String,
    pub url: String,
    /// Index or data stream; `{workspace}` is replaced by the workspace slug.
    pub index: Option<String>,
    pub api_key_env: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub user: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub tls_ca_file: Option<PathBuf>,
    pub workspaces: Option<Vec<String>>,
    #[serde(default)]
    pub route: Vec<RouteTable>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTable {
    pub name: String,
    /// Directory of the rotating per-workspace NDJSON spool.
    pub dir: PathBuf,
    pub max_bytes: Option<u64>,
}

/// `[[sink.route]]`: where one workspace's alerts go on this sink, overriding the sink's default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    pub workspace: String,
    pub subject_prefix: Option<String>,
    pub index: Option<String>,
    pub sourcetype: Option<String>,
}

impl SinkTable {
    pub fn name(&self) -> &str {
        match self {
            SinkTable::Nats(t) => &t.name,
            SinkTable::Hec(t) => &t.name,
            SinkTable::Elasticsearch(t) => &t.name,
            SinkTable::File(t) => &t.name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SinkTable::Nats(_) => "nats",
            SinkTable::Hec(_) => "hec",
            SinkTable::Elasticsearch(_) => "elasticsearch",
            SinkTable::File(_) => "file",
        }
    }
}

/// A sink's problem, named the way the operator wrote it.
pub(crate) fn invalid(sink: &str, key: &str, problem: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("sink {sink:?}: {key} {problem}"))
}

/// Names must be short and plain: they become metric labels and `--sink` values.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "sink name {name:?} must be 1-64 letters, digits, '-' or '_'"
        )))
    }
}

/// The workspace allow-list and routes, with every slug checked.
pub(crate) fn check_workspaces(
    sink: &str,
    workspaces: &Option<Vec<String>>,
    routes: &[RouteTable],
) -> Result<()> {
    for w in workspaces.iter().flatten() {
        Slug::parse(w).map_err(|e| invalid(sink, "workspaces", format!("has {w:?}: {e}")))?;
    }
    let mut seen = std::collections::HashSet::new();
    for r in routes {
        Slug::parse(&r.workspace)
            .map_err(|e| invalid(sink, "route.workspace", format!("{:?}: {e}", r.workspace)))?;
        if !seen.insert(r.workspace.as_str()) {
            return Err(invalid(
                sink,
                "route",
                format!("names workspace {} twice", r.workspace),
            ));
        }
    }
    Ok(())
}

/// Refuse route keys that this kind of sink does not use (a silently ignored key is a
/// misrouted client).
pub(crate) fn check_route_keys(
    sink: &str,
    routes: &[RouteTable],
    subject_prefix: bool,
    index: bool,
    sourcetype: bool,
) -> Result<()> {
    for r in routes {
        let bad = [
            (
                "subject_prefix",
                r.subject_prefix.is_some() && !subject_prefix,
            ),
            ("index", r.index.is_some() && !index),
            ("sourcetype", r.sourcetype.is_some() && !sourcetype),
        ];
        if let Some((key, _)) = bad.iter().find(|(_, b)| *b) {
            return Err(invalid(
                sink,
                &format!("route.{key}"),
                format!(
                    "(workspace {}) does not apply to this kind of sink",
                    r.workspace
                ),
            ));
        }
    }
    Ok(())
}

/// Exactly one of `env` or `file` (or neither when `optional`), read into a secret.
pub(crate) fn secret(
    sink: &str,
    env_key: &str,
    env: &Option<String>,
    file_key: &str,
    file: &Option<PathBuf>,
) -> Result<Option<SecretString>> {
    match (env, file) {
        (Some(_), Some(_)) => Err(invalid(
            sink,
            env_key,
            format!("and {file_key} are both set; give one"),
        )),
        (Some(var), None) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(SecretString::from(v))),
            _ => Err(invalid(
                sink,
                env_key,
                format!("names {var}, which is not set or empty"),
            )),
        },
        (None, Some(path)) => read_secret_file(sink, file_key, path).map(Some),
        (None, None) => Ok(None),
    }
}

fn read_secret_file(sink: &str, key: &str, path: &Path) -> Result<SecretString> {
    // A secret file is small; refuse anything else before reading it whole.
    let meta = std::fs::metadata(path)
        .map_err(|e| invalid(sink, key, format!("{}: {e}", path.display())))?;
    if !meta.is_file() || meta.len() > 64 * 1024 {
        return Err(invalid(
            sink,
            key,
            format!("{} is not a regular file under 64 KiB", path.display()),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(sink, key, format!("{}: {e}", path.display())))?;
    let value = text.trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        return Err(invalid(sink, key, format!("{} is empty", path.display())));
    }
    Ok(SecretString::from(value.to_owned()))
}

/// An `http(s)` URL without credentials, query or fragment (those would end up in logs).
pub(crate) fn http_url(sink: &str, raw: &str) -> Result<url::Url> {
    let u = url::Url::parse(raw).map_err(|e| invalid(sink, "url", format!("{raw:?}: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(invalid(sink, "url", "must be http:// or https://"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(invalid(
            sink,
            "url",
            "must not carry credentials; use the *_env or *_file keys",
        ));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(invalid(sink, "url", "must not have a query or fragment"));
    }
    Ok(u)
}

pub(crate) fn span(sink: &str, key: &str, raw: &Option<String>) -> Result<Option<Duration>> {
    raw.as_deref()
        .map(|s| crate::timespec::parse_span(&format!("sink {sink:?}: {key}"), s))
        .transpose()
}

pub(crate) fn ca_file(sink: &str, path: &Option<PathBuf>) -> Result<Option<Vec<u8>>> {
    path.as_ref()
        .map(|p| {
            std::fs::read(p)
                .map_err(|e| invalid(sink, "tls_ca_file", format!("{}: {e}", p.display())))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Doc {
        sink: Vec<SinkTable>,
    }

    #[test]
    fn tables_parse_by_type_and_unknown_keys_are_named() {
        let doc: Doc = toml::from_str(
            r#"
            [[sink]]
            name = "bus"
            type = "nats"
            url = "nats://127.0.0.1:4222"
            [[sink.route]]
            workspace = "acme-corp"
            subject_prefix = "acme.alerts"

            [[sink]]
            name = "search"
            type = "opensearch"
            url = "https://es.example:9200"
            index = "seliq-{workspace}"
            "#,
        )
        .unwrap();
        assert_eq!(doc.sink.len(), 2);
        assert_eq!(doc.sink[0].kind(), "nats");
        assert_eq!(doc.sink[1].kind(), "elasticsearch");
        let err = toml::from_str::<Doc>(
            "[[sink]]\nname = \"h\"\ntype = \"hec\"\nurl = \"https://x\"\ntoken = \"literal\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `token`"), "{err}");
        let err = toml::from_str::<Doc>("[[sink]]\nname = \"k\"\ntype = \"kafka\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kafka"), "{err}");
    }

    #[test]
    fn secrets_come_from_one_env_or_file_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "s3cr3t-token\n").unwrap();
        let s = secret("h", "token_env", &None, "token_file", &Some(f.clone()))
            .unwrap()
            .unwrap();
        assert!(!format!("{s:?}").contains("s3cr3t"));
        let both = secret("h", "token_env", &Some("X".into()), "token_file", &Some(f));
        assert!(both.unwrap_err().to_string().contains("both set"));
        let unset = secret(
            "h",
            "token_env",
            &Some("SELIQ_TEST_SURELY_UNSET_VAR".into()),
            "token_file",
            &None,
        );
        let msg = unset.unwrap_err().to_string();
        assert!(
            msg.contains("sink \"h\": token_env names SELIQ_TEST_SURELY_UNSET_VAR"),
            "{msg}"
        );
    }

    #[test]
    fn urls_with_credentials_and_bad_routes_are_refused() {
        assert!(http_url("e", "https://u:p@es:9200").is_err());
        assert!(http_url("e", "ftp://es").is_err());
        assert!(http_url("e", "https://es:9200?x=1").is_err());
        assert!(http_url("e", "https://es:9200").is_ok());
        let routes = vec![RouteTable {
            workspace: "acme-corp".into(),
            subject_prefix: Some("x".into()),
            index: None,
            sourcetype: None,
        }];
        let err = check_route_keys("e", &routes, false, true, false).unwrap_err();
        assert!(err.to_string().contains("route.subject_prefix"), "{err}");
        assert!(check_name("bus-1").is_ok());
        assert!(check_name("bus 1").is_err());
    }
}
