//! Verification of a chain, stored or exported: every hash recomputed, `seq` gapless, every
//! `prev_hash` link, every checkpoint signature, the tail against the newest checkpoint, and the
//! pruned-segment manifests that stand in for removed ranges. The first break wins: the one with
//! the lowest `seq`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::bundle::Bundle;
use super::chain::{details_are_canonical, entry_hash, genesis_hash};
use super::checkpoint::CHECKPOINT_INTERVAL;
use super::checkpoint::{Checkpoint, CheckpointSigner};
use crate::ids::WorkspaceId;
use crate::store::{AuditRow, ReadTx, SegmentManifest};

/// Where verification failed. `seq` is absent for file-level problems (header, missing
/// checkpoint) that belong to no single entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub seq: Option<u64>,
    pub reason: String,
}

impl Break {
    fn at(seq: u64, reason: impl Into<String>) -> Break {
        Break {
            seq: Some(seq),
            reason: reason.into(),
        }
    }

    fn file(reason: impl Into<String>) -> Break {
        Break {
            seq: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "seq {seq}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// A range removed by retention, as its manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub first_seq: u64,
    pub last_seq: u64,
    pub pruned_at: String,
}

/// What a passing verification covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub entries: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Signatures checked under the current master key.
    pub checkpoints: usize,
    pub pruned: Vec<Gap>,
    /// Newest checkpointed seq, when entries follow it: those are protected by the chain alone.
    pub unanchored_after: Option<u64>,
    /// A filtered export: links before this seq are outside the file.
    pub starts_at: Option<u64>,
}

impl Report {
    /// One line for the operator.
    pub fn summary(&self, what: &str) -> String {
        let mut s = match (self.first_seq, self.last_seq) {
            (Some(a), Some(b)) if a == b => format!("OK: {what}: 1 entry verified (seq {a})"),
            (Some(a), Some(b)) => format!(
                "OK: {what}: {} entries verified (seq {a}–{b})",
                self.entries
            ),
            _ => format!("OK: {what}: 0 entries stored"),
        };
        s.push_str(&match self.checkpoints {
            1 => "; 1 checkpoint signature checked".to_owned(),
            n => format!("; {n} checkpoint signatures checked"),
        });
        for g in &self.pruned {
            s.push_str(&format!(
                "; gap: seq {}–{} pruned by retention on {} (manifest verified)",
                g.first_seq, g.last_seq, g.pruned_at
            ));
        }
        if let Some(a) = self.starts_at {
            s.push_str(&format!(
                "; filtered export: the chain before seq {a} is not in the file"
            ));
        }
        if let (Some(after), Some(first), Some(last)) =
            (self.unanchored_after, self.first_seq, self.last_seq)
        {
            let from = (after + 1).max(first);
            let range = if from == last {
                format!("seq {last} is")
            } else {
                format!("seq {from}–{last} are")
            };
            s.push_str(&if after < first {
                format!("; no checkpoint covers them yet: {range} protected by the hash chain alone until the next export or checkpoint")
            } else {
                format!("; {range} newer than the last checkpoint (seq {after}) and protected by the hash chain alone")
            });
        }
        s
    }
}

/// Everything a verification looks at.
pub struct Chain<'a> {
    pub workspace_id: WorkspaceId,
    pub entries: &'a [AuditRow],
    pub checkpoints: &'a [Checkpoint],
    pub manifests: &'a [SegmentManifest],
    /// An export's signed start `(first_seq, prev_hash)`; `None` for the stored chain.
    pub start: Option<(u64, String)>,
}

/// Keeps the lowest-seq break seen.
#[derive(Default)]
struct Breaks(Option<Break>);

impl Breaks {
    fn add(&mut self, b: Break) {
        let replace = match (&self.0, b.seq) {
            (None, _) => true,
            (Some(cur), Some(s)) => cur.seq.is_some_and(|c| s < c),
            (Some(_), None) => false,
        };
        if replace {
            self.0 = Some(b);
        }
    }
}

/// A checkpoint's signature under the gateway's audit key. There is exactly one audit key per
/// gateway and rotation never changes it, so a checkpoint under any other key id is a forgery
/// (nothing in the chain itself can vouch for a key: an attacker could write that too).
fn check_signature(c: &Checkpoint, signer: &CheckpointSigner, what: &str) -> Result<(), String> {
    if c.key_id != signer.key_id() {
        return Err(format!(
            "the {what} is signed under key {}, which is not this gateway's audit key ({})",
            c.key_id,
            signer.key_id()
        ));
    }
    if signer.verifies(c) {
        Ok(())
    } else {
        Err(format!(
            "the signature of the {what} does not verify (the checkpoint was forged or altered)"
        ))
    }
}

pub fn verify(chain: &Chain<'_>, signer: &CheckpointSigner) -> Result<Report, Break> {
    let ws = chain.workspace_id;
    let mut breaks = Breaks::default();
    let mut report = Report::default();

    // 1. Pruned segments: contiguous from seq 1, each sealed by a signed checkpoint.
    let mut expect = 1u64;
    let mut prev = genesis_hash(ws);
    for m in chain.manifests {
        let range = format!("pruned segment seq {}–{}", m.first_seq, m.last_seq);
        if m.first_seq != expect || m.last_seq < m.first_seq {
            breaks.add(Break::at(
                expect,
                format!("the {range} does not continue the chain at seq {expect} (manifests overlap or leave a hole)"),
            ));
            break;
        }
        let sealed: Result<Checkpoint, _> = serde_json::from_str(&m.checkpoint);
        let problem = match sealed {
            Err(_) => Some("its manifest's checkpoint is unreadable".to_owned()),
            Ok(c) if c.workspace != ws || c.seq != m.last_seq || c.hash != m.last_hash => {
                Some("its manifest does not match the checkpoint that sealed it".to_owned())
            }
            Ok(c) => check_signature(&c, signer, "manifest's checkpoint").err(),
        };
        if let Some(p) = problem {
            breaks.add(Break::at(m.first_seq, format!("{range}: {p}")));
            break;
        }
        report.pruned.push(Gap {
            first_seq: m.first_seq,
            last_seq: m.last_seq,
            pruned_at: m.pruned_at.clone(),
        });
        expect = m.last_seq + 1;
        prev = m.last_hash.clone();
    }

    // 2. Where the entries start: right after the manifests, or at an export's signed start.
    if let Some((first, first_prev)) = &chain.start {
        if *first < expect {
            breaks.add(Break::at(
                *first,
                "the export starts inside a range its manifests say was pruned",
            ));
        } else if *first == expect {
            if *first_prev != prev {
                breaks.add(Break::at(
                    *first,
                    "prev_hash does not match the hash the chain had before it (genesis or the pruned segment's last hash)",
                ));
            }
        } else {
            report.starts_at = Some(*first);
            expect = *first;
            prev = first_prev.clone();
        }
    }

    // 3. The walk: gapless seq, links, recomputed hashes. Stops at the first break.
    let mut walked = 0u64;
    for e in chain.entries {
        if e.workspace_id != ws {
            breaks.add(Break::at(
                e.seq,
                "the entry belongs to another workspace's chain",
            ));
            break;
        }
        if e.seq != expect {
            let reason = if e.seq > expect {
                let gone = if e.seq - 1 == expect {
                    format!("seq {expect} is")
                } else {
                    format!("seq {expect}–{} are", e.seq - 1)
                };
                format!(
                    "the entry is missing: {gone} gone from the chain and no pruned-segment manifest accounts for them (deleted or reordered)"
                )
            } else {
                format!("seq {} appears out of order (expected seq {expect})", e.seq)
            };
            breaks.add(Break::at(expect.min(e.seq), reason));
            break;
        }
        if e.prev_hash != prev {
            breaks.add(Break::at(
                e.seq,
                format!(
                    "prev_hash does not match the hash of seq {}: entries were inserted, removed or reordered here",
                    e.seq.saturating_sub(1)
                ),
            ));
            break;
        }
        if !details_are_canonical(&e.details) {
            breaks.add(Break::at(
                e.seq,
                "the entry's details are not canonical JSON (duplicate or unsorted keys, or re-encoded): it was changed after it was written",
            ));
            break;
        }
        if entry_hash(e) != e.hash {
            breaks.add(Break::at(
                e.seq,
                "the hash does not match the entry's contents: it was changed after it was written",
            ));
            break;
        }
        prev = e.hash.clone();
        expect += 1;
        walked += 1;
    }
    let head = expect - 1;

    if chain.start.is_none() && chain.entries.is_empty() && chain.manifests.is_empty() {
        breaks.add(Break::at(
            1,
            "the chain is empty, yet every workspace's chain starts with workspace.created",
        ));
    }

    // 4. Checkpoints: each signature, each head hash, and none beyond the end of the chain.
    let by_seq: BTreeMap<u64, &AuditRow> = chain.entries.iter().map(|e| (e.seq, e)).collect();
    let pruned_to = chain.manifests.last().map_or(0, |m| m.last_seq);
    let mut newest_anchor: Option<u64> = None;
    for c in chain.checkpoints {
        if c.workspace != ws {
            breaks.add(Break::at(
                c.seq,
                "a checkpoint of another workspace is mixed into this chain",
            ));
            continue;
        }
        if c.seq <= pruned_to {
            continue; // Its entries are gone; the segment manifest stands in for it.
        }
        if let Some((first, _)) = &chain.start
            && c.seq < *first
        {
            continue; // Outside a filtered export.
        }
        match check_signature(c, signer, &format!("checkpoint at seq {}", c.seq)) {
            Ok(()) => report.checkpoints += 1,
            Err(e) => {
                breaks.add(Break::at(c.seq, e));
                continue;
            }
        }
        match by_seq.get(&c.seq) {
            Some(e) if e.hash == c.hash => newest_anchor = newest_anchor.max(Some(c.seq)),
            Some(_) => breaks.add(Break::at(
                c.seq,
                format!("the entry differs from the checkpoint signed at {}", c.at),
            )),
            None if c.seq > head => breaks.add(Break::at(
                head + 1,
                format!(
                    "the chain ends at seq {head}, but a checkpoint signed at {} covers seq {}: seq {}–{} were cut off",
                    c.at,
                    c.seq,
                    head + 1,
                    c.seq
                ),
            )),
            None => breaks.add(Break::at(c.seq, "the entry a checkpoint covers is missing")),
        }
    }

    // 5. The writer signs a checkpoint at every multiple of the interval; one missing there
    //    means checkpoints were dropped, which is how a rewritten chain would try to pass.
    if walked > 0 {
        let first = head + 1 - walked;
        let signed: BTreeSet<u64> = chain
            .checkpoints
            .iter()
            .filter(|c| c.workspace == ws && signer.verifies(c))
            .map(|c| c.seq)
            .collect();
        let mut seq = first.next_multiple_of(CHECKPOINT_INTERVAL);
        while seq <= head {
            if !signed.contains(&seq) {
                breaks.add(Break::at(
                    seq,
                    "no signed checkpoint at this seq, where the gateway always makes one: checkpoints were removed",
                ));
                break;
            }
            seq += CHECKPOINT_INTERVAL;
        }
    }

    if let Some(b) = breaks.0 {
        return Err(b);
    }
    report.entries = walked;
    if walked > 0 {
        report.first_seq = Some(head + 1 - walked);
        report.last_seq = Some(head);
    }
    // The highest seq a signature vouches for; entries after it rest on the hash chain alone.
    let anchored = newest_anchor.max(chain.manifests.last().map(|m| m.last_seq));
    if walked > 0 && anchored.is_none_or(|a| a < head) {
        report.unanchored_after = Some(anchored.unwrap_or(head - walked));
    }
    Ok(report)
}

/// Verify a workspace's stored chain, inside a read transaction.
pub fn verify_stored(
    tx: &ReadTx<'_>,
    workspace_id: WorkspaceId,
    signer: &CheckpointSigner,
) -> crate::error::Result<Result<Report, Break>> {
    let entries = tx.audit_entries(workspace_id)?;
    let checkpoints: Vec<Checkpoint> = tx
        .audit_checkpoints(workspace_id)?
        .into_iter()
        .map(Into::into)
        .collect();
    let manifests = tx.audit_segments(workspace_id)?;
    Ok(verify(
        &Chain {
            workspace_id,
            entries: &entries,
            checkpoints: &checkpoints,
            manifests: &manifests,
            start: None,
        },
        signer,
    ))
}

/// Verify an exported `.jsonl` file offline. The header and the final checkpoint must be signed
/// by this data dir's master key: without them nothing in the file is authenticated.
pub fn verify_bundle(b: &Bundle, signer: &CheckpointSigner) -> Result<Report, Break> {
    let Some(h) = &b.header else {
        return Err(Break::file("the file has no header"));
    };
    if h.schema != super::bundle::SCHEMA {
        return Err(Break::file(format!(
            "the header's schema {:?} is not {}",
            h.schema,
            super::bundle::SCHEMA
        )));
    }
    if h.key_id != signer.key_id() {
        return Err(Break::file(format!(
            "the export was signed under master key {}, but this data dir's key is {}; verify it where that key is available",
            h.key_id,
            signer.key_id()
        )));
    }
    if !h.verifies(signer) {
        return Err(Break::file(
            "the header's signature does not verify: the header was altered",
        ));
    }
    let count = b.entries.len() as u64;
    let start = match (h.first_seq, &h.first_prev_hash) {
        (Some(s), Some(p)) => Some((s, p.clone())),
        _ => None,
    };
    let report = match &start {
        None if count == 0 && h.entries == 0 => Report::default(),
        None => {
            return Err(Break::file(
                "the header lists no exported range, yet the file holds entries",
            ));
        }
        Some(_) => {
            let chain = Chain {
                workspace_id: h.workspace_id,
                entries: &b.entries,
                checkpoints: &b.checkpoints,
                manifests: &b.manifests,
                start: start.clone(),
            };
            // An export's entries must start where its signed header says; anything else is a
            // deletion at the front of the file.
            if let (Some((first, _)), Some(e)) = (&start, b.entries.first())
                && e.seq != *first
            {
                return Err(Break::at(*first, "the export's first entry is missing"));
            }
            verify(&chain, signer)?
        }
    };
    if let Some(last) = h.last_seq {
        let end = report.last_seq.unwrap_or(0);
        if end < last {
            return Err(Break::at(
                end + 1,
                format!(
                    "the file ends at seq {end}, but its header says the export runs to seq {last}: the tail was cut off"
                ),
            ));
        }
        if end > last {
            return Err(Break::at(
                last + 1,
                format!(
                    "the file holds entries after seq {last}, where its header says the export ends"
                ),
            ));
        }
        if !b
            .checkpoints
            .iter()
            .any(|c| c.seq == last && signer.verifies(c))
        {
            return Err(Break::at(
                last,
                "the file carries no checkpoint signed by this data dir's key for its last entry",
            ));
        }
    }
    if count != h.entries {
        return Err(Break::file(format!(
            "the header says {} entries, the file holds {count}",
            h.entries
        )));
    }
    Ok(report)
}

/// Verify an exported `.jsonl` file against this data dir's master key.
pub fn verify_file(
    path: &std::path::Path,
    slug: &crate::slug::Slug,
    signer: &super::CheckpointSigner,
) -> crate::error::Result<Report> {
    use crate::error::Error;
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Invalid(format!(
            "cannot read the export file {}: {e}",
            path.display()
        ))
    })?;
    let b = super::bundle::parse(&text)
        .map_err(|e| Error::Runtime(format!("{} fails verification: {e}", path.display())))?;
    if let Some(h) = &b.header
        && h.workspace != slug.as_str()
    {
        return Err(Error::Runtime(format!(
            "{} is an export of workspace {:?}, not {slug}",
            path.display(),
            h.workspace
        )));
    }
    verify_bundle(&b, signer)
        .map_err(|b| Error::Runtime(format!("{} fails verification at {b}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Action;
    use crate::audit::chain::{Event, Outcome, append, tests::test_who};
    use crate::audit::checkpoint::CHECKPOINT_INTERVAL;
    use crate::store::{Plan, Store, WorkspaceRow, test_store};

    fn seeded(
        n: usize,
    ) -> (
        crate::store::TestDir,
        Store,
        WorkspaceId,
        crate::audit::Attribution,
    ) {
        let (d, mut store) = test_store();
        let ws = WorkspaceId::new();
        let who = test_who();
        store
            .write(|tx| {
                tx.insert_workspace(&WorkspaceRow {
                    id: ws,
                    slug: crate::slug::Slug::parse("acme-corp").unwrap(),
                    description: String::new(),
                    plan: Plan::Pro,
                    created_at: chrono::Utc::now(),
                    deleted_at: None,
                })?;
                append(
                    tx,
                    ws,
                    &who,
                    Event::new(Action::WorkspaceCreated, "acme-corp", Outcome::Success),
                )?;
                for i in 1..n {
                    append(
                        tx,
                        ws,
                        &who,
                        Event::new(Action::IntegrationTested, format!("i{i}"), Outcome::Success)
                            .details(serde_json::json!({"i": i})),
                    )?;
                }
                Ok::<_, crate::store::StoreError>(())
            })
            .unwrap();
        (d, store, ws, who)
    }

    fn check(
        store: &mut Store,
        ws: WorkspaceId,
        who: &crate::audit::Attribution,
    ) -> Result<Report, Break> {
        store.read(|tx| verify_stored(tx, ws, &who.signer)).unwrap()
    }

    fn load(store: &mut Store, ws: WorkspaceId) -> (Vec<AuditRow>, Vec<Checkpoint>) {
        store
            .read(|tx| {
                Ok::<_, crate::store::StoreError>((
                    tx.audit_entries(ws)?,
                    tx.audit_checkpoints(ws)?
                        .into_iter()
                        .map(Into::into)
                        .collect(),
                ))
            })
            .unwrap()
    }

    fn run(
        ws: WorkspaceId,
        e: &[AuditRow],
        c: &[Checkpoint],
        who: &crate::audit::Attribution,
    ) -> Result<Report, Break> {
        verify(
            &Chain {
                workspace_id: ws,
                entries: e,
                checkpoints: c,
                manifests: &[],
                start: None,
            },
            &who.signer,
        )
    }

    #[test]
    fn an_intact_chain_passes_and_counts_its_checkpoints() {
        let n = CHECKPOINT_INTERVAL as usize + 3;
        let (_d, mut store, ws, who) = seeded(n);
        let r = check(&mut store, ws, &who).unwrap();
        assert_eq!(
            (r.entries, r.first_seq, r.last_seq),
            (n as u64, Some(1), Some(n as u64))
        );
        assert_eq!(r.checkpoints, 1);
        assert_eq!(r.unanchored_after, Some(CHECKPOINT_INTERVAL));
        assert!(
            r.summary("acme-corp")
                .starts_with("OK: acme-corp: 67 entries"),
            "{}",
            r.summary("x")
        );
    }

    #[test]
    fn each_kind_of_tampering_is_reported_at_its_seq() {
        let (_d, mut store, ws, who) = seeded(CHECKPOINT_INTERVAL as usize + 2);
        let (entries, cps) = load(&mut store, ws);

        let mut changed = entries.clone();
        changed[4].details = r#"{"i":400}"#.into();
        let b = run(ws, &changed, &cps, &who).unwrap_err();
        assert_eq!(b.seq, Some(5));
        assert!(b.reason.contains("changed"), "{b}");

        let mut deleted = entries.clone();
        deleted.remove(6);
        let b = run(ws, &deleted, &cps, &who).unwrap_err();
        assert_eq!(b.seq, Some(7), "{b}");

        let mut swapped = entries.clone();
        swapped.swap(2, 3);
        let (s2, s3) = (swapped[2].seq, swapped[3].seq);
        swapped[2].seq = s3;
        swapped[3].seq = s2;
        let b = run(ws, &swapped, &cps, &who).unwrap_err();
        assert_eq!(b.seq, Some(3), "{b}");

        let cut = &entries[..60];
        let b = run(ws, cut, &cps, &who).unwrap_err();
        assert_eq!(b.seq, Some(61), "{b}");
        assert!(b.reason.contains("cut off"), "{b}");

        let mut forged = entries.clone();
        let mut f = forged.last().unwrap().clone();
        f.seq += 1;
        f.prev_hash = "00".repeat(32);
        f.hash = entry_hash(&f);
        forged.push(f);
        let b = run(ws, &forged, &cps, &who).unwrap_err();
        assert_eq!(b.seq, Some(CHECKPOINT_INTERVAL + 3), "{b}");

        let mut bad_sig = cps.clone();
        bad_sig[0].signature = "00".repeat(32);
        let b = run(ws, &entries, &bad_sig, &who).unwrap_err();
        assert_eq!(b.seq, Some(CHECKPOINT_INTERVAL), "{b}");
    }

    #[test]
    fn a_checkpoint_under_another_key_fails_even_when_the_chain_records_a_rotation() {
        let (_d, mut store, ws, who) = seeded(3);
        let (mut entries, _) = load(&mut store, ws);
        let old = test_who();
        let cp = old.signer.sign(ws, 2, &entries[1].hash, "t");
        let b = run(ws, &entries, std::slice::from_ref(&cp), &who).unwrap_err();
        assert!(b.reason.contains("not this gateway's audit key"), "{b}");

        // A forged rotation entry naming the other key no longer makes its checkpoints pass.
        let mut rot = entries[2].clone();
        rot.seq = 4;
        rot.action = "vault.master_key_rotated".into();
        rot.details = serde_json::json!({"old_key_id": old.signer.key_id()}).to_string();
        rot.prev_hash = entries[2].hash.clone();
        rot.hash = entry_hash(&rot);
        entries.push(rot);
        let b = run(ws, &entries, &[cp], &who).unwrap_err();
        assert_eq!(b.seq, Some(2), "{b}");
    }

    #[test]
    fn dropping_the_interval_checkpoints_of_a_rewritten_chain_fails() {
        let n = CHECKPOINT_INTERVAL as usize * 2 + 3;
        let (_d, mut store, ws, who) = seeded(n);
        let (entries, cps) = load(&mut store, ws);
        assert!(run(ws, &entries, &cps, &who).is_ok());
        // The attack: drop every checkpoint, rewrite an entry and recompute the plain chain.
        let mut forged = entries.clone();
        forged[5].target = "FORGED".into();
        let mut prev = forged[4].hash.clone();
        for e in forged.iter_mut().skip(5) {
            e.prev_hash = prev.clone();
            e.hash = entry_hash(e);
            prev = e.hash.clone();
        }
        let b = run(ws, &forged, &[], &who).unwrap_err();
        assert_eq!(b.seq, Some(CHECKPOINT_INTERVAL), "{b}");
        assert!(b.reason.contains("checkpoints were removed"), "{b}");
    }

    #[test]
    fn duplicate_or_non_canonical_details_fail_even_with_a_matching_hash() {
        let (_d, mut store, ws, who) = seeded(3);
        let (entries, cps) = load(&mut store, ws);
        for bad in [
            r#"{"reason":"FORGED","reason":"real"}"#,
            r#"{ "reason":"x"}"#,
            r#"{"b":1,"a":2}"#,
            "not json",
            "[]",
        ] {
            let mut forged = entries.clone();
            forged[2].details = bad.to_owned();
            forged[2].hash = entry_hash(&forged[2]);
            let b = run(ws, &forged, &cps, &who).unwrap_err();
            assert_eq!(b.seq, Some(3), "{bad}: {b}");
            assert!(b.reason.contains("canonical"), "{bad}: {b}");
        }
    }

    #[test]
    fn the_hash_covers_the_stored_bytes_and_matches_the_old_parse_and_reencode_form() {
        let (_d, mut store, ws, _who) = seeded(2);
        let (entries, _) = load(&mut store, ws);
        let e = &entries[1];
        // What earlier builds hashed: details parsed then re-encoded inside a json! object.
        let details: serde_json::Value = serde_json::from_str(&e.details).unwrap();
        let old = serde_json::json!({
            "workspace": e.workspace_id.to_string(), "seq": e.seq, "request_id": e.request_id,
            "at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
            "outcome": e.outcome, "details": details, "prev_hash": e.prev_hash,
        });
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut h, b"seliq.audit.entry.v1\0");
        sha2::Digest::update(&mut h, old.to_string().as_bytes());
        assert_eq!(hex::encode(sha2::Digest::finalize(h)), e.hash);
        let mut dup = e.clone();
        dup.details = format!("{{\"a\":1,{}", &e.details[1..]);
        assert_ne!(entry_hash(&dup), e.hash);
    }

    #[test]
    fn an_emptied_chain_fails() {
        let who = test_who();
        let b = run(WorkspaceId::new(), &[], &[], &who).unwrap_err();
        assert_eq!(b.seq, Some(1));
    }
}
