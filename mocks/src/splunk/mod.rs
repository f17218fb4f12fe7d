//! A mock splunkd management API (port 8089), per Splunk's REST API reference
//! (`search/jobs`, `search/v2/jobs/{sid}/results`, `auth/login`, `server/info`).
//!
//! # Representations
//! Like splunkd, the mock answers **XML unless the request says `output_mode=json`** (query or
//! form): Atom feeds and entries with an `s:dict` content for `server/info`, `messages` and job
//! status; `<response><sessionKey>` / `<response><sid>` for login and job creation;
//! `<results>` for results, oneshot and export (`output_mode=csv` gives CSV there); and
//! `<response><messages><msg type=…>` for errors and notices. Both forms are written from one
//! value, so they carry the same fields (booleans are `1`/`0` in XML); see `splunk/xml.rs`.
//!
//! # Serves
//! - `POST /services/auth/login` (`username`, `password`, `output_mode=json` → `{"sessionKey"}`,
//!   else `<response><sessionKey>`; 401 `Login failed`). Requests authenticate with
//!   `Authorization: Splunk <key>`, `Bearer <token>` or Basic. A session expires after `session_timeout_secs` idle on the mock
//!   clock, or at once with [`SplunkMock::expire_sessions`]; then 401 "call not properly
//!   authenticated".
//! - `GET server/info` with a configurable `version` and `instance_type`, and a `guid` stable for
//!   the server's lifetime and distinct per server (seed and port), as each Splunk instance has.
//! - `GET messages`: the system messages collection, empty.
//! - Every endpoint under `/services/…` and `/servicesNS/<owner>/<app>/…` (owner `nobody`, `-` or
//!   a known user).
//! - `POST search/jobs` (and `search/v2/jobs` from 9.0.2): `search`, `earliest_time`,
//!   `latest_time` (on `_time`), `index_earliest`, `index_latest` (on `_indextime`; earliest
//!   inclusive, latest exclusive), `now`, `max_count` (default 10,000: later rows are dropped,
//!   newest `_time` first), `exec_mode` normal | blocking | oneshot, `id` (the sid to use; one
//!   already in use gets 400, since Splunk does not document that answer),
//!   `allow_partial_results` (default true). 201 `{"sid"}`. The search
//!   language is the subset in [`spl`]: indexes, `IN`, `OR`, `AND`, `NOT`, wildcards, field
//!   equality, `| search` stages and the `` `notable` `` macro (adds `event_id`, `urgency`,
//!   `status`, `status_label`, `owner` at search time).
//! - `GET search/jobs/<sid>` (and v2): `entry[0].content.dispatchState` goes QUEUED →
//!   RUNNING → DONE, one step per `queued_polls`/`running_polls` status polls, plus `isDone`,
//!   `isFailed`, `resultCount`, `messages`.
//! - `GET|POST search/v2/jobs/<sid>/results` (`offset`, `count` default 100, 0 = all, capped at
//!   `max_result_rows`), 204 while the job runs. The v1 `search/jobs/<sid>/results` works before
//!   10.0 and is disabled (404) from 10.0, as is v1 export.
//! - `DELETE search/jobs/<sid>`, `POST search/jobs/<sid>/control` (`cancel`, `finalize`).
//! - `GET|POST search/v2/jobs/export`: newline-delimited JSON, a preview set first
//!   (`"preview":true`, a `messages` line) then the final set; the last row of each set carries
//!   `"lastrow":true`; an empty result is one `{"preview":false,"lastrow":true}`.
//! - Errors use the `{"messages":[{"type","text"}]}` envelope (XML: `<response><messages>`). A user may run `search_quota`
//!   searches at once; one more gets 503 "Search not executed: The maximum number of concurrent
//!   historical searches …".
//! - Every response has a `Date` header from the mock clock (the "server now").
//!
//! # Data
//! Seeded by `seed`: raw events in each of `indexes` (`linux_secure` lines with `_cd`,
//! `_indextime`, `_raw`, `_time`, `host`, `index`, …) and ES notables in the shared `notable`
//! index, one per `(orig_index, n)` of `notables`. `_time` spreads over `span` before
//! `now - settle_secs`; `late_fraction` of them are indexed 1–12 h after their `_time`, the rest
//! within 30 s. The clock stands still unless moved: [`SplunkMock::advance_clock`], or the
//! `add_*` methods, which index at the current clock and then move it `settle_secs` forward
//! (except [`SplunkMock::add_events_now`], which leaves it), or
//! [`SplunkMock::follow_wall_clock`] (real time, for the standalone server).
//!
//! # Credentials (defaults)
//! User [`DEFAULT_USER`] / [`DEFAULT_PASSWORD`]; token [`DEFAULT_TOKEN`] (for the same user).
//!
//! # Faults
//! [`SplunkMock::expire_sessions`], [`SplunkMock::revoke_token`],
//! [`SplunkMock::fail_next_searches_with_quota`], [`SplunkMock::fail_next_requests`],
//! [`SplunkMock::fail_next_results`], [`SplunkMock::fail_next_jobs`],
//! [`SplunkMock::set_job_polls`], [`SplunkMock::set_version`], [`SplunkMock::fail_peer_next_jobs`],
//! [`SplunkMock::finalize_next_jobs`], [`SplunkMock::fail_next_job_creations_after_creating`],
//! [`SplunkMock::stall_next_job_creations`], [`SplunkMock::set_indexer_skew`].
//!
//! # Ground truth
//! [`SplunkMock::events`] lists every stored event matching index globs and an optional field
//! glob (as the `notable` macro sees it), [`SplunkMock::stats`] counts logins, jobs (created,
//! still open), 503s, duplicate sids refused, jobs created with `allow_partial_results=false`, and
//! the most searches one user ran at once.

mod data;
mod server;
pub mod spl;
mod xml;

use std::net::TcpListener;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use wiremock::{Mock, MockServer, matchers::any};

pub use server::{FAILED_PEER, MockStats};

use data::{Draft, NotableState, Rng, build_event, iso_time};
use server::{Faults, Handler, State, in_scope, key_seed};

pub const DEFAULT_USER: &str = "admin";
pub const DEFAULT_PASSWORD: &str = "changeme";
pub const DEFAULT_TOKEN: &str = "mock-splunk-token-0123456789abcdef";

#[derive(Debug, Clone)]
pub struct SplunkMockConfig {
    pub seed: u64,
    /// Mock clock at start; the `Date` header reports it.
    pub now: DateTime<Utc>,
    /// `_time` of the seeded data spreads over this span before `now - settle_secs`.
    pub span: Duration,
    /// Raw events per index.
    pub indexes: Vec<(String, usize)>,
    /// ES notables in the `notable` index per `orig_index`.
    pub notables: Vec<(String, usize)>,
    /// Share of events indexed 1–12 h after their `_time`.
    pub late_fraction: f64,
    /// Seconds the clock stands ahead of the newest `_indextime`.
    pub settle_secs: i64,
    pub version: String,
    /// `download` or `cloud` (Cloud needs 9.0.2209 for v2 endpoints).
    pub instance_type: String,
    /// `(username, password)`.
    pub users: Vec<(String, String)>,
    /// `(token, username)`.
    pub tokens: Vec<(String, String)>,
    pub session_timeout_secs: i64,
    /// Concurrent searches per user (role `srchJobsQuota`).
    pub search_quota: usize,
    pub queued_polls: u32,
    pub running_polls: u32,
    /// `limits.conf [restapi] maxresultrows`.
    pub max_result_rows: usize,
    /// `max_count` when a job does not set it.
    pub default_max_count: usize,
    pub export_preview: bool,
    /// `server/info` `guid`. `None`: derived from the seed and the port, so each mock server has
    /// its own, stable for its lifetime, and every URL reaching it reports the same one.
    pub server_guid: Option<String>,
}

impl Default for SplunkMockConfig {
    fn default() -> Self {
        let now = Utc::now().timestamp();
        SplunkMockConfig {
            seed: 7,
            now: Utc.timestamp_opt(now, 0).single().unwrap_or_default(),
            span: Duration::from_secs(20 * 3600),
            indexes: vec![
                ("acme_prod".into(), 300),
                ("acme_dev".into(), 100),
                ("globex_prod".into(), 300),
                ("main".into(), 50),
            ],
            notables: vec![("acme_prod".into(), 60), ("globex_prod".into(), 60)],
            late_fraction: 0.05,
            settle_secs: 60,
            version: "9.4.1".into(),
            instance_type: "download".into(),
            users: vec![(DEFAULT_USER.into(), DEFAULT_PASSWORD.into())],
            tokens: vec![(DEFAULT_TOKEN.into(), DEFAULT_USER.into())],
            session_timeout_secs: 3600,
            search_quota: 3,
            queued_polls: 1,
            running_polls: 1,
            max_result_rows: 50_000,
            default_max_count: 10_000,
            export_preview: true,
            server_guid: None,
        }
    }
}

/// One stored event, as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MockEvent {
    pub index: String,
    pub cd: String,
    pub time: String,
    pub indextime: i64,
    pub late: bool,
    /// The notable macro's `event_id`, for events in the `notable` index.
    pub event_id: Option<String>,
}

pub struct SplunkMock {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl SplunkMock {
    pub async fn start(config: SplunkMockConfig) -> Self {
        Self::serve(MockServer::builder(), config).await
    }

    pub async fn start_on(listener: TcpListener, config: SplunkMockConfig) -> Self {
        Self::serve(MockServer::builder().listener(listener), config).await
    }

    async fn serve(builder: wiremock::MockServerBuilder, config: SplunkMockConfig) -> Self {
        let state = Arc::new(Mutex::new(seed(config)));
        let server = builder.disable_request_recording().start().await;
        {
            let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
            st.guid = match &st.cfg.server_guid {
                Some(g) => g.clone(),
                None => server_guid(st.cfg.seed, server.address().port()),
            };
        }
        Mock::given(any())
            .respond_with(Handler(state.clone()))
            .mount(&server)
            .await;
        SplunkMock { server, state }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.with(|s| Utc.timestamp_opt(s.now, 0).single().unwrap_or_default())
    }

    pub fn advance_clock(&self, secs: i64) {
        self.with(|s| s.now += secs);
    }

    /// From now on the clock follows the wall clock (to the second, never moving back): each
    /// request first moves it up to the current second, so the `Date` header and relative times
    /// (`now`, `-24h`) are real time. [`Self::advance_clock`] and the `add_*` methods can still
    /// move it ahead; it then stands still until the wall clock catches up. For the standalone
    /// `seliq-mocks serve`, whose clients take the window's end from the `Date` header.
    pub fn follow_wall_clock(&self) {
        self.with(|s| {
            s.wall_clock = true;
            s.sync_wall_clock();
        });
    }

    /// Indexes `n` raw events in `index` at the current clock, without moving it on: `_time` and
    /// `_indextime` are both the moment of insertion (live events appearing at the vendor).
    /// When following the wall clock the clock is first moved up to it, and `_time` carries the
    /// wall clock's millisecond (`_indextime` is whole seconds, as in Splunk). With an indexer
    /// skew both are that far behind.
    pub fn add_events_now(&self, index: &str, n: usize) -> Vec<MockEvent> {
        self.with(|s| {
            let wall_ms = s.sync_wall_clock();
            let now = s.now;
            let time_ms = match wall_ms {
                Some(ms) if ms.div_euclid(1000) == now => ms,
                _ => now * 1000,
            } - s.indexer_skew * 1000;
            let indextime = now - s.indexer_skew;
            (0..n)
                .map(|_| {
                    let d = Draft {
                        index: index.to_owned(),
                        time_ms,
                        indextime,
                        late: false,
                        notable_for: None,
                    };
                    push(s, d)
                })
                .collect()
        })
    }

    pub fn set_version(&self, version: &str) {
        self.with(|s| s.version = version.to_owned());
    }

    /// Indexes `n` raw events in `index` now, `_time` within the last minute; then the clock
    /// moves `settle_secs` on.
    pub fn add_events(&self, index: &str, n: usize) -> Vec<MockEvent> {
        self.add(index, None, n, 0)
    }

    /// Like [`Self::add_events`] but with `_time` `lateness` before the index time.
    pub fn add_late_events(&self, index: &str, n: usize, lateness: Duration) -> Vec<MockEvent> {
        self.add(index, None, n, lateness.as_secs() as i64)
    }

    /// Indexes `n` ES notables for `orig_index` in the `notable` index now.
    pub fn add_notables(&self, orig_index: &str, n: usize, lateness: Duration) -> Vec<MockEvent> {
        self.add("notable", Some(orig_index), n, lateness.as_secs() as i64)
    }

    fn add(&self, index: &str, orig: Option<&str>, n: usize, lateness: i64) -> Vec<MockEvent> {
        self.with(|s| {
            // The indexer stamps `_indextime` from its own clock.
            let now = s.now - s.indexer_skew;
            let out = (0..n)
                .map(|i| {
                    let back = if lateness > 0 {
                        lateness
                    } else {
                        s.rng.range(1, 60)
                    };
                    let time_ms = (now - back) * 1000 - (i as i64 % 1000);
                    let d = Draft {
                        index: index.to_owned(),
                        time_ms,
                        indextime: now,
                        late: lateness >= 600,
                        notable_for: orig.map(str::to_owned),
                    };
                    push(s, d)
                })
                .collect();
            s.now += s.cfg.settle_secs;
            out
        })
    }

    /// An ES analyst edit: a KV-store change the macro shows at search time. `_indextime` does
    /// not move, so an index-time fetch does not see it (as in Splunk).
    pub fn set_notable_status(&self, event_id: &str, status: u8, owner: &str) -> bool {
        self.with(|s| {
            let Some(e) = s.events.iter_mut().find(|e| e.event_id() == Some(event_id)) else {
                return false;
            };
            if let Some((n, _)) = &e.notable {
                let n = NotableState {
                    status,
                    owner: owner.to_owned(),
                    ..n.clone()
                };
                e.set_notable(n);
            }
            true
        })
    }

    /// Every session key now answers 401; clients must log in again.
    pub fn expire_sessions(&self) {
        self.with(|s| s.sessions.values_mut().for_each(|x| x.expired = true));
    }

    pub fn revoke_token(&self, token: &str) {
        self.with(|s| {
            s.revoked.insert(token.to_owned());
        });
    }

    /// The next `n` job creations (or exports) get the 503 concurrent-search quota error.
    pub fn fail_next_searches_with_quota(&self, n: u32) {
        self.with(|s| s.faults.quota += n);
    }

    /// The next `n` authenticated requests of any kind get `status` (e.g. 500, 502).
    pub fn fail_next_requests(&self, n: u32, status: u16) {
        self.with(|s| {
            s.faults.any = server::Fault {
                remaining: n,
                status,
            }
        });
    }

    /// The next `n` results pages get `status`.
    pub fn fail_next_results(&self, n: u32, status: u16) {
        self.with(|s| {
            s.faults.results = server::Fault {
                remaining: n,
                status,
            }
        });
    }

    /// The next `n` jobs end FAILED with a FATAL message.
    pub fn fail_next_jobs(&self, n: u32) {
        self.with(|s| s.faults.job_failures += n);
    }

    /// The indexer's clock runs `secs` behind the search head's (the `Date` header): events
    /// indexed from now on get `_indextime` that far behind the search head's clock, so they
    /// land behind a window end already computed from the search head's clock.
    pub fn set_indexer_skew(&self, secs: i64) {
        self.with(|s| s.indexer_skew = secs);
    }

    /// The next `n` jobs lose a search peer ([`server::FAILED_PEER`]) while they run. A job
    /// created with `allow_partial_results=false` then fails (FAILED, `isFailed`, an ERROR
    /// "Unable to distribute to peer …" message). Otherwise (Splunk's default) it ends DONE
    /// without that peer's rows (every second row), with a WARN saying results might be
    /// incomplete on the job and on each results page.
    pub fn fail_peer_next_jobs(&self, n: u32) {
        self.with(|s| s.faults.peer_failures += n);
    }

    /// The next `n` jobs are finalized before they complete: DONE with `isFinalized` true and
    /// only the first half of their rows.
    pub fn finalize_next_jobs(&self, n: u32) {
        self.with(|s| s.faults.finalizations += n);
    }

    /// The next `n` job creations make the job, then answer `status` (e.g. 502) instead of 201.
    pub fn fail_next_job_creations_after_creating(&self, n: u32, status: u16) {
        self.with(|s| {
            s.faults.after_create = server::Fault {
                remaining: n,
                status,
            }
        });
    }

    /// The next `n` job creations make the job, then answer 201 only after `delay`: a client
    /// whose read timeout is shorter sees a transport error for a job that exists.
    pub fn stall_next_job_creations(&self, n: u32, delay: Duration) {
        self.with(|s| s.faults.stall_after_create = (n > 0).then_some((n, delay)));
    }

    /// This server's `server/info` `guid`.
    pub fn server_guid(&self) -> String {
        self.with(|s| s.guid.clone())
    }

    pub fn set_job_polls(&self, queued: u32, running: u32) {
        self.with(|s| {
            s.cfg.queued_polls = queued;
            s.cfg.running_polls = running;
        });
    }

    /// Every stored event in an index matching one of `indexes` (globs) and, when given,
    /// whose field matches the glob (notable macro fields included).
    pub fn events(&self, indexes: &[&str], filter: Option<(&str, &str)>) -> Vec<MockEvent> {
        self.with(|s| {
            s.events
                .iter()
                .filter(|e| in_scope(e, indexes, filter))
                .map(view)
                .collect()
        })
    }

    pub fn stats(&self) -> MockStats {
        self.with(|s| s.stats.clone())
    }
}

fn view(e: &data::Event) -> MockEvent {
    MockEvent {
        index: e.index.clone(),
        cd: e.cd.clone(),
        time: iso_time(e.time_ms),
        indextime: e.indextime,
        late: e.late,
        event_id: e.event_id().map(str::to_owned),
    }
}

fn push(s: &mut State, d: Draft) -> MockEvent {
    let off = s.next_offset.entry(d.index.clone()).or_insert(0);
    // `_cd` is `<bucket>:<offset>`: buckets roll every 10,000 events.
    let cd = format!("{}:{}", *off / 10_000, *off);
    *off += 1;
    s.serial += 1;
    let e = build_event(d, cd, s.serial, &mut s.rng);
    let v = view(&e);
    s.events.push(e);
    v
}

/// A GUID in Splunk's upper-case form, from the seed and the port.
fn server_guid(seed: u64, port: u16) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("splunk server guid {seed} {port}").as_bytes());
    let x: String = h.iter().take(16).map(|b| format!("{b:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn seed(cfg: SplunkMockConfig) -> State {
    let now = cfg.now.timestamp();
    let mut st = State {
        now,
        events: Vec::new(),
        next_offset: Default::default(),
        serial: 0,
        rng: Rng::new(cfg.seed),
        key_rng: Rng::new(key_seed(cfg.seed)),
        sessions: Default::default(),
        revoked: Default::default(),
        jobs: Default::default(),
        job_seq: 0,
        ticks: 0,
        faults: Faults::default(),
        stats: MockStats::default(),
        version: cfg.version.clone(),
        guid: String::new(),
        indexer_skew: 0,
        stall: None,
        fmt: Default::default(),
        wall_clock: false,
        cfg,
    };
    let newest = now - st.cfg.settle_secs;
    let span_ms = (st.cfg.span.as_millis() as i64).max(1000);
    let plan: Vec<(String, Option<String>, usize)> = st
        .cfg
        .indexes
        .iter()
        .map(|(i, n)| (i.clone(), None, *n))
        .chain(
            st.cfg
                .notables
                .iter()
                .map(|(o, n)| ("notable".to_owned(), Some(o.clone()), *n)),
        )
        .collect();
    let late_fraction = st.cfg.late_fraction;
    for (index, orig, n) in plan {
        for i in 0..n {
            let base = newest * 1000 - span_ms + (span_ms * i as i64) / n.max(1) as i64;
            let time_ms = base + st.rng.range(0, 999);
            let late = st.rng.chance(late_fraction);
            let delay = if late {
                st.rng.range(3600, 12 * 3600)
            } else {
                st.rng.range(0, 30)
            };
            let indextime = (time_ms / 1000 + delay).min(newest);
            let d = Draft {
                index: index.clone(),
                time_ms,
                indextime,
                late: indextime - time_ms / 1000 >= 600,
                notable_for: orig.clone(),
            };
            push(&mut st, d);
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SplunkMockConfig {
        SplunkMockConfig {
            indexes: vec![("acme_prod".into(), 3), ("globex_prod".into(), 3)],
            notables: Vec::new(),
            ..SplunkMockConfig::default()
        }
    }

    #[tokio::test]
    async fn events_indexed_now_leave_the_mock_clock_where_it_is() {
        let mock = SplunkMock::start(SplunkMockConfig {
            now: Utc.timestamp_opt(1_700_000_000, 0).single().unwrap(),
            ..small()
        })
        .await;
        let added = mock.add_events_now("globex_prod", 2);
        assert_eq!(added.len(), 2);
        for e in &added {
            assert_eq!(e.indextime, 1_700_000_000);
            assert_eq!(e.time, "2023-11-14T22:13:20.000+00:00");
            assert!(!e.late);
        }
        assert_eq!(mock.now().timestamp(), 1_700_000_000);
        assert_eq!(mock.events(&["globex_prod"], None).len(), 5);
        assert_eq!(mock.events(&["acme_prod"], None).len(), 3);
    }

    #[tokio::test]
    async fn a_mock_following_the_wall_clock_indexes_at_real_time() {
        let mock = SplunkMock::start(SplunkMockConfig {
            now: Utc::now() - chrono::Duration::hours(1),
            ..small()
        })
        .await;
        mock.follow_wall_clock();
        let before = Utc::now().timestamp_millis();
        let e = mock.add_events_now("acme_prod", 1).remove(0);
        let after = Utc::now().timestamp_millis();
        let time_ms = DateTime::parse_from_rfc3339(&e.time)
            .unwrap()
            .timestamp_millis();
        assert!((before..=after).contains(&time_ms), "{}", e.time);
        assert_eq!(e.indextime, time_ms.div_euclid(1000));
        assert!(mock.now().timestamp() >= before / 1000);
        // Never back: a clock moved ahead stays ahead until the wall clock catches up.
        mock.advance_clock(3600);
        let ahead = mock.now();
        let e = mock.add_events_now("acme_prod", 1).remove(0);
        assert_eq!(e.indextime, ahead.timestamp());
    }
}
