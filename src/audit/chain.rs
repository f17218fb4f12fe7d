//! The hash chain: one per workspace, `hash = SHA-256(domain tag ‖ canonical JSON)` where the
//! canonical JSON covers every field, `seq` and `prev_hash` included.

use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::action::Action;
use super::checkpoint::{CHECKPOINT_INTERVAL, Checkpoint, CheckpointSigner};
use super::clock;
use crate::ids::WorkspaceId;
use crate::store::{AuditRow, StoreError, StoredCheckpoint, WriteTx};

const ENTRY_TAG: &[u8] = b"seliq.audit.entry.v1\0";
const GENESIS_TAG: &[u8] = b"seliq.audit.genesis.v1\0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }
}

/// Who acts, the id that ties together every entry one command produces, and the checkpoint
/// signer (the gateway's audit key) that anchors the chain every few entries.
#[derive(Debug, Clone)]
pub struct Attribution {
    pub actor: String,
    pub request_id: Uuid,
    pub signer: CheckpointSigner,
}

/// One thing to record. `details` must never hold a secret: callers pass ids, names and counts.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: Action,
    pub target: String,
    pub outcome: Outcome,
    pub details: serde_json::Value,
}

impl Event {
    pub fn new(action: Action, target: impl Into<String>, outcome: Outcome) -> Event {
        Event {
            action,
            target: target.into(),
            outcome,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn details(mut self, details: serde_json::Value) -> Event {
        self.details = details;
        self
    }
}

/// The `prev_hash` of seq 1: commits the chain to its workspace, so a chain cannot be replayed
/// into another workspace.
pub fn genesis_hash(workspace_id: WorkspaceId) -> String {
    let mut h = Sha256::new();
    h.update(GENESIS_TAG);
    h.update(workspace_id.as_bytes());
    hex::encode(h.finalize())
}

/// The hashed encoding: a JSON object with sorted keys and no whitespace, with `details`
/// spliced in as the exact stored bytes. Hashing what is stored (not a re-parse of it) means two
/// different stored texts can never share a hash; [`details_are_canonical`] then refuses any
/// stored text that is not the one canonical form (duplicate keys, whitespace, key order). For
/// canonical details this is byte-for-byte the encoding earlier builds hashed.
pub fn entry_hash(row: &AuditRow) -> String {
    #[derive(Serialize)]
    struct Hashed<'a> {
        action: &'a str,
        actor: &'a str,
        at: &'a str,
        details: &'a RawValue,
        outcome: &'a str,
        prev_hash: &'a str,
        request_id: &'a str,
        seq: u64,
        target: &'a str,
        workspace: String,
    }
    // Stored text that is not JSON at all is hashed as a JSON string of itself; verification
    // refuses it anyway.
    let fallback;
    let details: &RawValue = match serde_json::from_str::<&RawValue>(&row.details) {
        Ok(raw) if raw.get().len() == row.details.len() => raw,
        _ => {
            fallback = serde_json::value::to_raw_value(&row.details)
                .unwrap_or_else(|_| unreachable!("a string always serialises"));
            &fallback
        }
    };
    let canonical = serde_json::to_string(&Hashed {
        action: &row.action,
        actor: &row.actor,
        at: &row.at,
        details,
        outcome: &row.outcome,
        prev_hash: &row.prev_hash,
        request_id: &row.request_id,
        seq: row.seq,
        target: &row.target,
        workspace: row.workspace_id.to_string(),
    })
    .unwrap_or_else(|_| unreachable!("strings and numbers always serialise"));
    let mut h = Sha256::new();
    h.update(ENTRY_TAG);
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

/// True when `details` is exactly the canonical JSON of what it parses to: an object, keys
/// sorted and unique, no whitespace. Duplicate keys fail because the parse keeps one of them.
pub fn details_are_canonical(details: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(details) {
        Ok(v @ serde_json::Value::Object(_)) => {
            serde_json::to_string(&v).is_ok_and(|s| s == details)
        }
        _ => false,
    }
}

pub fn now_millis() -> String {
    clock::format(clock::now())
}

/// Append one entry to a workspace's chain inside the caller's transaction. If this fails, the
/// caller's change fails with it (fail closed).
pub fn append(
    tx: &WriteTx<'_>,
    workspace_id: WorkspaceId,
    who: &Attribution,
    event: Event,
) -> Result<AuditRow, crate::store::StoreError> {
    let head = tx.audit_head(workspace_id)?;
    let (seq, prev_hash) = match head {
        Some(h) => (h.seq + 1, h.hash),
        None => match tx.audit_segments(workspace_id)?.last() {
            // Everything stored was pruned: continue from the last sealed segment.
            Some(m) => (m.last_seq + 1, m.last_hash.clone()),
            None => (1, genesis_hash(workspace_id)),
        },
    };
    let mut row = AuditRow {
        workspace_id,
        seq,
        request_id: who.request_id.to_string(),
        at: now_millis(),
        actor: who.actor.clone(),
        action: event.action.as_str().to_owned(),
        target: event.target,
        outcome: event.outcome.as_str().to_owned(),
        details: event.details.to_string(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = entry_hash(&row);
    tx.insert_audit(&row)?;
    // Anchor every N entries. Verification requires a checkpoint at each of these seqs, so
    // dropping them (to rewrite the chain behind them) is itself detected.
    if row.seq.is_multiple_of(CHECKPOINT_INTERVAL) {
        let c = who.signer.sign(workspace_id, row.seq, &row.hash, &row.at);
        tx.insert_audit_checkpoint(&StoredCheckpoint::from(&c))?;
    }
    Ok(row)
}

/// Sign the current head of a workspace's chain (export, prune), inside the caller's
/// transaction, and return the stored checkpoint at that seq. `None` for an empty chain.
pub fn checkpoint_head(
    tx: &WriteTx<'_>,
    workspace_id: WorkspaceId,
    signer: &CheckpointSigner,
) -> Result<Option<Checkpoint>, StoreError> {
    match tx.audit_head(workspace_id)? {
        Some(head) => checkpoint_at(tx, &head, signer).map(Some),
        None => Ok(None),
    }
}

/// Sign `row` (unless a checkpoint already exists at its seq) and return the stored one.
pub fn checkpoint_at(
    tx: &WriteTx<'_>,
    row: &AuditRow,
    signer: &CheckpointSigner,
) -> Result<Checkpoint, StoreError> {
    if let Some(existing) = tx.audit_checkpoint_at(row.workspace_id, row.seq)?
        && existing.key_id == signer.key_id()
        && existing.hash == row.hash
    {
        return Ok(existing.into());
    }
    let c = signer.sign(row.workspace_id, row.seq, &row.hash, &now_millis());
    tx.insert_audit_checkpoint(&StoredCheckpoint::from(&c))?;
    // INSERT OR IGNORE keeps an older checkpoint at the same seq; the fresh one is still a valid
    // signature of the same head, so hand it out.
    Ok(c)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::test_store;

    pub(crate) fn test_who() -> Attribution {
        Attribution {
            actor: "alice".into(),
            request_id: Uuid::new_v4(),
            signer: CheckpointSigner::legacy(&crate::vault::MasterKey::generate().unwrap()),
        }
    }

    #[test]
    fn chains_entries_from_a_workspace_specific_genesis() {
        let (_d, mut store) = test_store();
        let ws = WorkspaceId::new();
        let who = test_who();
        let (a, b) = store
            .write(|tx| {
                tx.insert_workspace(&crate::store::WorkspaceRow {
                    id: ws,
                    slug: crate::slug::Slug::parse("acme-corp").unwrap(),
                    description: String::new(),
                    plan: crate::store::Plan::Pro,
                    created_at: chrono::Utc::now(),
                    deleted_at: None,
                })?;
                let a = append(
                    tx,
                    ws,
                    &who,
                    Event::new(Action::WorkspaceCreated, "acme-corp", Outcome::Success),
                )?;
                let b = append(
                    tx,
                    ws,
                    &who,
                    Event::new(Action::IntegrationConnected, "falcon", Outcome::Success),
                )?;
                Ok::<_, crate::store::StoreError>((a, b))
            })
            .unwrap();
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_eq!(a.prev_hash, genesis_hash(ws));
        assert_ne!(genesis_hash(ws), genesis_hash(WorkspaceId::new()));
        assert_eq!(b.prev_hash, a.hash);
        assert_eq!(entry_hash(&b), b.hash);
    }
}
