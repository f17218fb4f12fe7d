//! `seliq-mocks serve --trickle-every …`: the real binary, one vendor at a time, adds live alerts
//! to every source it serves, staggered, stamped with the moment of insertion, and counts them
//! as `trickled` in its SIGTERM summary.
//!
//! Each run: `--alerts 1 --trickle-every 0.3 --trickle-for 0.7` over two or four sources, so
//! arrival `m` (source `m mod n`) is due `m·0.3/n` s after the ready line, while `m·0.3/n < 0.7`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_seliq-mocks");

/// Every source's trickled alerts, counted as the schedule says: `(i/n + k)·0.3 < 0.7`.
fn expected_per_source(n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| (0..).take_while(|k| (i + k * n) * 300 < 700 * n).count())
        .collect()
}

struct Served {
    child: Child,
    stderr: ChildStderr,
    info: Value,
    /// When the ready line was read.
    ready: DateTime<Utc>,
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .args([
            "--alerts",
            "1",
            "--trickle-every",
            "0.3",
            "--trickle-for",
            "0.7",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("seliq-mocks starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready = Utc::now();
    let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let stderr = child.stderr.take().unwrap();
    Served {
        child,
        stderr,
        info,
        ready,
    }
}

impl Served {
    fn url(&self) -> String {
        self.info["url"].as_str().unwrap().to_owned()
    }

    /// SIGTERM, then the summary line from stderr.
    fn stop(mut self) -> Value {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut err = String::new();
        self.stderr.read_to_string(&mut err).unwrap();
        assert!(self.child.wait().unwrap().success(), "{err}");
        let last = err.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {err:?}"))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    date: Option<String>,
    body: String,
}

/// One HTTP/1.1 exchange on a fresh connection.
fn http(base: &str, method: &str, path: &str, headers: &str, body: &str) -> Reply {
    let host = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let date = head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("date"))
            .map(|(_, v)| v.trim().to_owned())
    });
    Reply {
        status: head[9..12].parse().unwrap(),
        date,
        body: body.to_owned(),
    }
}

fn json_of(r: &Reply) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {} {}", r.status, r.body))
}

const FORM: &str = "Content-Type: application/x-www-form-urlencoded\r\n";

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap_or_else(|e| panic!("{e}: {v}"))
        .with_timezone(&Utc)
}

/// Polls `read` (the new alerts' times, per source) until every source has its expected count
/// or 15 s pass; the trickle's last arrival is due 0.6 s after the ready line.
fn settle(
    expected: &[usize],
    mut read: impl FnMut() -> Vec<Vec<DateTime<Utc>>>,
) -> Vec<Vec<DateTime<Utc>>> {
    std::thread::sleep(Duration::from_millis(1200));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = read();
        let counts: Vec<usize> = got.iter().map(Vec::len).collect();
        if counts == expected || Instant::now() > deadline {
            assert_eq!(counts, expected, "new alerts per source");
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The new alerts were inserted after the ready line and not after now, each source's spaced
/// about one period apart, and the sources staggered (not all at once).
fn check_fresh(ready: DateTime<Utc>, per_source: &[Vec<DateTime<Utc>>]) {
    let slack = chrono::Duration::milliseconds(50);
    let now = Utc::now();
    let all: Vec<DateTime<Utc>> = per_source.iter().flatten().copied().collect();
    for t in &all {
        assert!(
            *t >= ready - slack - chrono::Duration::milliseconds(500) && *t <= now + slack,
            "{t} not between {ready} and {now}"
        );
    }
    // Source 0's first and last arrivals are due 0.6 s apart; never early, so at least ~0.3 s
    // apart even if the first was late.
    let first = per_source[0].iter().min().unwrap();
    let last = per_source[0].iter().max().unwrap();
    assert!(
        *last - *first >= chrono::Duration::milliseconds(300) - slack,
        "{per_source:?}"
    );
    let earliest = all.iter().min().unwrap();
    let latest = all.iter().max().unwrap();
    assert!(
        *latest - *earliest >= chrono::Duration::milliseconds(300) - slack,
        "{all:?}"
    );
}

fn check_summary(summary: &Value, vendor: &str, expected: &[usize]) {
    assert_eq!(summary["vendor"], vendor, "{summary}");
    assert_eq!(
        summary["trickled"].as_u64(),
        Some(expected.iter().sum::<usize>() as u64),
        "{summary}"
    );
}

#[test]
fn crowdstrike_cids_each_gain_fresh_alerts_created_and_updated_at_insertion() {
    let served = serve(&["--vendor", "crowdstrike"]);
    let base = served.url();
    let info = served.info.clone();
    let cids: Vec<String> = info["cids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(cids.len(), 2);
    assert_eq!(info["trickle"]["alerts"], 5, "{info}");
    let expected = expected_per_source(cids.len());
    assert_eq!(expected, vec![3, 2]);
    let tokens: Vec<String> = cids
        .iter()
        .map(|cid| {
            let form = format!(
                "client_id={}&client_secret={}&member_cid={cid}",
                info["client_id"].as_str().unwrap(),
                info["client_secret"].as_str().unwrap()
            );
            let r = http(&base, "POST", "/oauth2/token", FORM, &form);
            assert_eq!(r.status, 201, "{}", r.body);
            json_of(&r)["access_token"].as_str().unwrap().to_owned()
        })
        .collect();
    let ready = served.ready;
    let got = settle(&expected, || {
        tokens
            .iter()
            .zip(&cids)
            .map(|(token, cid)| {
                let r = http(
                    &base,
                    "POST",
                    "/alerts/combined/alerts/v1",
                    &format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"),
                    r#"{"limit":1000,"sort":"updated_timestamp|asc"}"#,
                );
                assert_eq!(r.status, 200, "{}", r.body);
                let alerts = json_of(&r)["resources"].as_array().unwrap().clone();
                assert!(alerts.iter().all(|a| a["cid"] == cid.as_str()));
                alerts
                    .iter()
                    .filter(|a| {
                        time(&a["updated_timestamp"]) > ready - chrono::Duration::minutes(1)
                    })
                    .map(|a| {
                        assert_eq!(a["created_timestamp"], a["updated_timestamp"], "{a}");
                        time(&a["updated_timestamp"])
                    })
                    .collect()
            })
            .collect()
    });
    check_fresh(ready, &got);
    check_summary(&served.stop(), "crowdstrike", &expected);
}

#[test]
fn sentinel_workspaces_each_gain_incidents_created_and_modified_at_insertion() {
    let served = serve(&["--vendor", "sentinel", "--workspaces", "4"]);
    let base = served.url();
    let info = served.info.clone();
    let workspaces = info["workspaces"].as_array().unwrap().clone();
    assert_eq!(workspaces.len(), 4);
    // Four sources: one arrival every 75 ms, ten of them before 0.7 s.
    let expected = expected_per_source(4);
    assert_eq!(expected, vec![3, 3, 2, 2]);
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
        info["client_id"].as_str().unwrap(),
        info["client_secret"].as_str().unwrap()
    );
    let r = http(
        &base,
        "POST",
        &format!("/{}/oauth2/v2.0/token", info["tenant_id"].as_str().unwrap()),
        FORM,
        &form,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let auth = format!(
        "Authorization: Bearer {}\r\n",
        json_of(&r)["access_token"].as_str().unwrap()
    );
    let ready = served.ready;
    let got = settle(&expected, || {
        workspaces
            .iter()
            .map(|w| {
                let path = format!(
                    "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights/incidents?api-version=2025-09-01&$top=1000",
                    w["subscription_id"].as_str().unwrap(),
                    w["resource_group"].as_str().unwrap(),
                    w["workspace_name"].as_str().unwrap()
                );
                let r = http(&base, "GET", &path, &auth, "");
                assert_eq!(r.status, 200, "{}", r.body);
                let page = json_of(&r);
                assert!(page.get("nextLink").is_none_or(Value::is_null), "one page");
                page["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| &i["properties"])
                    .filter(|p| time(&p["lastModifiedTimeUtc"]) > ready - chrono::Duration::minutes(1))
                    .map(|p| {
                        assert_eq!(p["createdTimeUtc"], p["lastModifiedTimeUtc"], "{p}");
                        time(&p["lastModifiedTimeUtc"])
                    })
                    .collect()
            })
            .collect()
    });
    check_fresh(ready, &got);
    check_summary(&served.stop(), "sentinel", &expected);
}

#[test]
fn splunk_indexes_each_gain_events_indexed_at_insertion_on_a_real_clock() {
    let served = serve(&["--vendor", "splunk", "--index-count", "2"]);
    let base = served.url();
    let info = served.info.clone();
    assert_eq!(info["indexes"].as_array().unwrap().len(), 2);
    let expected = expected_per_source(2);
    let r = http(
        &base,
        "POST",
        "/services/auth/login",
        FORM,
        &format!(
            "username={}&password={}&output_mode=json",
            info["username"].as_str().unwrap(),
            info["password"].as_str().unwrap()
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let auth = format!(
        "Authorization: Splunk {}\r\n{FORM}",
        json_of(&r)["sessionKey"].as_str().unwrap()
    );
    let ready = served.ready;
    let mut last_date = None;
    let got = settle(&expected, || {
        let r = http(
            &base,
            "POST",
            "/services/search/jobs",
            &auth,
            "search=search%20index%3Dclient_*&exec_mode=oneshot&count=0&output_mode=json",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        last_date = r.date.clone();
        let rows = json_of(&r)["results"].as_array().unwrap().clone();
        ["client_0001", "client_0002"]
            .iter()
            .map(|index| {
                rows.iter()
                    .filter(|e| e["index"] == *index)
                    .filter(|e| time(&e["_time"]) > ready - chrono::Duration::minutes(1))
                    .map(|e| {
                        let t = time(&e["_time"]);
                        let indexed: i64 = e["_indextime"].as_str().unwrap().parse().unwrap();
                        assert_eq!(indexed, t.timestamp(), "{e}");
                        t
                    })
                    .collect()
            })
            .collect()
    });
    check_fresh(ready, &got);
    // The server's clock (what a client's window ends at) is real time, not the start time.
    let date = DateTime::parse_from_rfc2822(&last_date.expect("a Date header"))
        .unwrap()
        .with_timezone(&Utc);
    assert!(
        (Utc::now() - date).num_seconds().abs() <= 2
            && date >= ready - chrono::Duration::seconds(1),
        "Date {date}, ready {ready}"
    );
    check_summary(&served.stop(), "splunk", &expected);
}

#[test]
fn trickle_options_are_checked_before_serving() {
    for (args, message) in [
        (
            vec!["--trickle-every", "0"],
            "error: --trickle-every 0 must be a positive number of seconds",
        ),
        (
            vec!["--trickle-every", "nan"],
            "error: --trickle-every NaN must be a positive number of seconds",
        ),
        (
            vec!["--trickle-every", "1", "--trickle-for=-2"],
            "error: --trickle-for -2 must be a positive number of seconds",
        ),
        (
            vec!["--trickle-after", "5"],
            "error: --trickle-after needs --trickle-every",
        ),
    ] {
        let out = Command::new(BIN)
            .args(["serve", "--vendor", "splunk", "--alerts", "1"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            message,
            "{args:?}"
        );
    }
}
