//! One batch encoded once: the NDJSON bytes every sink sends (and the file sink writes), plus
//! what each sink needs per line without parsing it again.

use chrono::{DateTime, Utc};
use seliq_connectors::{Alert, Severity};

use crate::error::Result;

/// What a sink needs to know about one line.
#[derive(Debug, Clone)]
pub struct LineMeta {
    /// Byte range of the line in [`EncodedBatch::bytes`], without its `\n`.
    pub start: usize,
    pub end: usize,
    /// The idempotency key every sink deduplicates on (`Nats-Msg-Id`, `_id`).
    pub event_id: String,
    pub vendor: seliq_connectors::Kind,
    pub severity: Severity,
    /// The vendor's creation time of the alert (HEC's `time`).
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct EncodedBatch {
    /// `seliq.alert/v1` lines, each ending in `\n`.
    pub bytes: Vec<u8>,
    pub lines: Vec<LineMeta>,
}

impl EncodedBatch {
    /// Encode `alerts` of one integration exactly as `pull` writes them.
    /// `extras[i]` holds alert `i`'s stamps (see [`crate::pull::encode_line`]); missing: none.
    pub fn encode(
        workspace: &str,
        integration: &str,
        alerts: &[Alert],
        extras: &[Vec<u8>],
    ) -> Result<EncodedBatch> {
        let mut out = EncodedBatch {
            bytes: Vec::with_capacity(alerts.len() * 1024),
            lines: Vec::with_capacity(alerts.len()),
        };
        for (i, alert) in alerts.iter().enumerate() {
            let start = out.bytes.len();
            let extra = extras.get(i).map_or(&[][..], Vec::as_slice);
            crate::pull::encode_line(&mut out.bytes, workspace, integration, alert, extra)?;
            out.lines.push(LineMeta {
                start,
                end: out.bytes.len() - 1,
                event_id: alert.event_id.clone(),
                vendor: alert.vendor,
                severity: alert.severity,
                created_at: alert.created_at,
            });
        }
        Ok(out)
    }

    /// Line `i` without its newline.
    pub fn line(&self, i: usize) -> &[u8] {
        let m = &self.lines[i];
        &self.bytes[m.start..m.end]
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}
