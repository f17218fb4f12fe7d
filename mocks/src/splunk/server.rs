//! The mock splunkd: routing, auth, search jobs, results, export and the `messages` envelope.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{TimeZone, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use wiremock::{Request, Respond, ResponseTemplate};

use super::SplunkMockConfig;
use super::data::{Event, Rng, View};
use super::spl::{Query, glob_match, time_modifier};
use super::xml;

pub struct Session {
    pub user: String,
    pub last_used: i64,
    pub expired: bool,
}

pub struct Job {
    pub user: String,
    pub search: String,
    pub rows: Vec<Arc<str>>,
    pub fields: Arc<str>,
    pub polls: u32,
    pub created_tick: u64,
    pub blocking: bool,
    pub failed: Option<String>,
    pub finalized: bool,
    /// WARN text of a peer that failed while the job ran with `allow_partial_results=true`:
    /// on the job's messages and on every results page.
    pub partial: Option<String>,
    pub earliest: Option<f64>,
    pub latest: Option<f64>,
    pub index_earliest: Option<f64>,
    pub index_latest: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fault {
    pub remaining: u32,
    pub status: u16,
}

impl Fault {
    fn take(&mut self) -> Option<u16> {
        (self.remaining > 0).then(|| {
            self.remaining -= 1;
            self.status
        })
    }
}

#[derive(Default)]
pub struct Faults {
    pub quota: u32,
    pub any: Fault,
    pub results: Fault,
    pub job_failures: u32,
    /// Jobs during which a search peer goes down.
    pub peer_failures: u32,
    /// Jobs finalized (stopped early) before they complete.
    pub finalizations: u32,
    /// Job creations that make the job, then answer `status` instead of 201.
    pub after_create: Fault,
    /// Job creations that make the job, then answer only after this long (a client with a
    /// shorter read timeout sees a transport error).
    pub stall_after_create: Option<(u32, std::time::Duration)>,
}

/// A search peer the mock pretends to fan out to; its rows go missing when it fails.
pub const FAILED_PEER: &str = "mock-idx-02";

/// Counters tests read through `SplunkMock::stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MockStats {
    pub requests: u64,
    pub logins: u64,
    pub unauthorized: u64,
    pub jobs_created: u64,
    pub jobs_deleted: u64,
    /// Jobs created and never deleted or cancelled.
    pub jobs_open: u64,
    pub quota_rejections: u64,
    /// The most searches one user had running at once.
    pub max_concurrent_searches: u64,
    pub results_pages: u64,
    pub exports: u64,
    /// The largest `count` a results request asked for (0 counts as the cap).
    pub max_page_count: u64,
    /// Job creations refused because their `id` was already a job's sid.
    pub duplicate_sids: u64,
    /// Job creations that asked for `allow_partial_results=false`.
    pub strict_jobs: u64,
}

pub struct State {
    pub cfg: SplunkMockConfig,
    pub now: i64,
    pub events: Vec<Event>,
    pub next_offset: HashMap<String, u64>,
    pub serial: u64,
    pub rng: Rng,
    pub key_rng: Rng,
    pub sessions: HashMap<String, Session>,
    pub revoked: HashSet<String>,
    pub jobs: HashMap<String, Job>,
    pub job_seq: u64,
    pub ticks: u64,
    pub faults: Faults,
    pub stats: MockStats,
    pub version: String,
    /// `server/info` `guid` of this instance (the search head), stable for its lifetime.
    pub guid: String,
    /// Seconds the indexer's clock runs behind the search head's: new events get
    /// `_indextime = now - skew`.
    pub indexer_skew: i64,
    /// Set by a job creation that should answer late; taken by the responder.
    pub stall: Option<std::time::Duration>,
    /// The representation the request being answered asked for.
    pub fmt: Fmt,
    /// The clock follows the wall clock: every request (and every event indexed with
    /// `SplunkMock::add_events_now`) first moves `now` up to the wall clock's second.
    pub wall_clock: bool,
}

impl State {
    /// With [`State::wall_clock`], moves the clock up to the wall clock (never back); returns the
    /// wall clock in epoch milliseconds when it did read it.
    pub fn sync_wall_clock(&mut self) -> Option<i64> {
        if !self.wall_clock {
            return None;
        }
        let ms = Utc::now().timestamp_millis();
        self.now = self.now.max(ms.div_euclid(1000));
        Some(ms)
    }
}

pub struct Handler(pub Arc<Mutex<State>>);

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        st.ticks += 1;
        st.stats.requests += 1;
        st.sync_wall_clock();
        let now = st.now;
        let (status, body, mime) = st.route(req);
        let stall = st.stall.take();
        let mut t = ResponseTemplate::new(status)
            .insert_header("Date", http_date(now))
            .insert_header("Server", "Splunkd")
            .insert_header(
                "Cache-Control",
                "no-store, no-cache, must-revalidate, max-age=0",
            );
        if status != 204 {
            t = t.set_body_raw(body.into_bytes(), mime);
        }
        if let Some(d) = stall {
            t = t.set_delay(d);
        }
        t
    }
}

type Reply = (u16, String, &'static str);

/// A search's rows (newest `_time` first), its fields list, and its four time bounds.
type Evaluated = (Vec<Arc<str>>, Arc<str>, [Option<f64>; 4]);

const JSON: &str = "application/json; charset=UTF-8";
const XML: &str = "text/xml; charset=UTF-8";
const CSV: &str = "text/csv; charset=UTF-8";

/// The representation a request asked for with `output_mode`: splunkd answers XML (Atom,
/// `<response>`, `<results>`) unless told `json`; results and export also speak `csv`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fmt {
    #[default]
    Xml,
    Json,
    Csv,
}

impl Fmt {
    fn of(p: &HashMap<String, String>) -> Self {
        match p.get("output_mode").map(String::as_str) {
            Some("json") => Fmt::Json,
            Some("csv") => Fmt::Csv,
            _ => Fmt::Xml,
        }
    }
}

fn http_date(secs: i64) -> String {
    Utc.timestamp_opt(secs, 0)
        .single()
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Query string and form body merged; the body wins, as in splunkd.
fn params(req: &Request) -> HashMap<String, String> {
    let mut p: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
    if !req.body.is_empty() {
        p.extend(url::form_urlencoded::parse(&req.body).into_owned());
    }
    p
}

/// `version` is `want` or later. Each dot-separated part counts by its leading digits
/// ("9.0.2209.1" is 9, 0, 2209, 1); the first four parts are compared as an array, missing
/// parts as zero.
pub fn version_at_least(version: &str, want: &[u64]) -> bool {
    let lead = |part: &str| {
        part.bytes()
            .take_while(u8::is_ascii_digit)
            .fold(0u64, |n, d| {
                n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
            })
    };
    let mut have = [0u64; 4];
    for (slot, part) in have.iter_mut().zip(version.split('.')) {
        *slot = lead(part);
    }
    let mut need = [0u64; 4];
    for (slot, w) in need.iter_mut().zip(want) {
        *slot = *w;
    }
    have >= need
}

impl State {
    /// The `messages` envelope in the request's representation: `{"messages":[{type,text}]}`
    /// for JSON, `<response><messages><msg type=…>` otherwise.
    fn msg(&self, status: u16, kind: &str, text: &str) -> Reply {
        if self.fmt == Fmt::Json {
            let body = json!({"messages": [{"type": kind, "text": text}]}).to_string();
            (status, body, JSON)
        } else {
            (status, xml::messages(&[(kind, text)]), XML)
        }
    }

    /// A page of results in the request's representation.
    fn render_results(
        &self,
        offset: usize,
        msgs: &[(String, String)],
        fields: &str,
        rows: &[Arc<str>],
    ) -> Reply {
        match self.fmt {
            Fmt::Json => {
                let m: Vec<serde_json::Value> = msgs
                    .iter()
                    .map(|(k, t)| json!({"type": k, "text": t}))
                    .collect();
                let m = serde_json::Value::Array(m).to_string();
                (200, results_body(offset, &m, fields, rows), JSON)
            }
            Fmt::Xml => {
                let rows: Vec<&str> = rows.iter().map(|r| &**r).collect();
                let body = xml::results(offset, msgs, &field_names(fields), &rows);
                (200, body, XML)
            }
            Fmt::Csv => {
                let rows: Vec<&str> = rows.iter().map(|r| &**r).collect();
                (200, xml::csv(&field_names(fields), &rows), CSV)
            }
        }
    }

    fn v2_supported(&self) -> bool {
        if self.cfg.instance_type == "cloud" {
            version_at_least(&self.version, &[9, 0, 2209])
        } else {
            version_at_least(&self.version, &[9, 0, 2])
        }
    }

    fn v1_results_disabled(&self) -> bool {
        version_at_least(&self.version, &[10])
    }

    fn route(&mut self, req: &Request) -> Reply {
        let p = params(req);
        self.fmt = Fmt::of(&p);
        let path = req.url.path().trim_end_matches('/').to_owned();
        let method = req.method.as_str().to_owned();
        let rest = if let Some(r) = path.strip_prefix("/services/") {
            r.to_owned()
        } else if let Some(r) = path.strip_prefix("/servicesNS/") {
            let mut parts = r.splitn(3, '/');
            let (Some(owner), Some(_app), Some(rest)) = (parts.next(), parts.next(), parts.next())
            else {
                return self.msg(404, "ERROR", "Not Found");
            };
            let owner_ok = owner == "nobody"
                || owner == "-"
                || self.cfg.users.iter().any(|(u, _)| u == owner)
                || self.cfg.tokens.iter().any(|(_, u)| u == owner);
            if !owner_ok {
                return self.msg(404, "ERROR", &format!("User does not exist: {owner}"));
            }
            rest.to_owned()
        } else {
            return self.msg(404, "ERROR", "Not Found");
        };
        if rest == "auth/login" {
            return if method == "POST" {
                self.login(&p)
            } else {
                self.msg(405, "ERROR", "Method Not Allowed")
            };
        }
        let user = match self.authenticate(req) {
            Some(u) => u,
            None => {
                self.stats.unauthorized += 1;
                return self.msg(401, "WARN", "call not properly authenticated");
            }
        };
        if let Some(status) = self.faults.any.take() {
            return self.msg(status, "ERROR", "Internal error: injected fault");
        }
        let segs: Vec<&str> = rest.split('/').collect();
        match (method.as_str(), segs.as_slice()) {
            ("GET", ["server", "info"]) | ("GET", ["server", "info", "server-info"]) => {
                self.server_info()
            }
            ("GET", ["messages"]) => self.system_messages(),
            ("POST", ["search", "jobs"]) => self.create_job(&user, &p),
            ("POST", ["search", "v2", "jobs"]) if self.v2_supported() => self.create_job(&user, &p),
            ("GET" | "POST", ["search", "jobs", "export"]) => {
                if self.v1_results_disabled() {
                    self.msg(
                        404,
                        "ERROR",
                        "The v1 endpoint search/jobs/export is deprecated and disabled; use search/v2/jobs/export.",
                    )
                } else {
                    self.export(&user, &p)
                }
            }
            ("GET" | "POST", ["search", "v2", "jobs", "export"]) if self.v2_supported() => {
                self.export(&user, &p)
            }
            ("GET", ["search", "jobs", sid]) => self.job_status(&user, sid),
            ("GET", ["search", "v2", "jobs", sid]) if self.v2_supported() => {
                self.job_status(&user, sid)
            }
            ("DELETE", ["search", "jobs", sid]) => self.delete_job(&user, sid),
            ("DELETE", ["search", "v2", "jobs", sid]) if self.v2_supported() => {
                self.delete_job(&user, sid)
            }
            ("POST", ["search", "jobs", sid, "control"]) => self.control(&user, sid, &p),
            ("POST", ["search", "v2", "jobs", sid, "control"]) if self.v2_supported() => {
                self.control(&user, sid, &p)
            }
            ("GET" | "POST", ["search", "jobs", sid, "results"]) => {
                if self.v1_results_disabled() {
                    self.msg(
                        404,
                        "ERROR",
                        "The v1 endpoint search/jobs/{sid}/results is deprecated and disabled; use search/v2/jobs/{sid}/results.",
                    )
                } else {
                    self.results(&user, sid, &p)
                }
            }
            ("GET" | "POST", ["search", "v2", "jobs", sid, "results"]) if self.v2_supported() => {
                self.results(&user, sid, &p)
            }
            _ => self.msg(404, "ERROR", "Not Found"),
        }
    }

    fn login(&mut self, p: &HashMap<String, String>) -> Reply {
        let (Some(u), Some(pw)) = (p.get("username"), p.get("password")) else {
            return self.msg(400, "ERROR", "Missing username or password");
        };
        if !self.cfg.users.iter().any(|(cu, cp)| cu == u && cp == pw) {
            self.stats.unauthorized += 1;
            return if self.fmt == Fmt::Json {
                let body = json!({"messages": [{"type": "WARN", "code": "incorrect_username_or_password", "text": "Login failed"}]});
                (401, body.to_string(), JSON)
            } else {
                (
                    401,
                    format!(
                        "{}<response>\n  <messages>\n    <msg type=\"WARN\" code=\"incorrect_username_or_password\">Login failed</msg>\n  </messages>\n</response>\n",
                        xml::PROLOG
                    ),
                    XML,
                )
            };
        }
        self.stats.logins += 1;
        let key = format!(
            "{:016x}{:016x}{:016x}{:016x}",
            self.key_rng.next_u64(),
            self.key_rng.next_u64(),
            self.key_rng.next_u64(),
            self.key_rng.next_u64()
        );
        self.sessions.insert(
            key.clone(),
            Session {
                user: u.clone(),
                last_used: self.now,
                expired: false,
            },
        );
        if self.fmt == Fmt::Json {
            (200, json!({"sessionKey": key}).to_string(), JSON)
        } else {
            (200, xml::response(&[("sessionKey", &key)]), XML)
        }
    }

    fn authenticate(&mut self, req: &Request) -> Option<String> {
        let h = req
            .headers
            .get("authorization")?
            .to_str()
            .ok()?
            .trim()
            .to_owned();
        let (scheme, cred) = h.split_once(' ')?;
        let cred = cred.trim();
        match scheme {
            "Bearer" => {
                if self.revoked.contains(cred) {
                    return None;
                }
                self.cfg
                    .tokens
                    .iter()
                    .find(|(t, _)| t == cred)
                    .map(|(_, u)| u.clone())
            }
            "Splunk" => {
                let timeout = self.cfg.session_timeout_secs;
                let now = self.now;
                let s = self.sessions.get_mut(cred)?;
                if s.expired || now - s.last_used > timeout {
                    s.expired = true;
                    return None;
                }
                s.last_used = now;
                Some(s.user.clone())
            }
            "Basic" => {
                let decoded = base64_decode(cred)?;
                let text = String::from_utf8(decoded).ok()?;
                let (u, pw) = text.split_once(':')?;
                self.cfg
                    .users
                    .iter()
                    .any(|(cu, cp)| cu == u && cp == pw)
                    .then(|| u.to_owned())
            }
            _ => None,
        }
    }

    fn server_info(&self) -> Reply {
        let body = json!({
            "links": {},
            "origin": "https://127.0.0.1:8089/services/server/info",
            "updated": Utc.timestamp_opt(self.now, 0).single().unwrap_or_default().to_rfc3339(),
            "generator": {"build": "mockbuild", "version": self.version},
            "entry": [{
                "name": "server-info",
                "id": "https://127.0.0.1:8089/services/server/info/server-info",
                "updated": Utc.timestamp_opt(self.now, 0).single().unwrap_or_default().to_rfc3339(),
                "links": {
                    "alternate": "/services/server/info/server-info",
                    "list": "/services/server/info/server-info",
                },
                "author": "system",
                "content": {
                    "build": "mockbuild",
                    "cpu_arch": "x86_64",
                    "guid": self.guid,
                    "host": "mock-splunk",
                    "instance_type": self.cfg.instance_type,
                    "isFree": false,
                    "os_name": "Linux",
                    "product_type": "enterprise",
                    "serverName": "mock-splunk",
                    "server_roles": ["indexer", "search_head"],
                    "startup_time": self.now - 86_400,
                    "version": self.version,
                }
            }],
            "paging": {"total": 1, "perPage": 30, "offset": 0},
            "messages": []
        });
        match self.fmt {
            Fmt::Json => (200, body.to_string(), JSON),
            _ => (200, xml::feed(&body, "server-info"), XML),
        }
    }

    /// `GET messages`: the system messages (bulletins) collection; the mock has none.
    fn system_messages(&self) -> Reply {
        let body = json!({
            "links": {"create": "/services/messages/_new"},
            "origin": "https://127.0.0.1:8089/services/messages",
            "updated": self.updated(),
            "generator": {"build": "mockbuild", "version": self.version},
            "entry": [],
            "paging": {"total": 0, "perPage": 30, "offset": 0},
            "messages": []
        });
        match self.fmt {
            Fmt::Json => (200, body.to_string(), JSON),
            _ => (200, xml::feed(&body, "messages"), XML),
        }
    }

    /// The mock clock as Atom's `updated`.
    fn updated(&self) -> String {
        Utc.timestamp_opt(self.now, 0)
            .single()
            .unwrap_or_default()
            .to_rfc3339()
    }

    fn running(&self, user: &str) -> u64 {
        let ticks = self.ticks;
        self.jobs
            .values()
            .filter(|j| j.user == user && !self.is_done(j, ticks))
            .count() as u64
    }

    /// A job finishes after its polls, or on its own after a while if nobody polls it.
    fn is_done(&self, j: &Job, ticks: u64) -> bool {
        j.blocking
            || j.finalized
            || j.polls > self.cfg.queued_polls + self.cfg.running_polls
            || ticks.saturating_sub(j.created_tick) > 500
    }

    fn dispatch_state(&self, j: &Job) -> &'static str {
        if self.is_done(j, self.ticks) {
            return if j.failed.is_some() { "FAILED" } else { "DONE" };
        }
        if j.polls <= self.cfg.queued_polls {
            "QUEUED"
        } else {
            "RUNNING"
        }
    }

    /// Evaluates a search over the data: (rows, fields list, time bounds).
    fn evaluate(&self, p: &HashMap<String, String>) -> Result<Evaluated, Reply> {
        let Some(search) = p.get("search") else {
            return Err(self.msg(400, "FATAL", "Missing required argument: search"));
        };
        let q = Query::parse(search).map_err(|e| self.msg(400, "FATAL", &e.0))?;
        let now = match p.get("now") {
            Some(n) => time_modifier(n, self.now).map_err(|e| self.msg(400, "FATAL", &e.0))? as i64,
            None => self.now,
        };
        let mut bounds = [None; 4];
        for (i, name) in [
            "earliest_time",
            "latest_time",
            "index_earliest",
            "index_latest",
        ]
        .iter()
        .enumerate()
        {
            if let Some(v) = p.get(*name).filter(|v| !v.is_empty()) {
                bounds[i] = Some(time_modifier(v, now).map_err(|e| self.msg(400, "FATAL", &e.0))?);
            }
        }
        let [et, lt, ie, il] = bounds;
        let mut hits: Vec<&Event> = self
            .events
            .iter()
            .filter(|e| {
                let t = e.time_ms as f64 / 1000.0;
                let it = e.indextime as f64;
                et.is_none_or(|b| t >= b)
                    && lt.is_none_or(|b| t < b)
                    && ie.is_none_or(|b| it >= b)
                    && il.is_none_or(|b| it < b)
                    && q.matches(&View {
                        event: e,
                        notable: q.notable,
                    })
            })
            .collect();
        // Splunk returns events newest first by `_time`.
        hits.sort_by_key(|e| std::cmp::Reverse(e.time_ms));
        let rows: Vec<Arc<str>> = hits
            .iter()
            .map(|e| match (&e.notable, q.notable) {
                (Some((_, row)), true) => row.clone(),
                _ => e.row.clone(),
            })
            .collect();
        let fields = fields_of(rows.first());
        Ok((rows, fields, bounds))
    }

    fn create_job(&mut self, user: &str, p: &HashMap<String, String>) -> Reply {
        if self.faults.quota > 0 {
            self.faults.quota -= 1;
            return self.quota_exceeded(user);
        }
        if self.running(user) >= self.cfg.search_quota as u64 {
            return self.quota_exceeded(user);
        }
        let (mut rows, fields, bounds) = match self.evaluate(p) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        let max_count = p
            .get("max_count")
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(self.cfg.default_max_count);
        rows.truncate(max_count);
        let mode = p.get("exec_mode").map_or("normal", String::as_str);
        if mode == "oneshot" {
            let count = page_count(p, self.cfg.max_result_rows);
            let end = rows.len().min(count);
            return self.render_results(0, &[], &fields, &rows[..end]);
        }
        if mode != "normal" && mode != "blocking" {
            return self.msg(400, "ERROR", &format!("Invalid exec_mode '{mode}'"));
        }
        // `id` names the sid; Splunk does not document its answer to an id already in use, so
        // the mock refuses it like any bad argument (400) and keeps the existing job.
        let sid = match p.get("id").filter(|i| !i.is_empty()) {
            Some(id) if !valid_sid(id) => {
                return self.msg(400, "ERROR", &format!("Invalid search ID '{id}'."));
            }
            Some(id) if self.jobs.contains_key(id) => {
                self.stats.duplicate_sids += 1;
                return self.msg(400, "ERROR", &format!("Search ID '{id}' already exists."));
            }
            Some(id) => id.clone(),
            None => {
                self.job_seq += 1;
                format!("{}.{}", self.now, self.job_seq)
            }
        };
        // savedsearches.conf: `allow_partial_results` defaults to true; false fails the job
        // when a search peer providing results fails.
        let allow_partial = p
            .get("allow_partial_results")
            .is_none_or(|v| !matches!(v.as_str(), "false" | "0" | "f" | "no"));
        if !allow_partial {
            self.stats.strict_jobs += 1;
        }
        let mut failed = (self.faults.job_failures > 0).then(|| {
            self.faults.job_failures -= 1;
            "Search process did not exit cleanly, exit_code=255 (injected fault)".to_owned()
        });
        let mut partial = None;
        if self.faults.peer_failures > 0 {
            self.faults.peer_failures -= 1;
            let down = format!(
                "Unable to distribute to peer named {FAILED_PEER} at uri https://{FAILED_PEER}:8089 because peer has status = \"Down\"."
            );
            if allow_partial {
                // The peer's share of the rows is missing from the results.
                rows = rows.into_iter().step_by(2).collect();
                partial = Some(format!("{down} Search results might be incomplete."));
            } else {
                failed = Some(down);
            }
        }
        let finalized = self.faults.finalizations > 0 && failed.is_none();
        if finalized {
            self.faults.finalizations -= 1;
            // Stopped early: only what had been found so far.
            rows.truncate(rows.len() / 2);
        }
        let [earliest, latest, index_earliest, index_latest] = bounds;
        self.jobs.insert(
            sid.clone(),
            Job {
                user: user.to_owned(),
                search: p.get("search").cloned().unwrap_or_default(),
                rows,
                fields,
                polls: 0,
                created_tick: self.ticks,
                blocking: mode == "blocking",
                failed,
                finalized,
                partial,
                earliest,
                latest,
                index_earliest,
                index_latest,
            },
        );
        self.stats.jobs_created += 1;
        self.stats.jobs_open += 1;
        let running = self.running(user);
        self.stats.max_concurrent_searches = self.stats.max_concurrent_searches.max(running);
        if let Some(status) = self.faults.after_create.take() {
            return self.msg(
                status,
                "ERROR",
                "Internal error: injected fault after the job was created",
            );
        }
        if let Some((n, delay)) = self.faults.stall_after_create.as_mut() {
            *n -= 1;
            self.stall = Some(*delay);
            if *n == 0 {
                self.faults.stall_after_create = None;
            }
        }
        match self.fmt {
            Fmt::Json => (201, json!({"sid": sid}).to_string(), JSON),
            _ => (201, xml::response(&[("sid", &sid)]), XML),
        }
    }

    fn quota_exceeded(&mut self, user: &str) -> Reply {
        self.stats.quota_rejections += 1;
        let limit = self.cfg.search_quota;
        let current = self.running(user);
        self.msg(
            503,
            "FATAL",
            &format!(
                "Search not executed: The maximum number of concurrent historical searches for this user based on their role quota has been reached. concurrency_category=\"historical\", concurrency_context=\"user\", concurrency_limit=\"{limit}\", current_concurrency=\"{current}\", user=\"{user}\""
            ),
        )
    }

    fn job_status(&mut self, user: &str, sid: &str) -> Reply {
        let ticks = self.ticks;
        let Some(j) = self.jobs.get_mut(sid).filter(|j| j.user == user) else {
            return self.msg(404, "ERROR", "Unknown sid.");
        };
        j.polls += 1;
        let Some(j) = self.jobs.get(sid) else {
            return self.msg(404, "ERROR", "Unknown sid.");
        };
        let state = self.dispatch_state(j);
        let done = self.is_done(j, ticks);
        let failed = state == "FAILED";
        let count = if failed { 0 } else { j.rows.len() };
        let msgs = match (&j.failed, &j.partial) {
            (Some(m), _) if failed => json!([{"type": "FATAL", "text": m}]),
            (_, Some(m)) if done => json!([{"type": "WARN", "text": m}]),
            _ => json!([]),
        };
        let body = json!({
            "links": {},
            "origin": format!("https://127.0.0.1:8089/services/search/jobs/{sid}"),
            "generator": {"build": "mockbuild", "version": self.version},
            "entry": [{
                "name": j.search,
                "id": format!("https://127.0.0.1:8089/services/search/jobs/{sid}"),
                "updated": self.updated(),
                "links": {
                    "alternate": format!("/services/search/jobs/{sid}"),
                    "results": format!("/services/search/jobs/{sid}/results"),
                    "control": format!("/services/search/jobs/{sid}/control"),
                },
                "author": j.user,
                "content": {
                    "sid": sid,
                    "dispatchState": state,
                    "isDone": done,
                    "isFailed": failed,
                    "isFinalized": j.finalized,
                    "isPaused": false,
                    "isSaved": false,
                    "doneProgress": if done { 1.0 } else { 0.5 },
                    "resultCount": if done { count } else { 0 },
                    "eventCount": if done { count } else { 0 },
                    "scanCount": if done { count } else { 0 },
                    "earliestTime": j.earliest,
                    "latestTime": j.latest,
                    "indexEarliestTime": j.index_earliest,
                    "indexLatestTime": j.index_latest,
                    "ttl": 600,
                    "messages": msgs,
                    "request": {"search": j.search},
                },
                "acl": {"app": "search", "owner": j.user, "sharing": "global"},
            }],
            "paging": {"total": 1, "perPage": 0, "offset": 0},
            "messages": []
        });
        match self.fmt {
            Fmt::Json => (200, body.to_string(), JSON),
            _ => (200, xml::root_entry(&body["entry"][0]), XML),
        }
    }

    fn delete_job(&mut self, user: &str, sid: &str) -> Reply {
        match self.jobs.get(sid) {
            Some(j) if j.user == user => {
                self.jobs.remove(sid);
                self.stats.jobs_deleted += 1;
                self.stats.jobs_open = self.stats.jobs_open.saturating_sub(1);
                self.msg(200, "INFO", "Search job cancelled.")
            }
            _ => self.msg(404, "ERROR", "Unknown sid."),
        }
    }

    fn control(&mut self, user: &str, sid: &str, p: &HashMap<String, String>) -> Reply {
        match p.get("action").map(String::as_str) {
            Some("cancel") => self.delete_job(user, sid),
            Some("finalize") => match self.jobs.get_mut(sid).filter(|j| j.user == user) {
                Some(j) => {
                    j.finalized = true;
                    self.msg(200, "INFO", "Search job finalized.")
                }
                None => self.msg(404, "ERROR", "Unknown sid."),
            },
            other => self.msg(400, "ERROR", &format!("Unsupported action {other:?}")),
        }
    }

    fn results(&mut self, user: &str, sid: &str, p: &HashMap<String, String>) -> Reply {
        if let Some(status) = self.faults.results.take() {
            return self.msg(status, "ERROR", "Internal error: injected fault on results");
        }
        let ticks = self.ticks;
        let Some(j) = self.jobs.get(sid).filter(|j| j.user == user) else {
            return self.msg(404, "ERROR", "Unknown sid.");
        };
        if !self.is_done(j, ticks) {
            return (204, String::new(), JSON);
        }
        if let Some(m) = &j.failed {
            return self.msg(400, "FATAL", m);
        }
        let asked = p
            .get("count")
            .and_then(|c| c.parse::<u64>().ok())
            .unwrap_or(100);
        let count = page_count(p, self.cfg.max_result_rows);
        let offset = p
            .get("offset")
            .and_then(|o| o.parse::<usize>().ok())
            .unwrap_or(0)
            .min(j.rows.len());
        let end = j.rows.len().min(offset.saturating_add(count));
        let msgs: Vec<(String, String)> = j
            .partial
            .iter()
            .map(|m| ("WARN".to_owned(), m.clone()))
            .collect();
        let reply = self.render_results(offset, &msgs, &j.fields, &j.rows[offset..end]);
        self.stats.results_pages += 1;
        let asked = if asked == 0 {
            self.cfg.max_result_rows as u64
        } else {
            asked
        };
        self.stats.max_page_count = self.stats.max_page_count.max(asked);
        reply
    }

    fn export(&mut self, user: &str, p: &HashMap<String, String>) -> Reply {
        if self.faults.quota > 0 {
            self.faults.quota -= 1;
            return self.quota_exceeded(user);
        }
        let (mut rows, fields, _) = match self.evaluate(p) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        if let Some(mc) = p.get("max_count").and_then(|c| c.parse::<usize>().ok()) {
            rows.truncate(mc);
        }
        self.stats.exports += 1;
        // XML (the default) and CSV: the final result set as one document.
        if self.fmt != Fmt::Json {
            return self.render_results(0, &[], &fields, &rows);
        }
        let mut out = String::with_capacity(rows.iter().map(|r| r.len() + 48).sum::<usize>() + 256);
        if self.cfg.export_preview && !rows.is_empty() {
            out.push_str("{\"preview\":true,\"messages\":[{\"type\":\"INFO\",\"text\":\"Your timerange was substituted based on your search string\"}]}\n");
            let n = rows.len().min(3);
            for (i, r) in rows[..n].iter().enumerate() {
                let last = if i + 1 == n { ",\"lastrow\":true" } else { "" };
                out.push_str(&format!(
                    "{{\"preview\":true,\"offset\":{i}{last},\"result\":{r}}}\n"
                ));
            }
        }
        if rows.is_empty() {
            out.push_str("{\"preview\":false,\"lastrow\":true}\n");
        }
        let n = rows.len();
        for (i, r) in rows.iter().enumerate() {
            let last = if i + 1 == n { ",\"lastrow\":true" } else { "" };
            out.push_str(&format!(
                "{{\"preview\":false,\"offset\":{i}{last},\"result\":{r}}}\n"
            ));
        }
        (200, out, JSON)
    }
}

/// Sids are file names in the dispatch directory: letters, digits, `_`, `.`, `-`, `@`, `:`.
fn valid_sid(id: &str) -> bool {
    id.len() <= 200
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@' | ':'))
}

/// `count`: default 100; 0 means "all", capped by `maxresultrows` like any larger value.
fn page_count(p: &HashMap<String, String>, cap: usize) -> usize {
    match p.get("count").and_then(|c| c.parse::<usize>().ok()) {
        None => 100.min(cap),
        Some(0) => cap,
        Some(c) => c.min(cap),
    }
}

fn results_body(offset: usize, messages: &str, fields: &str, rows: &[Arc<str>]) -> String {
    let mut body =
        String::with_capacity(rows.iter().map(|r| r.len() + 1).sum::<usize>() + fields.len() + 128);
    body.push_str("{\"preview\":false,\"init_offset\":");
    body.push_str(&offset.to_string());
    body.push_str(",\"messages\":");
    body.push_str(messages);
    body.push_str(",\"fields\":");
    body.push_str(fields);
    body.push_str(",\"results\":[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(r);
    }
    body.push_str("],\"highlighted\":{}}");
    body
}

/// The names in a JSON `fields` list (`[{"name":…}]`).
fn field_names(fields: &str) -> Vec<String> {
    serde_json::from_str::<Vec<serde_json::Value>>(fields)
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f.get("name").and_then(|n| n.as_str()).map(str::to_owned))
        .collect()
}

fn fields_of(row: Option<&Arc<str>>) -> Arc<str> {
    let names: Vec<serde_json::Value> = row
        .and_then(|r| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(r).ok())
        .map(|m| m.keys().map(|k| json!({"name": k})).collect())
        .unwrap_or_default();
    Arc::from(serde_json::Value::Array(names).to_string())
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

/// Ground-truth filter shared with `SplunkMock::events`.
pub fn in_scope(e: &Event, indexes: &[&str], filter: Option<(&str, &str)>) -> bool {
    let view = View {
        event: e,
        notable: true,
    };
    indexes
        .iter()
        // `*` never reaches internal indexes; only a glob that names `_` does.
        .any(|i| (i.starts_with('_') || !e.index.starts_with('_')) && glob_match(i, &e.index))
        && filter.is_none_or(|(f, g)| {
            use super::spl::Fields;
            view.values(f).iter().any(|v| glob_match(g, v))
        })
}

/// A short stable id for sessions created from the seed.
pub fn key_seed(seed: u64) -> u64 {
    let h = Sha256::digest(seed.to_be_bytes());
    u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_comparison() {
        assert!(version_at_least("9.0.2", &[9, 0, 2]));
        assert!(version_at_least("9.1.0", &[9, 0, 2]));
        assert!(version_at_least("10.2.1", &[10]));
        assert!(!version_at_least("9.0.1", &[9, 0, 2]));
        assert!(!version_at_least("8.2.12", &[9, 0, 2]));
    }

    #[test]
    fn base64_decodes_basic_credentials() {
        assert_eq!(
            base64_decode("YWRtaW46Y2hhbmdlbWU=").unwrap(),
            b"admin:changeme"
        );
    }
}
