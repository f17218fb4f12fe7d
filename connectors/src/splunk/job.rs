//! The search job lifecycle on one window: a deterministic job id, create (or find the job a
//! retried create already made), poll until done, page the results, and always delete. See the
//! [`client`](super::client) module for the whole fetch.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::auth::{envelope_text, http_error, messages_line};
use super::client::{CLOCK_TOLERANCE_SECS, MAX_PAGE, ServerInfo, Splunk, malformed, vendor_error};
use super::mapping::{KIND, VENDOR};
use super::time::earliest_time;
use crate::ConnectorError;
use crate::http::authorize;

pub(super) enum JobOutcome {
    Rows {
        rows: Vec<Box<RawValue>>,
        pages: u32,
    },
    TooMany {
        count: u64,
    },
    /// The window came from a reused server clock that the job's creation did not confirm;
    /// the job was deleted unread.
    StaleClock,
}

/// A window with at most this much index time past the high-water mark (a caught-up poll) is
/// searched `exec_mode=blocking`: it is small, so Splunk answers within the request timeout.
const BLOCKING_MAX_NEW_SECS: i64 = 600;
/// … and only when the whole search, look-behind included, spans at most this much index time.
const BLOCKING_MAX_SEARCH_SECS: i64 = 3600;

/// True when the server's `date` (from a response to a request sent when the clock was
/// estimated at `estimated`, answered `waited` later) agrees with that estimate.
pub(super) fn clock_confirms(estimated: i64, waited: std::time::Duration, date: i64) -> bool {
    let waited = i64::try_from(waited.as_secs()).unwrap_or(i64::MAX);
    date >= estimated.saturating_sub(CLOCK_TOLERANCE_SECS)
        && date
            <= estimated
                .saturating_add(waited)
                .saturating_add(CLOCK_TOLERANCE_SECS)
}

impl Splunk {
    /// The job's `id`: the same source, search and window always give the same sid, so a create
    /// retried after its job was made finds that job. Hex and `_` only: valid in a sid and in
    /// the URL path segment it becomes.
    pub(super) fn job_id(&self, start: i64, end: i64, earliest: &str) -> String {
        let mut h = Sha256::new();
        for part in [
            self.source_name.as_str(),
            self.search.as_str(),
            earliest,
            &start.to_string(),
            &end.to_string(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        format!("seliq_{}", hex::encode(&h.finalize()[..16]))
    }

    /// The job's sid, and the server's clock from the `Date` of the creation's answer (`None`
    /// when it had none or the job was found after a failed create).
    pub(super) async fn create_job(
        &self,
        start: i64,
        end: i64,
        server_now: i64,
        blocking: bool,
    ) -> Result<(String, Option<i64>), ConnectorError> {
        let endpoint = "search/jobs";
        let url = self.ns_url(&["search", "jobs"]);
        let earliest = earliest_time(self.settings.earliest(), start);
        let sid = self.job_id(start, end, &earliest);
        let form: Vec<(&str, String)> = vec![
            ("search", self.search.clone()),
            ("id", sid.clone()),
            (
                "exec_mode",
                if blocking { "blocking" } else { "normal" }.into(),
            ),
            ("output_mode", "json".into()),
            ("earliest_time", earliest),
            // Events stamped in the future by a skewed source still belong to their window.
            ("latest_time", (server_now + 86_400).to_string()),
            ("index_earliest", start.to_string()),
            ("index_latest", end.to_string()),
            ("max_count", self.tuning.max_count.to_string()),
            // A failed peer fails the job instead of silently returning part of the window.
            ("allow_partial_results", "false".into()),
            // Artifacts of a job we could not delete go after 10 minutes, not a day.
            ("timeout", "600".into()),
        ];
        let scheme = self.scheme;
        let created = self
            .http
            .send_authed(endpoint, &self.tokens, |c, secret| {
                authorize(c.post(url.clone()).form(&form), scheme, secret)
            })
            .await;
        let failure = match created {
            Ok(resp) if resp.is_success() => {
                return created_sid(endpoint, &resp.body).map(|sid| (sid, date_secs(&resp)));
            }
            Ok(resp) => http_error(endpoint, &resp),
            Err(e) => quota_hint(e),
        };
        // A retried create may have been refused as a duplicate of the job its first attempt
        // made, or the retries ran out after that job was made: use it if it is there.
        if !failure.is_credential_rejected() && self.job_exists(&sid).await {
            tracing::debug!(vendor = VENDOR, sid, error = %failure, "job creation failed but the job exists; using it");
            return Ok((sid, None));
        }
        Err(failure)
    }

    pub(super) async fn job_exists(&self, sid: &str) -> bool {
        let url = self.ns_url(&["search", "jobs", sid]);
        match self
            .get("search/jobs/{sid}", url, &[("output_mode", "json".into())])
            .await
        {
            Ok(r) => r.is_success(),
            Err(_) => false,
        }
    }

    /// Polls until the job is done; returns its `resultCount` when the server reports one.
    pub(super) async fn wait_done(&self, sid: &str) -> Result<Option<u64>, ConnectorError> {
        let endpoint = "search/jobs/{sid}";
        let url = self.ns_url(&["search", "jobs", sid]);
        let started = tokio::time::Instant::now();
        let mut wait = self.tuning.poll_initial;
        loop {
            let resp = self
                .get(endpoint, url.clone(), &[("output_mode", "json".into())])
                .await?;
            match resp.status {
                200 => {
                    let status = job_status(&resp.body).map_err(|e| malformed(endpoint, e))?;
                    if status.failed {
                        let line = messages_text(&status.messages);
                        let message = if partial_messages(&status.messages).is_some() {
                            format!(
                                "partial results: search job {sid} ended {} because a search \
                                 peer failed: {line}",
                                status.state
                            )
                        } else {
                            format!("search job {sid} ended {}: {line}", status.state)
                        };
                        return Err(vendor_error(endpoint, message));
                    }
                    if status.done {
                        if status.finalized {
                            return Err(partial_error(
                                endpoint,
                                sid,
                                "was finalized (stopped before it completed)",
                            ));
                        }
                        if let Some(m) = partial_messages(&status.messages) {
                            return Err(partial_error(endpoint, sid, &format!("reported: {m}")));
                        }
                        return Ok(status.result_count);
                    }
                }
                // Splunk answers 204 while the job is still being set up.
                204 => {}
                _ => return Err(http_error(endpoint, &resp)),
            }
            if started.elapsed() >= self.tuning.job_timeout {
                return Err(ConnectorError::Vendor {
                    vendor: KIND,
                    endpoint: endpoint.to_owned(),
                    message: format!(
                        "search job {sid} was not done after {} s; Splunk may be overloaded",
                        self.tuning.job_timeout.as_secs()
                    ),
                    trace_id: None,
                });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.tuning.poll_max);
        }
    }

    pub(super) async fn read_results(
        &self,
        sid: &str,
        v2: bool,
        count: Option<u64>,
    ) -> Result<(Vec<Box<RawValue>>, u32), ConnectorError> {
        let endpoint = "search/jobs/{sid}/results";
        let url = if v2 {
            self.ns_url(&["search", "v2", "jobs", sid, "results"])
        } else {
            self.ns_url(&["search", "jobs", sid, "results"])
        };
        let page_size = self.tuning.page_size.clamp(1, MAX_PAGE);
        let mut rows: Vec<Box<RawValue>> =
            Vec::with_capacity(count.unwrap_or(0).min(page_size as u64) as usize);
        let mut pages = 0u32;
        loop {
            let offset = rows.len();
            let query = [
                ("output_mode", "json".to_owned()),
                ("offset", offset.to_string()),
                ("count", page_size.to_string()),
            ];
            let resp = self.get(endpoint, url.clone(), &query).await?;
            pages += 1;
            if !resp.is_success() {
                return Err(http_error(endpoint, &resp));
            }
            let page = results_page(&resp.body).map_err(|e| malformed(endpoint, e))?;
            if let Some(m) = page.partial {
                return Err(partial_error(endpoint, sid, &format!("reported: {m}")));
            }
            if let Some(err) = page.error {
                return Err(ConnectorError::Vendor {
                    vendor: KIND,
                    endpoint: endpoint.to_owned(),
                    message: err,
                    trace_id: None,
                });
            }
            let got = page.results.len();
            rows.extend(page.results);
            match count {
                Some(total) if (rows.len() as u64) >= total => break,
                Some(total) if got == 0 => {
                    return Err(malformed(
                        endpoint,
                        format!(
                            "the job reported {total} results but the pages ended after {}",
                            rows.len()
                        ),
                    ));
                }
                Some(_) => {}
                None if got < page_size => break,
                None => {}
            }
        }
        Ok((rows, pages))
    }

    pub(super) async fn delete_job(&self, sid: &str) {
        let endpoint = "search/jobs/{sid}";
        let url = self.ns_url(&["search", "jobs", sid]);
        let scheme = self.scheme;
        let result = self
            .http
            .send_authed(endpoint, &self.tokens, |c, secret| {
                authorize(c.delete(url.clone()), scheme, secret)
            })
            .await;
        match result {
            Ok(r) if r.is_success() || r.status == 404 => {}
            Ok(r) => {
                tracing::warn!(vendor = VENDOR, sid, status = r.status, message = %envelope_text(&r), "could not delete search job; Splunk removes it after its 10 minute timeout")
            }
            Err(e) => {
                tracing::warn!(vendor = VENDOR, sid, error = %e, "could not delete search job; Splunk removes it after its 10 minute timeout")
            }
        }
    }

    /// One job over `[start, end)` (`start` = `hw` minus the look-behind): create, wait, read (or
    /// report too many), and always delete.
    pub(super) async fn run_window(
        &self,
        start: i64,
        hw: i64,
        end: i64,
        info: &ServerInfo,
        max_rows: usize,
    ) -> Result<JobOutcome, ConnectorError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| ConnectorError::Transport {
                vendor: KIND,
                endpoint: "search/jobs".into(),
                reason: "the search slot semaphore was closed".into(),
            })?;
        let blocking = end - hw <= BLOCKING_MAX_NEW_SECS && end - start <= BLOCKING_MAX_SEARCH_SECS;
        let (sid, date) = self.create_job(start, end, info.now, blocking).await?;
        if let Some(at) = info.estimated_at {
            match date {
                Some(d) if !clock_confirms(info.now, at.elapsed(), d) => {
                    self.delete_job(&sid).await;
                    return Ok(JobOutcome::StaleClock);
                }
                Some(_) => {}
                // Nothing to confirm with: this window stands (the look-behind covers a clock
                // that moved), the next fetch reads the clock again.
                None => self.http.forget(&self.info_key),
            }
        }
        let outcome = async {
            let count = self.wait_done(&sid).await?;
            if let Some(c) = count
                && c > max_rows as u64
                && end - hw > 1
            {
                return Ok(JobOutcome::TooMany { count: c });
            }
            if let Some(c) = count
                && c >= self.tuning.max_count
            {
                return Err(ConnectorError::Vendor {
                    vendor: KIND,
                    endpoint: "search/jobs".into(),
                    message: format!(
                        "more than {c} events were indexed in the second at {hw}; they exceed the job's max_count"
                    ),
                    trace_id: None,
                });
            }
            let (rows, pages) = self.read_results(&sid, info.v2, count).await?;
            Ok(JobOutcome::Rows { rows, pages })
        }
        .await;
        self.delete_job(&sid).await;
        outcome
    }
}

pub(crate) struct JobStatus {
    state: String,
    done: bool,
    failed: bool,
    /// Stopped before it completed (by a user, `auto_finalize_ec`, or a limit): rows are missing.
    finalized: bool,
    result_count: Option<u64>,
    /// `(TYPE, text)`, type uppercased.
    messages: Vec<(String, String)>,
}

pub(crate) fn job_status(body: &[u8]) -> Result<JobStatus, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let content = v
        .pointer("/entry/0/content")
        .ok_or_else(|| "no entry[0].content in the job status".to_owned())?;
    let state = content
        .get("dispatchState")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let flag = |k: &str| match content.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    };
    let failed = flag("isFailed")
        || matches!(
            state.as_str(),
            "FAILED" | "INTERNAL_CANCEL" | "USER_CANCEL" | "BAD_INPUT_CANCEL" | "QUIT"
        );
    let done = flag("isDone") || state == "DONE";
    let result_count = match content.get("resultCount") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    Ok(JobStatus {
        messages: status_messages(content.get("messages")),
        finalized: flag("isFinalized"),
        state,
        done,
        failed,
        result_count,
    })
}

/// Job messages come as `[{type, text}]` or as `{type: [text, …]}`.
fn status_messages(v: Option<&Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    match v {
        Some(Value::Array(a)) => {
            for m in a {
                let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
                let text = m.get("text").and_then(Value::as_str).unwrap_or_default();
                out.push((kind.to_uppercase(), text.to_owned()));
            }
        }
        Some(Value::Object(o)) => {
            for (kind, texts) in o {
                match texts {
                    Value::Array(t) => out.extend(
                        t.iter()
                            .filter_map(Value::as_str)
                            .map(|t| (kind.to_uppercase(), t.to_owned())),
                    ),
                    Value::String(t) => out.push((kind.to_uppercase(), t.clone())),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    out
}

fn messages_text(messages: &[(String, String)]) -> String {
    if messages.is_empty() {
        return "no message".to_owned();
    }
    messages_line(messages.iter().map(|(k, t)| (k.as_str(), t.as_str())))
}

/// What Splunk says when a search could not read every peer: "Unable to distribute to peer
/// named … because peer has status = Down", "… results might be incomplete", "… might have
/// returned partial results". Matched on ERROR, FATAL and WARN only; INFO never fails a fetch.
const PARTIAL_MARKERS: &[&str] = &[
    "incomplete",
    "partial result",
    "unable to distribute to peer",
    "peer has status",
];

/// The ERROR/FATAL/WARN messages that say the results are incomplete, as one line.
fn partial_messages(messages: &[(String, String)]) -> Option<String> {
    let hits: Vec<(&str, &str)> = messages
        .iter()
        .filter(|(k, t)| {
            matches!(k.as_str(), "ERROR" | "FATAL" | "WARN") && {
                let t = t.to_lowercase();
                PARTIAL_MARKERS.iter().any(|m| t.contains(m))
            }
        })
        .map(|(k, t)| (k.as_str(), t.as_str()))
        .collect();
    (!hits.is_empty()).then(|| messages_line(hits.into_iter()))
}

pub(crate) struct Page {
    pub results: Vec<Box<RawValue>>,
    /// ERROR or FATAL messages of the page; INFO and WARN are only logged.
    pub error: Option<String>,
    /// Messages saying the results are incomplete (WARN included).
    pub partial: Option<String>,
}

pub(crate) fn results_page(body: &[u8]) -> Result<Page, String> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        results: Vec<Box<RawValue>>,
        #[serde(default)]
        messages: Option<Value>,
    }
    let raw: Raw = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let messages = status_messages(raw.messages.as_ref());
    let partial = partial_messages(&messages);
    let mut bad = Vec::new();
    for (kind, text) in &messages {
        if matches!(kind.as_str(), "ERROR" | "FATAL") {
            bad.push((kind.as_str(), text.as_str()));
        } else if !text.is_empty() {
            tracing::debug!(vendor = VENDOR, kind, text, "message on a results page");
        }
    }
    let error = (!bad.is_empty()).then(|| messages_line(bad.into_iter()));
    Ok(Page {
        results: raw.results,
        error,
        partial,
    })
}

/// A 503 that outlasted the retries on job creation is almost always the role's search quota.
fn quota_hint(e: ConnectorError) -> ConnectorError {
    match e {
        ConnectorError::Http {
            vendor,
            endpoint,
            status: 503,
            message,
            trace_id,
        } => ConnectorError::Http {
            vendor,
            endpoint,
            status: 503,
            message: format!(
                "{message}: Splunk refused the search, most likely because the service account's \
                 concurrent search quota (role srchJobsQuota) is in use; the pull resumes from the \
                 same checkpoint next time"
            ),
            trace_id,
        },
        other => other,
    }
}

/// The server's clock (epoch seconds) from a response's `Date` header.
pub(super) fn date_secs(resp: &crate::http::Response) -> Option<i64> {
    resp.headers
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

fn created_sid(endpoint: &str, body: &[u8]) -> Result<String, ConnectorError> {
    #[derive(Deserialize)]
    struct Created {
        sid: String,
    }
    let created: Created =
        serde_json::from_slice(body).map_err(|e| malformed(endpoint, format!("no sid: {e}")))?;
    if created.sid.is_empty() || created.sid.contains('/') {
        return Err(malformed(
            endpoint,
            format!("unusable sid {:?}", created.sid),
        ));
    }
    Ok(created.sid)
}

/// The pull summary shows this message: it must say the results were partial.
fn partial_error(endpoint: &str, sid: &str, detail: &str) -> ConnectorError {
    vendor_error(
        endpoint,
        format!(
            "partial results: search job {sid} {detail}; the fetch failed and the checkpoint \
             stays where it was, so the next pull searches this window again"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpOptions;
    use crate::splunk::Settings;
    use secrecy::SecretString;

    #[test]
    fn job_status_reads_state_count_and_messages() {
        let s = job_status(br#"{"entry":[{"content":{"dispatchState":"DONE","isDone":true,"isFailed":false,"resultCount":42}}]}"#).unwrap();
        assert!(s.done && !s.failed);
        assert_eq!(s.result_count, Some(42));
        let f = job_status(br#"{"entry":[{"content":{"dispatchState":"FAILED","isDone":true,"messages":[{"type":"FATAL","text":"boom"}]}}]}"#).unwrap();
        assert!(f.failed);
        assert_eq!(messages_text(&f.messages), "FATAL: boom");
        let o = job_status(br#"{"entry":[{"content":{"dispatchState":"RUNNING","resultCount":"7","messages":{"error":["x"]}}}]}"#).unwrap();
        assert!(!o.done);
        assert_eq!(o.result_count, Some(7));
        assert_eq!(
            messages_text(&status_messages(Some(&serde_json::json!({"error": ["x"]})))),
            "ERROR: x"
        );
    }

    #[test]
    fn finalized_jobs_and_peer_failure_messages_are_partial() {
        let f = job_status(br#"{"entry":[{"content":{"dispatchState":"DONE","isDone":true,"isFinalized":true,"resultCount":3}}]}"#).unwrap();
        assert!(f.done && f.finalized);
        let w = job_status(br#"{"entry":[{"content":{"dispatchState":"DONE","isDone":"1","messages":{"warn":["Unable to distribute to peer named idx-02 at uri https://idx-02:8089 because peer has status = \"Down\"."]}}}]}"#).unwrap();
        assert!(
            partial_messages(&w.messages)
                .unwrap()
                .starts_with("WARN: Unable to distribute")
        );
        let info = status_messages(Some(
            &serde_json::json!([{"type": "INFO", "text": "results may be incomplete"}]),
        ));
        assert!(
            partial_messages(&info).is_none(),
            "INFO never fails a fetch"
        );
        let other = status_messages(Some(
            &serde_json::json!([{"type": "WARN", "text": "Field 'x' does not exist"}]),
        ));
        assert!(partial_messages(&other).is_none());
        let page = results_page(br#"{"messages":[{"type":"WARN","text":"Search results might be incomplete: the search process on peer idx-02 ended prematurely."}],"results":[{"a":"1"}]}"#).unwrap();
        assert!(page.partial.is_some() && page.error.is_none());
    }

    #[test]
    fn job_ids_are_deterministic_per_window_and_valid_sids() {
        let s = Settings::validate(crate::splunk::Params {
            url: "https://h.example".into(),
            app: "search".into(),
            indexes: vec!["acme".into()],
            ..Default::default()
        })
        .unwrap();
        let c = Splunk::new(
            s,
            SecretString::from("t"),
            &HttpOptions::without_timeouts().unwrap(),
        )
        .unwrap();
        let a = c.job_id(100, 200, "0");
        assert_eq!(a, c.job_id(100, 200, "0"));
        assert_ne!(a, c.job_id(100, 201, "0"));
        assert_ne!(a, c.job_id(101, 200, "0"));
        assert!(a.starts_with("seliq_") && a.len() == 38);
        assert!(a.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'));
    }

    #[test]
    fn a_reused_clock_is_confirmed_within_the_tolerance_and_the_request_time() {
        let s = std::time::Duration::from_secs;
        assert!(clock_confirms(1000, s(0), 1000));
        assert!(clock_confirms(1000, s(0), 998), "the estimate rounds down");
        assert!(
            clock_confirms(1000, s(5), 1007),
            "a blocking create answers later"
        );
        assert!(!clock_confirms(1000, s(5), 1008));
        assert!(
            !clock_confirms(1000, s(0), 997),
            "the server's clock went back"
        );
        assert!(
            !clock_confirms(1000, s(0), 1030),
            "the server's clock jumped ahead"
        );
        assert!(!clock_confirms(i64::MAX, s(u64::MAX), 0));
    }

    #[test]
    fn results_page_surfaces_error_messages_only() {
        let p = results_page(br#"{"preview":false,"messages":[{"type":"INFO","text":"timerange substituted"}],"results":[{"a":"1"}]}"#).unwrap();
        assert!(p.error.is_none());
        assert_eq!(p.results.len(), 1);
        let e =
            results_page(br#"{"messages":[{"type":"FATAL","text":"bad"}],"results":[]}"#).unwrap();
        assert_eq!(e.error.as_deref(), Some("FATAL: bad"));
    }
}
