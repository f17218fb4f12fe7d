//! Redaction of vendor-supplied text before it reaches an error, a log line or an audit entry.
//!
//! A vendor endpoint (or a proxy in front of it) that echoes the request in its error text puts
//! our credential into whatever repeats that text: stderr, WARN logs, and the append-only audit
//! log, where it would stay forever. So every piece of vendor text that leaves a connector is
//! passed through a [`Redactor`] first:
//!
//! 1. **Known needles.** The integration's current secret in every form a request carries it:
//!    raw, JSON-escaped, form-urlencoded, percent-encoded (upper- and lower-case hex, two encode
//!    sets), base64 (standard and URL-safe, padded or not), and HTTP `Basic` (`principal:secret`
//!    base64). Held in `Zeroizing` buffers; `Debug` shows only how many there are.
//! 2. **Patterns that need no secret**, for credentials we never saw (a token the vendor minted,
//!    a session key, another form field): `Bearer …`, `Splunk …`, `Basic …` (when it decodes to
//!    `user:pass`), `Authorization`/`Cookie` header values, `access_token`, `client_secret`,
//!    `password`, `refresh_token`, `sessionKey` (and a few kin) as form fields, JSON members
//!    (escaped or not), `key: value` pairs and XML elements.
//! 3. **A length bound** of [`MAX_VENDOR_TEXT`] characters, cut on a char boundary and marked
//!    with [`TRUNCATED`], so a vendor cannot push a whole echoed request (or a megabyte of HTML)
//!    into the audit log.
//!
//! [`Redacting`] applies a redactor to every error of a connector; `registry::build` wraps every
//! connector in it, so no vendor path can skip it. Log lines are formatted by the gateway's
//! subscriber, outside any connector: [`scrub_for_log`] scrubs them with the needles of every
//! live redactor in the process plus the patterns.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use regex::{Captures, Regex};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use crate::http::HttpStats;
use crate::{Batch, Budget, Connector, ConnectorError, Cursor, SettingsError, SourceId};

/// Most characters of vendor text kept in one error field: enough for a vendor's own error
/// sentence and code, too little for an echoed request.
pub const MAX_VENDOR_TEXT: usize = 512;
/// What a secret or a credential-looking value is replaced by.
pub const REDACTED: &str = "[REDACTED]";
/// Appended where text was cut at [`MAX_VENDOR_TEXT`].
pub const TRUNCATED: &str = "…[truncated]";
/// Input beyond this many bytes is dropped before scanning, so a huge body costs bounded time.
/// Far above `MAX_VENDOR_TEXT`: whatever a cut here leaves of a secret is truncated away later.
const SCAN_LIMIT: usize = 64 * 1024;

/// The needles of one integration. Private so the only way to read them is to scrub with them.
struct Needles(Vec<Zeroizing<String>>);

/// Scrubs vendor text of one integration's secret (in all its encodings) and of anything that
/// looks like a credential.
#[derive(Clone)]
pub struct Redactor {
    needles: Arc<Needles>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("needles", &self.needles.0.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor for `secret`. `principal` is the non-secret half of the credential (client id
    /// or user name), needed for the `Basic` form `base64(principal:secret)`. The redactor is
    /// also registered for [`scrub_for_log`] until its last clone is dropped.
    pub fn new(secret: &SecretString, principal: Option<&str>) -> Redactor {
        let needles = Arc::new(Needles(needles(secret.expose_secret(), principal)));
        register(&needles);
        Redactor { needles }
    }

    /// Patterns and the length bound only: for text of no particular integration.
    pub fn patterns_only() -> Redactor {
        Redactor {
            needles: Arc::new(Needles(Vec::new())),
        }
    }

    /// `text` with every needle and credential pattern replaced by [`REDACTED`], cut to
    /// [`MAX_VENDOR_TEXT`] characters.
    pub fn scrub(&self, text: &str) -> String {
        truncate(&self.scrub_unbounded(text), MAX_VENDOR_TEXT).into_owned()
    }

    fn scrub_unbounded(&self, text: &str) -> String {
        let text = &text[..floor_char_boundary(text, SCAN_LIMIT)];
        let known = replace_needles(text, &self.needles.0);
        scrub_patterns(&known).into_owned()
    }

    /// The same error with every `String` field scrubbed. The variant, vendor and status are
    /// kept, so callers still classify it (exit codes, credential rejection) as before.
    pub fn scrub_error(&self, err: ConnectorError) -> ConnectorError {
        let s = |t: String| self.scrub(&t);
        match err {
            ConnectorError::Settings(SettingsError {
                field,
                value,
                reason,
            }) => ConnectorError::Settings(SettingsError {
                field,
                value: s(value),
                reason: s(reason),
            }),
            ConnectorError::Client { reason } => ConnectorError::Client { reason: s(reason) },
            ConnectorError::CredentialRejected { vendor, message } => {
                ConnectorError::CredentialRejected {
                    vendor,
                    message: s(message),
                }
            }
            ConnectorError::PermissionDenied {
                vendor,
                endpoint,
                message,
            } => ConnectorError::PermissionDenied {
                vendor,
                endpoint: s(endpoint),
                message: s(message),
            },
            ConnectorError::Http {
                vendor,
                endpoint,
                status,
                message,
                trace_id,
            } => ConnectorError::Http {
                vendor,
                endpoint: s(endpoint),
                status,
                message: s(message),
                trace_id: trace_id.map(s),
            },
            ConnectorError::Vendor {
                vendor,
                endpoint,
                message,
                trace_id,
            } => ConnectorError::Vendor {
                vendor,
                endpoint: s(endpoint),
                message: s(message),
                trace_id: trace_id.map(s),
            },
            ConnectorError::Malformed {
                vendor,
                endpoint,
                reason,
            } => ConnectorError::Malformed {
                vendor,
                endpoint: s(endpoint),
                reason: s(reason),
            },
            ConnectorError::Transport {
                vendor,
                endpoint,
                reason,
            } => ConnectorError::Transport {
                vendor,
                endpoint: s(endpoint),
                reason: s(reason),
            },
            ConnectorError::Cursor(reason) => ConnectorError::Cursor(s(reason)),
        }
    }
}

/// Every form in which a request may carry `secret`, longest first so that a form containing
/// another is replaced whole.
fn needles(secret: &str, principal: Option<&str>) -> Vec<Zeroizing<String>> {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // RFC 3986 unreserved characters stay as they are (what most URL encoders do).
    const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    if secret.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Zeroizing<String>> = Vec::new();
    let mut push = |s: String| {
        let s = Zeroizing::new(s);
        if !s.is_empty() && !out.iter().any(|o| **o == *s) {
            out.push(s);
        }
    };
    push(secret.to_owned());
    // As it appears inside a JSON string (a vendor that echoes a JSON body, or our JSON logs).
    if let Ok(json) = serde_json::to_string(secret) {
        push(json[1..json.len() - 1].to_owned());
    }
    push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    for set in [NON_ALPHANUMERIC, COMPONENT] {
        let upper = utf8_percent_encode(secret, set).to_string();
        push(lower_hex_escapes(&upper));
        push(upper);
    }
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        push(engine.encode(secret));
        if let Some(p) = principal {
            let pair = Zeroizing::new(format!("{p}:{secret}"));
            push(engine.encode(pair.as_bytes()));
        }
    }
    out.sort_by_key(|n| std::cmp::Reverse(n.len()));
    out
}

/// `%2F` → `%2f`: some encoders write lower-case hex.
fn lower_hex_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3).unwrap_or(&rest[i..]);
        out.push_str(&esc.to_ascii_lowercase());
        rest = &rest[i + esc.len()..];
    }
    out.push_str(rest);
    out
}

fn replace_needles(text: &str, needles: &[Zeroizing<String>]) -> String {
    let mut out = text.to_owned();
    for n in needles {
        if out.contains(n.as_str()) {
            out = out.replace(n.as_str(), REDACTED);
        }
    }
    out
}

/// Field names whose values are credentials, in form, JSON, `key: value` and XML text.
const SECRET_KEYS: &str = r"access_token|refresh_token|id_token|client_secret|client_assertion|password|passwd|sessionkey|session_key|api_key|apikey|token|secret";

struct Patterns {
    /// `Authorization: <anything>` and kin, up to the end of the header value.
    header: Regex,
    cookie: Regex,
    bearer: Regex,
    splunk: Regex,
    basic: Regex,
    /// `"key": "value"`.
    json: Regex,
    /// `\"key\":\"value\"`: a JSON body echoed inside a JSON string, seen before decoding.
    json_escaped: Regex,
    /// `key=value`, `key: value`, `'key': 'value'`.
    pair: Regex,
    xml: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("redaction pattern compiles");
        Patterns {
            header: re(
                r#"(?i)\b((?:proxy-)?authorization|x-splunk-authorization)(\\?["']?\s*[:=]\s*\\?["']?)([^\r\n"'\\;,]+)"#,
            ),
            // Every cookie of the header is a possible session: up to the end of the value.
            cookie: re(
                r#"(?i)\b(cookie|set-cookie)(\\?["']?\s*[:=]\s*\\?["']?)([^\r\n"'\\]+)"#,
            ),
            bearer: re(r"(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]{8,}=*"),
            splunk: re(r"(?i)\b(splunk)(\s+)[A-Za-z0-9\-._~+/^=]{16,}"),
            basic: re(r"(?i)\b(basic)(\s+)([A-Za-z0-9+/_\-]{4,}={0,2})"),
            json: re(&format!(
                r#"(?i)("(?:{SECRET_KEYS})"\s*:\s*")((?:[^"\\]|\\.)*)"#
            )),
            json_escaped: re(&format!(
                r#"(?i)(\\"(?:{SECRET_KEYS})\\"\s*:\s*\\")((?:[^"\\]|\\[^"])*)"#
            )),
            pair: re(&format!(
                r#"(?i)(\b(?:{SECRET_KEYS})['"]?\s*[:=]\s*['"]?)([^\s&,;"'<>\\}}\]]+)"#
            )),
            xml: re(&format!(r"(?i)(<(?:{SECRET_KEYS})(?:\s[^>]*)?>)([^<]*)")),
        }
    })
}

/// Replaces credential-looking values without knowing any secret. Borrowed when nothing matched.
pub fn scrub_patterns(text: &str) -> Cow<'_, str> {
    let p = patterns();
    let mut out = Cow::Borrowed(text);
    // Keep the prefix (name, separator) so the text still says *what* was removed.
    let keep_prefix = |c: &Captures<'_>| format!("{}{}{REDACTED}", &c[1], &c[2]);
    for re in [&p.header, &p.cookie, &p.bearer, &p.splunk] {
        if let Cow::Owned(s) = re.replace_all(&out, keep_prefix) {
            out = Cow::Owned(s);
        }
    }
    // `Basic` is an English word: only a value that decodes to `user:pass` is a credential.
    let basic = p.basic.replace_all(&out, |c: &Captures<'_>| {
        let decoded = STANDARD
            .decode(c[3].trim_end_matches('='))
            .or_else(|_| STANDARD_NO_PAD.decode(c[3].trim_end_matches('=')))
            .or_else(|_| URL_SAFE_NO_PAD.decode(c[3].trim_end_matches('=')));
        match decoded {
            Ok(bytes) if bytes.contains(&b':') => format!("{}{}{REDACTED}", &c[1], &c[2]),
            _ => c[0].to_owned(),
        }
    });
    if let Cow::Owned(s) = basic {
        out = Cow::Owned(s);
    }
    let keep_key = |c: &Captures<'_>| format!("{}{REDACTED}", &c[1]);
    for re in [&p.json, &p.json_escaped, &p.pair, &p.xml] {
        let replaced = re.replace_all(&out, |c: &Captures<'_>| {
            // A value already redacted by an earlier rule stays as it is.
            if c[2].starts_with("[REDACTED") || c[2].is_empty() {
                c[0].to_owned()
            } else {
                keep_key(c)
            }
        });
        if let Cow::Owned(s) = replaced {
            out = Cow::Owned(s);
        }
    }
    out
}

/// At most `max` characters of `text`, cut on a char boundary and marked with [`TRUNCATED`].
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((i, _)) => Cow::Owned(format!("{}{TRUNCATED}", &text[..i])),
        None => Cow::Borrowed(text),
    }
}

/// The largest char boundary at or below `max` bytes.
fn floor_char_boundary(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

// === Process-wide registry for log lines ===

/// Needles of every live redactor. Weak: an integration's needles are zeroized and forgotten
/// when its connector is dropped.
fn registry() -> &'static Mutex<Vec<Weak<Needles>>> {
    static LIVE: OnceLock<Mutex<Vec<Weak<Needles>>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

fn register(needles: &Arc<Needles>) {
    if needles.0.is_empty() {
        return;
    }
    let mut live = registry().lock().unwrap_or_else(PoisonError::into_inner);
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(needles));
}

/// A formatted log line scrubbed of every live integration's secret and of credential patterns.
/// Not truncated: a log line is ours, only the vendor text inside it is suspect.
///
/// Log events are formatted outside the connectors (by the gateway's subscriber), and vendor
/// modules log vendor messages at WARN/DEBUG; this is the one place all of them pass.
pub fn scrub_for_log(line: &str) -> Cow<'_, str> {
    let live: Vec<Arc<Needles>> = registry()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let mut out = Cow::Borrowed(line);
    for needles in &live {
        if needles.0.iter().any(|n| out.contains(n.as_str())) {
            out = Cow::Owned(replace_needles(&out, &needles.0));
        }
    }
    match scrub_patterns(&out) {
        Cow::Borrowed(_) => out,
        Cow::Owned(s) => Cow::Owned(s),
    }
}

// === impl Redacting ===

/// A connector whose every error is scrubbed by its integration's [`Redactor`] before it is
/// returned: the one choke point between vendor text and the gateway's stderr, logs and audit.
pub struct Redacting {
    inner: Box<dyn Connector>,
    redactor: Redactor,
}

impl Redacting {
    pub fn new(inner: Box<dyn Connector>, redactor: Redactor) -> Redacting {
        Redacting { inner, redactor }
    }
}

impl fmt::Debug for Redacting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redacting")
            .field("source", self.inner.source_id())
            .field("redactor", &self.redactor)
            .finish()
    }
}

#[async_trait]
impl Connector for Redacting {
    fn source_id(&self) -> &SourceId {
        self.inner.source_id()
    }

    async fn check(&self) -> Result<(), ConnectorError> {
        self.inner
            .check()
            .await
            .map_err(|e| self.redactor.scrub_error(e))
    }

    // Every trait method is forwarded explicitly: a default here would silently replace the
    // vendor's own answer (the Splunk server GUID the binding guard relies on).
    async fn endpoint_identity(&self) -> Result<Option<String>, ConnectorError> {
        self.inner
            .endpoint_identity()
            .await
            .map(|id| id.map(|s| self.redactor.scrub(&s)))
            .map_err(|e| self.redactor.scrub_error(e))
    }

    async fn fetch(
        &self,
        cursor: Option<&Cursor>,
        budget: Budget,
    ) -> Result<Batch, ConnectorError> {
        let mut batch = self
            .inner
            .fetch(cursor, budget)
            .await
            .map_err(|e| self.redactor.scrub_error(e))?;
        // Reasons are our own text by contract; scrubbing them as well costs little. The raw
        // record stays verbatim: it is the vendor's data, written to the dead-letter output.
        for q in &mut batch.quarantined {
            q.reason = self.redactor.scrub(&q.reason);
        }
        Ok(batch)
    }

    fn http_stats(&self) -> HttpStats {
        self.inner.http_stats()
    }

    fn retries(&self) -> u64 {
        self.inner.retries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr+t/Value=&x%y é";
    const PRINCIPAL: &str = "client-0042";

    fn redactor() -> Redactor {
        Redactor::new(&SecretString::from(SECRET), Some(PRINCIPAL))
    }

    fn assert_scrubbed(text: &str, leaked: &str) {
        let out = redactor().scrub(text);
        assert!(!out.contains(leaked), "{leaked:?} survived in {out:?}");
        assert!(out.contains(REDACTED), "nothing redacted in {out:?}");
    }

    #[test]
    fn raw_secret_is_scrubbed() {
        assert_scrubbed(&format!("invalid secret {SECRET} given"), SECRET);
    }

    #[test]
    fn json_escaped_secret_is_scrubbed() {
        let secret = r#"a"b\c-long-enough"#;
        let r = Redactor::new(&SecretString::from(secret), None);
        let echoed = serde_json::to_string(&serde_json::json!({"x": secret})).unwrap();
        assert!(!r.scrub(&echoed).contains(r#"a\"b\\c"#));
    }

    #[test]
    fn form_urlencoded_secret_is_scrubbed() {
        let form: String = url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
        assert!(form.contains('+'), "{form}");
        // Under a key the patterns would not know, so only the needle can catch it.
        assert_scrubbed(&format!("body: cs={form}&grant_type=x"), &form);
    }

    #[test]
    fn percent_encoded_secret_is_scrubbed_in_either_hex_case() {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let upper = utf8_percent_encode(SECRET, NON_ALPHANUMERIC).to_string();
        assert_scrubbed(&format!("url ?q={upper} refused"), &upper);
        let lower = lower_hex_escapes(&upper);
        assert_ne!(upper, lower);
        assert_scrubbed(&format!("url ?q={lower} refused"), &lower);
    }

    #[test]
    fn base64_secret_is_scrubbed_in_every_alphabet() {
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            let b = engine.encode(SECRET);
            assert_scrubbed(&format!("x-echo: {b}"), &b);
        }
    }

    #[test]
    fn basic_credential_is_scrubbed_with_and_without_the_header_name() {
        let b = STANDARD.encode(format!("{PRINCIPAL}:{SECRET}"));
        assert_scrubbed(&format!("Proxy-Authorization: Basic {b}"), &b);
        assert_scrubbed(&format!("got basic {b} from you"), &b);
        // A Basic pair of someone else's credential: no needle, the pattern decodes it.
        let other = STANDARD.encode("admin:hunter2");
        assert!(
            !Redactor::patterns_only()
                .scrub(&format!("Basic {other}"))
                .contains(&other)
        );
        // Plain English survives.
        assert_eq!(
            Redactor::patterns_only().scrub("basic authentication is disabled"),
            "basic authentication is disabled"
        );
    }

    #[test]
    fn bearer_tokens_are_scrubbed_without_knowing_them() {
        let tok = "eyJ0eXAiOiJKV1QiLCJhbGciOi.JSUzI1NiJ9-abc_def~";
        let r = Redactor::patterns_only();
        for text in [
            format!("headers: authorization: Bearer {tok}"),
            format!(r#"{{"Authorization":"Bearer {tok}"}}"#),
            format!("token was bearer {tok}"),
        ] {
            let out = r.scrub(&text);
            assert!(!out.contains(tok), "{out}");
            assert!(!out.contains("eyJ0eXAi"), "{out}");
        }
        assert_eq!(
            r.scrub("send a bearer token"),
            "send a bearer token",
            "short words are not tokens"
        );
    }

    #[test]
    fn splunk_session_keys_are_scrubbed() {
        let key = "Zx9^_abcDEF0123456789ghiJKL^mno";
        let r = Redactor::patterns_only();
        for text in [
            format!("Authorization: Splunk {key}"),
            format!("authorization=Splunk {key}"),
            format!(r#"{{"sessionKey":"{key}"}}"#),
            format!("<response><sessionKey>{key}</sessionKey></response>"),
            format!("sent Splunk {key} to you"),
        ] {
            let out = r.scrub(&text);
            assert!(!out.contains(key), "{out}");
            assert!(!out.contains("abcDEF0123456789"), "{out}");
        }
        assert_eq!(
            r.scrub("Splunk instance unavailable"),
            "Splunk instance unavailable"
        );
    }

    #[test]
    fn credential_fields_are_scrubbed_in_form_json_and_pairs() {
        let r = Redactor::patterns_only();
        let v = "unknownValue123";
        for key in [
            "access_token",
            "client_secret",
            "password",
            "refresh_token",
            "sessionKey",
            "Password",
        ] {
            for text in [
                format!("grant_type=client_credentials&{key}={v}&scope=x"),
                format!(r#"{{"{key}": "{v}", "other": 1}}"#),
                format!(r#"message: "body was {{\"{key}\":\"{v}\"}}""#),
                format!("{key}: {v}"),
                format!("{{'{key}': '{v}'}}"),
            ] {
                let out = r.scrub(&text);
                assert!(!out.contains(v), "{key}: {text} -> {out}");
                assert!(out.contains(key), "the field name stays: {out}");
            }
        }
        // A JSON value with spaces and escapes goes whole.
        let out = r.scrub(r#"{"password":"two words \"quoted\" here","ok":true}"#);
        assert!(!out.contains("words") && !out.contains("quoted"), "{out}");
        assert!(out.contains(r#""ok":true"#), "{out}");
    }

    #[test]
    fn text_without_credentials_is_unchanged() {
        let r = redactor();
        let t = "AADSTS7000215: Invalid client secret provided. Trace ID: 1234";
        assert_eq!(r.scrub(t), t);
        assert!(matches!(scrub_patterns(t), Cow::Borrowed(_)));
    }

    #[test]
    fn truncation_cuts_on_a_char_boundary_with_a_marker() {
        let text = "é".repeat(MAX_VENDOR_TEXT + 10);
        let out = Redactor::patterns_only().scrub(&text);
        assert!(out.ends_with(TRUNCATED));
        assert_eq!(
            out.trim_end_matches(TRUNCATED).chars().count(),
            MAX_VENDOR_TEXT
        );
        let exact = "日".repeat(MAX_VENDOR_TEXT);
        assert_eq!(Redactor::patterns_only().scrub(&exact), exact);
        assert_eq!(floor_char_boundary("aé", 2), 1);
    }

    #[test]
    fn a_secret_is_scrubbed_before_the_cut_so_no_prefix_survives() {
        let pad = "x".repeat(MAX_VENDOR_TEXT - 5);
        let out = redactor().scrub(&format!("{pad}{SECRET}"));
        assert!(!out.contains(&SECRET[..5]), "{out}");
    }

    #[test]
    fn every_string_field_of_every_error_is_scrubbed() {
        let r = redactor();
        let dirty = || format!("echo client_secret={SECRET}");
        let errors = vec![
            ConnectorError::Settings(SettingsError::new("f", dirty(), dirty())),
            ConnectorError::CredentialRejected {
                vendor: crate::Kind::Splunk,
                message: dirty(),
            },
            ConnectorError::PermissionDenied {
                vendor: crate::Kind::Splunk,
                endpoint: dirty(),
                message: dirty(),
            },
            ConnectorError::Http {
                vendor: crate::Kind::Splunk,
                endpoint: dirty(),
                status: 400,
                message: dirty(),
                trace_id: Some(dirty()),
            },
            ConnectorError::Vendor {
                vendor: crate::Kind::Splunk,
                endpoint: dirty(),
                message: dirty(),
                trace_id: Some(dirty()),
            },
            ConnectorError::Malformed {
                vendor: crate::Kind::Splunk,
                endpoint: dirty(),
                reason: dirty(),
            },
            ConnectorError::Transport {
                vendor: crate::Kind::Splunk,
                endpoint: dirty(),
                reason: dirty(),
            },
            ConnectorError::Cursor(dirty()),
        ];
        for e in errors {
            let rejected = e.is_credential_rejected();
            let e = r.scrub_error(e);
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(!shown.contains("s3cr"), "{shown}");
            assert_eq!(e.is_credential_rejected(), rejected);
        }
    }

    #[test]
    fn debug_shows_no_needle() {
        let shown = format!("{:?}", redactor());
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(shown.contains("needles"));
    }

    #[test]
    fn log_lines_are_scrubbed_with_every_live_redactor() {
        let secret = "LogLine-Registry-Secret-91";
        let r = Redactor::new(&SecretString::from(secret), None);
        let line = format!("WARN vendor said {secret}");
        assert!(!scrub_for_log(&line).contains(secret));
        // Held weakly: once the integration is gone its needles are dropped (and zeroized). Only
        // the registry's own reference is checked, since a concurrent `scrub_for_log` in another
        // test may hold a strong one for a moment.
        let live = |needle: &str| {
            registry()
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .filter_map(Weak::upgrade)
                .any(|n| n.0.iter().any(|s| s.as_str() == needle))
        };
        assert!(live(secret));
        let weak = Arc::downgrade(&r.needles);
        drop(r);
        // The registry holds no strong reference: once no scrub is in flight (another test's
        // may be, for a moment), the needles are gone and zeroized.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if weak.upgrade().is_none() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        panic!("the registry kept the needles alive");
    }

    /// No input makes the scrubber panic, and nothing it returns holds the secret. A small
    /// deterministic generator stands in for proptest, which is not a dependency here.
    #[test]
    fn arbitrary_input_never_panics_and_never_keeps_the_secret() {
        let r = redactor();
        let alphabet: Vec<char> = "aZ09 =&:;\"'\\/%+<>{}[]é日\u{0}\n\r\tBearerSplunkBasic_"
            .chars()
            .collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let len = (next() % 700) as usize;
            let mut s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if next() % 3 == 0 {
                let at = floor_char_boundary(&s, (next() % (s.len() as u64 + 1)) as usize);
                s.insert_str(at, SECRET);
            }
            let out = r.scrub(&s);
            assert!(out.chars().count() <= MAX_VENDOR_TEXT + TRUNCATED.chars().count());
            assert!(!out.contains(SECRET));
            let _ = scrub_for_log(&s);
        }
    }
}
