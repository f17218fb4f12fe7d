//! NATS JetStream: one message per alert on `<prefix>.<workspace>.<vendor>.<severity>`, header
//! `Nats-Msg-Id: <event_id>`, every publish ack awaited before the batch counts as delivered.
//!
//! The stream deduplicates by `Nats-Msg-Id` within its `duplicate_window`, so the window must
//! cover the longest span between two publishes of one line ([`super::LONGEST_RETRY_SPAN`]); a
//! stream created here gets at least that, and an existing one with less refuses the start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, stream::StorageType};
use secrecy::ExposeSecret;
use tokio::sync::Mutex;

use crate::error::{Error, Result};

use super::config::{self, NatsTable, invalid};
use super::{EncodedBatch, ExternalSink, LONGEST_RETRY_SPAN, SinkError, SinkStats, Target};

pub const DEFAULT_STREAM: &str = "SELIQ_ALERTS";
pub const DEFAULT_PREFIX: &str = "seliq.alerts";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long start-up waits for the server before it defers the stream check to the first batch.
const STARTUP_CHECK: Duration = Duration::from_secs(10);

pub struct NatsSink {
    name: String,
    js: jetstream::Context,
    stream: String,
    prefix: String,
    /// Every prefix this sink publishes under (its own and the routes'), for the stream check.
    prefixes: Vec<String>,
    window: Duration,
    checked: AtomicBool,
    check_lock: Mutex<()>,
}

impl NatsSink {
    pub async fn connect(t: &NatsTable) -> Result<NatsSink> {
        let name = t.name.clone();
        let stream = t
            .stream
            .clone()
            .unwrap_or_else(|| DEFAULT_STREAM.to_owned());
        if stream.is_empty() || stream.contains(['.', '*', '>', ' ', '\t']) {
            return Err(invalid(
                &name,
                "stream",
                format!("{stream:?} is not a stream name (no '.', '*', '>' or spaces)"),
            ));
        }
        let prefix = t
            .subject_prefix
            .clone()
            .unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        check_prefix(&name, "subject_prefix", &prefix)?;
        let mut prefixes = vec![prefix.clone()];
        for r in &t.route {
            if let Some(p) = &r.subject_prefix {
                check_prefix(&name, "route.subject_prefix", p)?;
                prefixes.push(p.clone());
            }
        }
        let window = config::span(&name, "duplicate_window", &t.duplicate_window)?
            .unwrap_or(LONGEST_RETRY_SPAN);
        if window < LONGEST_RETRY_SPAN {
            return Err(invalid(
                &name,
                "duplicate_window",
                format!(
                    "must be at least {} minutes (the gateway's longest retry span)",
                    LONGEST_RETRY_SPAN.as_secs() / 60
                ),
            ));
        }
        if !(t.url.starts_with("nats://") || t.url.starts_with("tls://")) {
            return Err(invalid(
                &name,
                "url",
                "must be nats://HOST:PORT or tls://HOST:PORT",
            ));
        }
        if t.url.contains('@') {
            return Err(invalid(
                &name,
                "url",
                "must not carry credentials; use token_env, password_file or creds_file",
            ));
        }
        let mut opts = async_nats::ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .retry_on_initial_connect()
            .name(format!("seliq-gateway {}", env!("CARGO_PKG_VERSION")));
        let token = config::secret(
            &name,
            "token_env",
            &t.token_env,
            "token_file",
            &t.token_file,
        )?;
        let password = config::secret(
            &name,
            "password_env",
            &t.password_env,
            "password_file",
            &t.password_file,
        )?;
        let kinds = [
            token.is_some(),
            password.is_some() || t.user.is_some(),
            t.creds_file.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() > 1 {
            return Err(invalid(
                &name,
                "token_env",
                "token, user/password and creds_file exclude one another; give one",
            ));
        }
        if let Some(tok) = token {
            opts = opts.token(tok.expose_secret().to_owned());
        }
        match (&t.user, password) {
            (Some(u), Some(p)) => {
                opts = opts.user_and_password(u.clone(), p.expose_secret().to_owned())
            }
            (None, None) => {}
            _ => {
                return Err(invalid(
                    &name,
                    "user",
                    "and password_env/password_file go together",
                ));
            }
        }
        if let Some(path) = &t.creds_file {
            opts = opts
                .credentials_file(path)
                .await
                .map_err(|e| invalid(&name, "creds_file", format!("{}: {e}", path.display())))?;
        }
        if let Some(ca) = &t.tls_ca_file {
            if !ca.is_file() {
                return Err(invalid(
                    &name,
                    "tls_ca_file",
                    format!("{} is not a file", ca.display()),
                ));
            }
            opts = opts.add_root_certificates(ca.clone()).require_tls(true);
        }
        if t.tls_required == Some(true) || t.url.starts_with("tls://") {
            opts = opts.require_tls(true);
        }
        seliq_connectors::http::install_crypto_provider();
        let client = opts
            .connect(t.url.as_str())
            .await
            .map_err(|e| invalid(&name, "url", format!("cannot connect: {e}")))?;
        let sink = NatsSink {
            name,
            js: jetstream::new(client),
            stream,
            prefix,
            prefixes,
            window,
            checked: AtomicBool::new(false),
            check_lock: Mutex::new(()),
        };
        // A server that is down at start is an outage like any other: the first batch waits
        // for it. A stream that exists with the wrong settings is a configuration error: refuse.
        match tokio::time::timeout(STARTUP_CHECK, sink.ensure_stream()).await {
            Ok(Ok(())) => {}
            Ok(Err(SinkError::Permanent(e))) => {
                return Err(Error::Invalid(format!("sink {:?}: {e}", sink.name)));
            }
            Ok(Err(SinkError::Transient(e))) => {
                tracing::warn!(sink = %sink.name, error = %e, "cannot check the JetStream stream yet; the first batch will");
            }
            Err(_) => {
                tracing::warn!(sink = %sink.name, "NATS is not reachable yet; the first batch will wait for it");
            }
        }
        Ok(sink)
    }

    /// Create the stream, or check the existing one covers our subjects with a long enough
    /// duplicate window.
    async fn ensure_stream(&self) -> Result<(), SinkError> {
        if self.checked.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one = self.check_lock.lock().await;
        if self.checked.load(Ordering::Acquire) {
            return Ok(());
        }
        match self.js.get_stream(&self.stream).await {
            Ok(s) => {
                let cfg = &s.cached_info().config;
                if cfg.duplicate_window < LONGEST_RETRY_SPAN {
                    return Err(SinkError::Permanent(format!(
                        "stream {} has duplicate_window {} s, shorter than the gateway's longest retry span ({} s); raise it (nats stream edit {} --dupe-window {}m)",
                        self.stream,
                        cfg.duplicate_window.as_secs(),
                        LONGEST_RETRY_SPAN.as_secs(),
                        self.stream,
                        LONGEST_RETRY_SPAN.as_secs() / 60
                    )));
                }
                for p in &self.prefixes {
                    let sample = format!("{p}.w.v.s");
                    if !cfg.subjects.iter().any(|f| subject_matches(f, &sample)) {
                        return Err(SinkError::Permanent(format!(
                            "stream {} does not take subjects {p}.>; add it to the stream's subjects or change subject_prefix",
                            self.stream
                        )));
                    }
                }
            }
            Err(e)
                if matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
            {
                let config = jetstream::stream::Config {
                    name: self.stream.clone(),
                    subjects: self.prefixes.iter().map(|p| format!("{p}.>")).collect(),
                    storage: StorageType::File,
                    duplicate_window: self.window,
                    ..Default::default()
                };
                self.js.create_stream(config).await.map_err(|e| {
                    SinkError::Transient(format!("cannot create stream {}: {e}", self.stream))
                })?;
                tracing::info!(sink = %self.name, stream = %self.stream, "created the JetStream stream");
            }
            Err(e) => {
                return Err(SinkError::Transient(format!(
                    "cannot read stream {}: {e}",
                    self.stream
                )));
            }
        }
        self.checked.store(true, Ordering::Release);
        Ok(())
    }
}

/// A subject prefix: dot-separated non-empty tokens, no wildcards or whitespace.
fn check_prefix(sink: &str, key: &str, p: &str) -> Result<()> {
    let ok = !p.is_empty()
        && p.split('.').all(|t| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_graphic() && c != '*' && c != '>')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            sink,
            key,
            format!("{p:?} is not a subject prefix (dot-separated tokens, no spaces or wildcards)"),
        ))
    }
}

/// NATS subject matching: `*` is one token, `>` the rest (one token or more).
fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[async_trait::async_trait]
impl ExternalSink for NatsSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "nats"
    }

    async fn deliver(
        &self,
        target: &Target,
        batch: &EncodedBatch,
        pending: &mut Vec<usize>,
        stats: &SinkStats,
    ) -> Result<(), SinkError> {
        self.ensure_stream().await?;
        let prefix = target.subject_prefix.as_deref().unwrap_or(&self.prefix);
        // Hand every pending message to the client first (the context keeps up to 5,000 acks in
        // flight and applies backpressure), then await the acks together.
        let mut acks = Vec::with_capacity(pending.len());
        for &i in pending.iter() {
            let m = &batch.lines[i];
            let subject = format!(
                "{prefix}.{}.{}.{}",
                target.workspace,
                m.vendor.as_str(),
                m.severity.as_str()
            );
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, m.event_id.as_str());
            let payload = bytes_of(batch.line(i));
            match self
                .js
                .publish_with_headers(subject, headers, payload)
                .await
            {
                Ok(ack) => acks.push((i, ack)),
                // Not sent: stays pending; the acks already in flight are still awaited below.
                Err(e) => {
                    tracing::debug!(sink = %self.name, error = %e, "publish not handed to the client");
                    break;
                }
            }
        }
        let sent = acks.len();
        let results =
            futures::future::join_all(acks.into_iter().map(|(i, f)| async move { (i, f.await) }))
                .await;
        let mut first_error = None;
        let mut done = std::collections::HashSet::new();
        for (i, r) in results {
            match r {
                Ok(ack) => {
                    if ack.duplicate {
                        stats.duplicates.inc();
                    }
                    done.insert(i);
                }
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e.to_string());
                    }
                }
            }
        }
        pending.retain(|i| !done.contains(i));
        match (pending.is_empty(), first_error) {
            (true, _) => Ok(()),
            (false, Some(e)) => Err(SinkError::Transient(format!(
                "JetStream did not acknowledge {} of {} messages: {}",
                pending.len(),
                sent.max(pending.len()),
                super::remote_text(e.as_bytes())
            ))),
            (false, None) => Err(SinkError::Transient(
                "the NATS connection is not available".to_owned(),
            )),
        }
    }
}

fn bytes_of(line: &[u8]) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_like_nats() {
        assert!(subject_matches(
            "seliq.alerts.>",
            "seliq.alerts.acme.crowdstrike.high"
        ));
        assert!(subject_matches(">", "a.b"));
        assert!(subject_matches("seliq.*.>", "seliq.alerts.x"));
        assert!(!subject_matches("seliq.alerts.>", "seliq.alerts"));
        assert!(!subject_matches("other.>", "seliq.alerts.x"));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.b.c"));
    }

    #[test]
    fn prefixes_without_wildcards_or_spaces() {
        assert!(check_prefix("n", "subject_prefix", "seliq.alerts").is_ok());
        for bad in ["", "a..b", "a.*", "a.>", "a b", ".a"] {
            assert!(check_prefix("n", "subject_prefix", bad).is_err(), "{bad:?}");
        }
    }
}
