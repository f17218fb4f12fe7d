//! Fuzz harnesses: bytes in, never a panic out. Not an API.
//!
//! Each function runs the same code a pull runs on one vendor response (or one operator-given
//! setting) and asserts the invariants that must hold for *any* input. They live in the crate,
//! not in `fuzz/`, for two reasons: they reach `pub(crate)` parsers without widening them, and
//! `cargo test` replays every committed corpus file and crash artifact through exactly these
//! functions (`tests/fuzz_corpus.rs` at the workspace root), so a fixed crash stays fixed without
//! a fuzzer installed. The `fuzz/` crate's targets are one-line calls into here.

use crate::alert::Alert;

/// The canonical source every mapped alert is tagged with in the harnesses.
const SOURCE: &str = "crowdstrike:92012896127c4a948236ba7601b886b0";

/// What the sink does with an alert: serialise it as one NDJSON line. It must always succeed,
/// stay on one line, keep `raw` byte for byte, and carry a well-formed `event_id`.
fn check_alert(alert: &Alert, raw_before: &str) {
    // Verbatim but for line breaks between tokens, which become spaces (one alert, one line).
    assert_eq!(
        alert.raw.get(),
        raw_before.replace(['\n', '\r'], " "),
        "raw must be kept verbatim"
    );
    assert_eq!(alert.event_id.len(), 32);
    assert!(
        alert
            .event_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let line = serde_json::to_string(alert).expect("an alert always serialises");
    assert!(!line.contains('\n'), "an NDJSON line must not break");
    let back: serde_json::Value = serde_json::from_str(&line).expect("the line is JSON");
    assert_eq!(back["event_id"], alert.event_id.as_str());
}

/// A quarantine reason: our own one sentence, never empty.
fn check_reason(reason: &str) {
    assert!(!reason.is_empty());
    assert!(
        reason.ends_with('.'),
        "a reason is one sentence: {reason:?}"
    );
}

/// CrowdStrike: a 2xx body of `/alerts/combined/alerts/v1`, then every resource through the
/// mapping exactly as `fetch` does it (read the key fields, then map or quarantine).
pub fn crowdstrike_page(data: &[u8]) {
    use crate::crowdstrike::client::{PageOutcome, parse_page, record_hash};
    use crate::crowdstrike::mapping::Parsed;
    let page = match parse_page(data) {
        Ok(PageOutcome::Page(p)) => p,
        Ok(PageOutcome::VendorError { .. }) | Err(_) => return,
    };
    for raw in page.resources {
        let text = raw.get().to_owned();
        match Parsed::read(&raw) {
            Ok(parsed) => {
                let version = parsed.version().to_owned();
                let id = parsed.id().to_owned();
                assert!(!id.is_empty(), "an alert without composite_id is refused");
                let parts = parsed.into_parts();
                assert_eq!(parts.version, version);
                let alert = Alert::new(SOURCE, crate::crowdstrike::mapping::KIND, parts, raw);
                assert_eq!(
                    alert.event_id,
                    crate::alert::event_id(SOURCE, &id, &version)
                );
                check_alert(&alert, &text);
            }
            Err(rejected) => {
                check_reason(&rejected.why.to_string());
                assert_eq!(record_hash(&raw).len(), 32);
            }
        }
    }
}

/// Sentinel: a page of the incidents list, every incident through the mapping or the
/// quarantine reason, and the `nextLink` re-encoding against a fixed management host.
pub fn sentinel_page(data: &[u8]) {
    use crate::sentinel::client::{digest, parse_page, reencode_link};
    use crate::sentinel::mapping::{parse, unmappable_reason};
    let Ok(page) = parse_page(data) else {
        return;
    };
    for raw in &page.value {
        let mapped = parse(raw).and_then(|p| p.to_parts());
        match mapped {
            Ok(parts) => {
                let alert = Alert::new(SOURCE, crate::sentinel::mapping::KIND, parts, raw.clone());
                check_alert(&alert, raw.get());
            }
            Err(_) => {
                check_reason(&unmappable_reason(raw));
                assert_eq!(digest(raw).len(), 32);
            }
        }
    }
    if let Some(link) = page.next_link.as_deref() {
        let base = url::Url::parse("https://management.azure.com/").expect("a valid base");
        // Any outcome is fine; an Ok must be a URL that can be re-encoded again. (Not always to
        // the same text: a link with a `#` or a userinfo oddity can change once more, which the
        // connector tolerates, since it re-encodes each server link once; see the fuzz findings.)
        if let Ok(url) = reencode_link(link, &base) {
            let _ = reencode_link(url.as_str(), &base).expect("a re-encoded link re-encodes");
        }
    }
}

/// Splunk: a results page (and the same bytes as a job status, the other body the connector
/// parses), every row through the scope reader and the mapping in both id modes.
pub fn splunk_page(data: &[u8]) {
    use crate::splunk::client::{job_status, quarantine, results_page};
    use crate::splunk::mapping::{IdMode, row_scope, try_map_row};
    let _ = job_status(data);
    let Ok(page) = results_page(data) else {
        return;
    };
    for raw in page.results {
        let _ = row_scope(raw.get(), Some("orig_index"));
        for mode in [IdMode::Notable, IdMode::Events] {
            match try_map_row(SOURCE, raw.clone(), mode) {
                Ok(row) => {
                    check_alert(&row.alert, raw.get());
                    assert_eq!(row.alert.updated_at.timestamp(), row.indextime);
                }
                Err((e, back)) => {
                    assert_eq!(back.get(), raw.get(), "the row comes back unchanged");
                    let (key, q) = quarantine(back, e);
                    assert!(key.starts_with("q:"));
                    check_reason(&q.reason);
                }
            }
        }
    }
}

/// Operator-given source settings: newline-separated fields through every `SourceId` parser.
/// Whatever parses must be stable (parsing the canonical parts again gives the same identity)
/// and must conflict with itself (the binding guard relies on it).
pub fn source_id(data: &[u8]) {
    use crate::source_id::{Cid, ScopeFilter, SourceId};
    let text = String::from_utf8_lossy(data);
    let f: Vec<&str> = text.split('\n').collect();
    let field = |i: usize| f.get(i).copied().unwrap_or("");

    if let Ok(cid) = Cid::parse(field(0)) {
        assert_eq!(Cid::parse(cid.as_str()).as_ref(), Ok(&cid));
        let s = SourceId::crowdstrike(cid);
        assert!(s.conflicts_with(&s));
    }
    if let Ok(filter) = ScopeFilter::parse(field(0)) {
        let again = ScopeFilter::parse(&format!("{}={}", filter.field, filter.glob));
        assert_eq!(
            again.as_ref(),
            Ok(&filter),
            "a scope filter re-parses to itself"
        );
    }
    if let Ok(s) = SourceId::sentinel(field(0), field(1), field(2), field(3)) {
        assert!(s.conflicts_with(&s));
        if let SourceId::Sentinel { cloud, resource_id } = &s {
            let again = SourceId::sentinel_from_resource_id(cloud, resource_id);
            assert_eq!(
                again.as_ref(),
                Ok(&s),
                "the canonical resource id re-parses"
            );
        }
    }
    if let Ok(s) = SourceId::sentinel_from_resource_id(field(0), field(1)) {
        assert!(s.conflicts_with(&s));
    }
    if let Ok(url) = url::Url::parse(field(0)) {
        let indexes: Vec<String> = field(3).split(',').map(str::to_owned).collect();
        let owner = Some(field(1)).filter(|o| !o.is_empty());
        let filter = Some(field(4)).filter(|o| !o.is_empty());
        let a = SourceId::splunk(&url, owner, field(2), &indexes, filter);
        if let Ok(a) = &a {
            let _ = a.canonical();
            assert!(a.conflicts_with(a), "a scope overlaps itself: {a:?}");
            let b = SourceId::splunk(&url, owner, field(2), &[field(5).to_owned()], filter);
            if let Ok(b) = &b {
                assert_eq!(a.conflicts_with(b), b.conflicts_with(a), "symmetric");
            }
        }
    }
}

/// Differential test of the Splunk wildcard overlap. Bytes map onto the small alphabet
/// `a`, `b`, `A`, `*` (a 0xff byte separates the two globs), so a brute-force search is exact:
/// a shortest common string uses only characters some literal of either glob matches (a
/// character both globs cover with `*` can be deleted), so it has at most as many characters as
/// both globs have literals, over the lowercase literal letters. The search and the matcher it
/// uses are written here independently of `glob.rs`. Longer, arbitrary UTF-8 input checks
/// symmetry and reflexivity instead.
pub fn glob_overlap(data: &[u8]) {
    use crate::glob::{can_overlap, matches, normalize};
    let (left, right) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let small = |bytes: &[u8]| -> String {
        bytes
            .iter()
            .take(6)
            .map(|b| ['a', 'b', 'A', '*'][usize::from(b % 4)])
            .collect()
    };
    let (a, b) = (small(left), small(right));
    let literals: usize = a.chars().chain(b.chars()).filter(|&c| c != '*').count();
    let mut letters: Vec<char> = a
        .chars()
        .chain(b.chars())
        .filter(|&c| c != '*')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    letters.sort_unstable();
    letters.dedup();
    let ga: Vec<char> = a.to_lowercase().chars().collect();
    let gb: Vec<char> = b.to_lowercase().chars().collect();
    let mut found = false;
    let mut s: Vec<char> = Vec::new();
    brute_force(&ga, &gb, &letters, literals, &mut s, &mut found, &a, &b);
    assert_eq!(
        can_overlap(&a, &b),
        found,
        "can_overlap({a:?}, {b:?}) disagrees with brute force"
    );
    assert_eq!(can_overlap(&normalize(&a), &normalize(&b)), found);

    // Arbitrary text: no panic, symmetric, and every glob overlaps itself.
    let text = String::from_utf8_lossy(data);
    let (x, y) = text.split_once('\n').unwrap_or((&text, ""));
    let (x, y): (String, String) = (x.chars().take(64).collect(), y.chars().take(64).collect());
    assert_eq!(can_overlap(&x, &y), can_overlap(&y, &x), "{x:?} {y:?}");
    assert!(can_overlap(&x, &x), "{x:?} overlaps itself");
    let _ = matches(&x, &y);
}

/// Every string over `letters` up to `max` characters, checked against both globs with the
/// reference matcher; also cross-checks `glob::matches` on each one.
#[allow(clippy::too_many_arguments)]
fn brute_force(
    ga: &[char],
    gb: &[char],
    letters: &[char],
    max: usize,
    s: &mut Vec<char>,
    found: &mut bool,
    a: &str,
    b: &str,
) {
    let in_a = reference_match(ga, s);
    let in_b = reference_match(gb, s);
    let text: String = s.iter().collect();
    assert_eq!(
        crate::glob::matches(a, &text),
        in_a,
        "matches({a:?}, {text:?})"
    );
    assert_eq!(
        crate::glob::matches(b, &text),
        in_b,
        "matches({b:?}, {text:?})"
    );
    if in_a && in_b {
        *found = true;
    }
    if s.len() == max {
        return;
    }
    for &c in letters {
        s.push(c);
        brute_force(ga, gb, letters, max, s, found, a, b);
        s.pop();
    }
}

/// The textbook recursive matcher (`*` any run, everything else literal).
fn reference_match(p: &[char], s: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => (0..=s.len()).any(|k| reference_match(rest, &s[k..])),
        Some((c, rest)) => s.first() == Some(c) && reference_match(rest, &s[1..]),
    }
}
