//! The committer's one rule, for one batch or a group: lines durable first (written, flushed,
//! fsynced for a file), then the checkpoints and the sink's committed length in one
//! transaction; if the transaction fails, the lines are taken back out of the sink.

use chrono::Utc;

use seliq_connectors::Alert;

use super::{Delivery, Sink, fault};
use crate::app::App;
use crate::error::{Error, Result};
use crate::store::{CheckpointRow, WriteTx};

/// One batch at the committer, with the names its lines carry.
pub(crate) struct Committing<'a> {
    pub workspace: &'a str,
    pub integration: &'a str,
    pub delivery: &'a Delivery,
}

/// Several batches waiting at the committer at once (group commit): every line in one write and
/// one fsync, every checkpoint in one transaction. If that transaction fails (one checkpoint
/// moved by another process, say), the lines are taken back out and each batch is committed
/// on its own, so one refused batch never holds back the others. One result per batch, in order.
pub(crate) fn commit_group(
    app: &mut App,
    sink: &mut Sink,
    group: &[Committing<'_>],
    batch_no: u64,
    buf: &mut Vec<u8>,
) -> Vec<Result<()>> {
    match commit_together(app, sink, group, batch_no, buf) {
        Ok(()) => group.iter().map(|_| Ok(())).collect(),
        Err(e) if group.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::debug!(batches = group.len(), error = %e, "group commit refused; committing each batch on its own");
            group
                .iter()
                .map(|one| commit_together(app, sink, std::slice::from_ref(one), batch_no, buf))
                .collect()
        }
    }
}

/// Write the group's lines durably, then commit its checkpoints (and the sink length) in one
/// transaction; on failure take the lines back out (the batches will be fetched again from
/// their old cursors).
fn commit_together(
    app: &mut App,
    sink: &mut Sink,
    group: &[Committing<'_>],
    batch_no: u64,
    buf: &mut Vec<u8>,
) -> Result<()> {
    buf.clear();
    let bytes: &[u8] = match (
        group,
        group.first().and_then(|c| c.delivery.encoded.as_ref()),
    ) {
        // One batch already encoded for the external sinks: written as it is.
        ([_], Some(encoded)) => &encoded.bytes,
        _ => {
            for c in group {
                match &c.delivery.encoded {
                    Some(e) => buf.extend_from_slice(&e.bytes),
                    None => encode_batch(buf, c.workspace, c.integration, c.delivery)?,
                }
            }
            buf
        }
    };
    if fault::armed(fault::Point::PartialWrite, batch_no) {
        let _ = sink.write_batch(&bytes[..bytes.len() / 2]);
        fault::crash();
    }
    let before = sink.written_len();
    let offset = sink.write_batch(bytes)?;
    if fault::armed(fault::Point::AfterWrite, batch_no) {
        fault::crash();
    }
    let key = sink.key().map(str::to_owned);
    let committed = app.store().write(|tx| {
        for c in group {
            commit_rows(tx, c.integration, c.delivery, key.as_deref(), offset)?;
        }
        if let Some(k) = &key {
            tx.set_sink_offset(k, offset)?;
        }
        Ok::<_, Error>(())
    });
    if committed.is_err() {
        sink.truncate_to(before)?;
    }
    committed
}

fn encode_batch(buf: &mut Vec<u8>, workspace: &str, integration: &str, d: &Delivery) -> Result<()> {
    for (i, alert) in d.batch.alerts.iter().enumerate() {
        let extra = d.stamped.extras.get(i).map_or(&[][..], Vec::as_slice);
        encode_line(buf, workspace, integration, alert, extra)?;
    }
    Ok(())
}

/// What one batch commits besides the sink's length: its checkpoint (refused if another writer
/// moved it), its SLA ledger rows, and its dead letters (never skipped without a trace).
fn commit_rows(
    tx: &WriteTx<'_>,
    integration: &str,
    d: &Delivery,
    sink: Option<&str>,
    offset: u64,
) -> Result<()> {
    let now = Utc::now();
    let row = CheckpointRow {
        integration_id: d.integration_id,
        cursor: d.batch.cursor.clone(),
        sink: sink.map(str::to_owned),
        sink_offset: sink.map(|_| offset),
        updated_at: now,
        version: d.version,
    };
    if let Some(f) = &d.fence
        && !tx.lease_held(d.integration_id, &f.owner, f.epoch)?
    {
        return Err(Error::Conflict(format!(
            "replica {} no longer holds the lease of integration {integration} at epoch {}; this batch is not committed",
            f.owner, f.epoch
        )));
    }
    if !tx.save_checkpoint_if(&row)? {
        return Err(Error::Conflict(format!(
            "the checkpoint of integration {integration} was advanced by another process since this pull read it; this batch is not committed"
        )));
    }
    for (key, row) in &d.stamped.rows {
        tx.upsert_alert_sla(*key, row)?;
    }
    if d.stamped.first_seen > 0 {
        tx.count_first_seen(d.stamped.workspace_id, d.stamped.at, d.stamped.first_seen)?;
    }
    for q in &d.batch.quarantined {
        tx.insert_dead_letter(d.integration_id, now, &q.reason, q.raw.get())?;
    }
    Ok(())
}

/// One NDJSON line: the envelope fields, then the alert's own fields, then `extra` (the SLA and
/// routing stamps, already encoded as `,"key":value` pairs), in one object.
pub fn encode_line(
    buf: &mut Vec<u8>,
    workspace: &str,
    integration: &str,
    alert: &Alert,
    extra: &[u8],
) -> Result<()> {
    buf.extend_from_slice(b"{\"schema\":\"");
    buf.extend_from_slice(seliq_connectors::ALERT_SCHEMA.as_bytes());
    buf.extend_from_slice(b"\",\"workspace\":");
    serde_json::to_writer(&mut *buf, workspace).map_err(|e| Error::Runtime(e.to_string()))?;
    buf.extend_from_slice(b",\"integration\":");
    serde_json::to_writer(&mut *buf, integration).map_err(|e| Error::Runtime(e.to_string()))?;
    buf.push(b',');
    // The alert object's own opening brace is dropped as it is written (its fields continue
    // ours), rather than removed afterwards, which would move the whole line once more.
    let mut fields = WithoutFirstByte {
        buf: &mut *buf,
        skipped: false,
    };
    serde_json::to_writer(&mut fields, alert).map_err(|e| Error::Runtime(e.to_string()))?;
    if !extra.is_empty() {
        // The alert object ends in its closing brace: the stamps go just before it.
        buf.pop();
        buf.extend_from_slice(extra);
        buf.push(b'}');
    }
    buf.push(b'\n');
    Ok(())
}

/// Appends to `buf` everything written to it except the very first byte.
struct WithoutFirstByte<'a> {
    buf: &'a mut Vec<u8>,
    skipped: bool,
}

impl std::io::Write for WithoutFirstByte<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let keep = match (self.skipped, data) {
            (true, _) => data,
            (false, []) => return Ok(0),
            (false, [_, rest @ ..]) => {
                self.skipped = true;
                rest
            }
        };
        self.buf.extend_from_slice(keep);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use seliq_connectors::crowdstrike::{Params, Settings as FalconSettings, map_alert};
    use seliq_connectors::{Batch, Cursor, Kind, Settings};
    use serde_json::json;
    use tokio::sync::oneshot;

    use super::*;
    use crate::app::Config;
    use crate::ids::IntegrationId;
    use crate::sla::Stamped;
    use crate::slug::IntegrationName;
    use crate::store::IntegrationRow;

    struct Fixture {
        _dir: tempfile::TempDir,
        _schema: Option<crate::store::TestDir>,
        app: App,
        sink: Sink,
        path: std::path::PathBuf,
        integrations: Vec<IntegrationRow>,
    }

    /// A gateway with one workspace and two CrowdStrike integrations, and a file sink.
    fn fixture() -> Fixture {
        fixture_on(None)
    }

    /// The same on PostgreSQL (a schema of its own).
    fn fixture_on_postgres() -> Fixture {
        let (schema, url) = crate::store::test_postgres_url();
        fixture_on(Some((schema, url)))
    }

    fn fixture_on(postgres: Option<(crate::store::TestDir, String)>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (schema, url) = postgres.unzip();
        let config = Config {
            data_dir: dir.path().join("data"),
            database_url: url.map(secrecy::SecretString::from),
            actor: "test".to_owned(),
        };
        crate::app::init(&config).unwrap();
        let mut app = App::open(config).unwrap();
        let workspace_id = crate::store::test_workspace(app.store());
        let integrations: Vec<IntegrationRow> = ["falcon-a", "falcon-b"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let settings = FalconSettings::validate(Params {
                    client_id: "0123456789abcdef0123456789abcdef".to_owned(),
                    cid: format!("{i:032x}"),
                    ..Params::default()
                })
                .unwrap();
                IntegrationRow {
                    id: IntegrationId::new(),
                    workspace_id,
                    name: IntegrationName::parse(name).unwrap(),
                    kind: Kind::Crowdstrike,
                    source: settings.source_id().canonical(),
                    settings: Settings::Crowdstrike(settings),
                    first_window_secs: 3600,
                    poll_interval_secs: 60,
                    created_at: Utc::now(),
                }
            })
            .collect();
        app.store()
            .write(|tx| {
                for i in &integrations {
                    tx.insert_integration(i)?;
                }
                Ok::<_, Error>(())
            })
            .unwrap();
        let path = dir.path().join("alerts.ndjson");
        let sink = Sink::open_file(&path, app.store()).unwrap();
        Fixture {
            _dir: dir,
            _schema: schema,
            app,
            sink,
            path,
            integrations,
        }
    }

    /// A batch of `n` alerts for `integ`, committing checkpoint `version`.
    fn delivery(integ: &IntegrationRow, n: usize, version: u64) -> Delivery {
        let alerts = (0..n)
            .map(|k| {
                let raw = serde_json::value::to_raw_value(&json!({
                    "composite_id": format!("{}:ind:a:{k}", integ.name),
                    "updated_timestamp": "2026-12-01T10:00:00.000000001Z",
                    "severity": 50,
                    "name": "Test",
                }))
                .unwrap();
                map_alert(&integ.source, raw).unwrap()
            })
            .collect();
        let (ack, _) = oneshot::channel();
        Delivery {
            index: 0,
            integration_id: integ.id,
            batch: Batch {
                alerts,
                cursor: Cursor::seal(Kind::Crowdstrike, 1, &json!({ "n": n })).unwrap(),
                caught_up: true,
                pages: 1,
                quarantined: Vec::new(),
            },
            version,
            fence: None,
            encoded: None,
            stamped: Stamped {
                workspace_id: integ.workspace_id,
                extras: Vec::new(),
                rows: Vec::new(),
                first_seen: 0,
                at: Utc::now(),
            },
            ack,
        }
    }

    fn group<'a>(integrations: &'a [IntegrationRow], ds: &'a [Delivery]) -> Vec<Committing<'a>> {
        ds.iter()
            .zip(integrations)
            .map(|(d, i)| Committing {
                workspace: "acme-corp",
                integration: i.name.as_str(),
                delivery: d,
            })
            .collect()
    }

    fn lines(f: &Fixture) -> Vec<String> {
        std::fs::read_to_string(&f.path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_line_is_the_envelope_then_the_alert_fields_then_the_stamps() {
        let raw = serde_json::value::to_raw_value(&json!({
            "composite_id": "c:ind:a:1",
            "updated_timestamp": "2026-12-01T10:00:00.000000001Z",
            "created_timestamp": "2026-12-01T09:00:00Z",
            "severity": 50,
            "name": "Ti\"tle \u{2014} x",
            "falcon_host_link": "https://falcon.example/x",
        }))
        .unwrap();
        let alert = map_alert("crowdstrike:abc", raw).unwrap();
        for extra in [&b""[..], &b",\"sla\":{\"x\":1}"[..]] {
            let mut line = b"previous line\n".to_vec();
            encode_line(&mut line, "acme-corp", "falcon", &alert, extra).unwrap();
            // What it replaced: the alert serialised on its own, its first brace cut off.
            let mut want = b"previous line\n{\"schema\":\"seliq.alert/v1\",\"workspace\":\"acme-corp\",\"integration\":\"falcon\",".to_vec();
            let own = serde_json::to_vec(&alert).unwrap();
            want.extend_from_slice(&own[1..own.len() - 1]);
            want.extend_from_slice(extra);
            want.extend_from_slice(b"}\n");
            assert_eq!(
                String::from_utf8(line).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }

    #[test]
    fn batches_waiting_together_commit_in_one_write_and_one_transaction() {
        let mut f = fixture();
        let ds = [
            delivery(&f.integrations[0], 3, 1),
            delivery(&f.integrations[1], 2, 1),
        ];
        let g = group(&f.integrations, &ds);
        let results = commit_group(&mut f.app, &mut f.sink, &g, 1, &mut Vec::new());
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        drop(g);
        let written = lines(&f);
        assert_eq!(written.len(), 5);
        assert!(
            written[..3]
                .iter()
                .all(|l| l.contains("\"integration\":\"falcon-a\""))
        );
        assert!(
            written[3..]
                .iter()
                .all(|l| l.contains("\"integration\":\"falcon-b\""))
        );
        let len = std::fs::metadata(&f.path).unwrap().len();
        let key = f.sink.key().unwrap().to_owned();
        let (offset, versions) = f
            .app
            .store()
            .read(|tx| {
                let v: Vec<u64> = f
                    .integrations
                    .iter()
                    .map(|i| tx.checkpoint(i.id).map(|c| c.map_or(0, |c| c.version)))
                    .collect::<crate::store::Result<_>>()?;
                Ok::<_, Error>((tx.sink_offset(&key)?, v))
            })
            .unwrap();
        assert_eq!(
            offset,
            Some(len),
            "the committed length covers both batches"
        );
        assert_eq!(versions, [1, 1]);
    }

    #[test]
    fn one_refused_checkpoint_does_not_hold_back_the_other_batches() {
        let mut f = fixture();
        // Another process already moved falcon-b's checkpoint to version 1.
        let moved = delivery(&f.integrations[1], 0, 1);
        let g = vec![Committing {
            workspace: "acme-corp",
            integration: "falcon-b",
            delivery: &moved,
        }];
        assert!(commit_group(&mut f.app, &mut f.sink, &g, 1, &mut Vec::new())[0].is_ok());
        drop(g);
        let before = std::fs::metadata(&f.path).unwrap().len();

        let ds = [
            delivery(&f.integrations[0], 3, 1),
            // Read before the move: it writes version 1 again, which the store refuses.
            delivery(&f.integrations[1], 2, 1),
        ];
        let g = group(&f.integrations, &ds);
        let results = commit_group(&mut f.app, &mut f.sink, &g, 2, &mut Vec::new());
        drop(g);
        assert!(results[0].is_ok(), "{results:?}");
        assert!(
            matches!(&results[1], Err(Error::Conflict(m)) if m.contains("falcon-b")),
            "{results:?}"
        );
        // Only falcon-a's lines stayed; falcon-b's were taken back out with the group's.
        let written = lines(&f);
        assert_eq!(written.len(), 3, "{written:?}");
        assert!(
            written
                .iter()
                .all(|l| l.contains("\"integration\":\"falcon-a\""))
        );
        let len = std::fs::metadata(&f.path).unwrap().len();
        assert!(len > before);
        let key = f.sink.key().unwrap().to_owned();
        let offset = f
            .app
            .store()
            .read(|tx| Ok::<_, Error>(tx.sink_offset(&key)?))
            .unwrap();
        assert_eq!(offset, Some(len));
    }

    #[test]
    fn a_batch_fetched_under_a_lease_since_taken_over_is_not_committed() {
        use std::time::Duration;
        let mut f = fixture_on_postgres();
        let id = f.integrations[0].id;
        let ttl = Duration::from_secs(30);
        let mine = f
            .app
            .store()
            .lease(|tx| tx.claim_leases("replica-a", ttl, 2))
            .unwrap();
        let epoch = mine.iter().find(|g| g.integration_id == id).unwrap().epoch;
        let fenced = |version: u64, epoch: u64| {
            let mut d = delivery(&f.integrations[0], 2, version);
            d.fence = Some(crate::pull::Fence {
                owner: std::sync::Arc::from("replica-a"),
                epoch,
            });
            d
        };
        let first = fenced(1, epoch);
        let g = vec![Committing {
            workspace: "acme-corp",
            integration: "falcon-a",
            delivery: &first,
        }];
        assert!(commit_group(&mut f.app, &mut f.sink, &g, 1, &mut Vec::new())[0].is_ok());
        drop(g);
        let before = std::fs::metadata(&f.path).unwrap().len();

        // The lease moves to another replica (as after a stall past the TTL).
        f.app
            .store()
            .lease(|tx| tx.release_lease("replica-a", id))
            .unwrap();
        let theirs = f
            .app
            .store()
            .lease(|tx| tx.claim_leases("replica-b", ttl, 1))
            .unwrap();
        assert_eq!(theirs[0].epoch, epoch + 1);

        let late = fenced(2, epoch);
        let g = vec![Committing {
            workspace: "acme-corp",
            integration: "falcon-a",
            delivery: &late,
        }];
        let result = commit_group(&mut f.app, &mut f.sink, &g, 2, &mut Vec::new());
        drop(g);
        assert!(
            matches!(&result[0], Err(Error::Conflict(m)) if m.contains("no longer holds the lease")),
            "{result:?}"
        );
        // Nothing of it stayed: not in the file, not in the checkpoint.
        assert_eq!(std::fs::metadata(&f.path).unwrap().len(), before);
        let version = f
            .app
            .store()
            .read(|tx| Ok::<_, Error>(tx.checkpoint(id)?.map(|c| c.version)))
            .unwrap();
        assert_eq!(version, Some(1));
    }
}
