//! One integration's status as operators see it: `GET /v1/status` from a running `serve`, and
//! `seliq-gateway status` from the store. Both build it here, from the same stored state.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::schedule::State;
use crate::store::{IntegrationRow, IntegrationStateRow};

#[derive(Debug, Clone, Serialize)]
pub struct LastPoll {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub alerts: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntegrationStatus {
    pub workspace: String,
    pub integration: String,
    pub vendor: String,
    pub state: &'static str,
    pub poll_interval_secs: u64,
    pub last_poll: Option<LastPoll>,
    pub next_poll: Option<DateTime<Utc>>,
    /// Now minus the newest vendor last-modified time emitted.
    pub lag_seconds: Option<f64>,
    pub seconds_since_last_success: Option<f64>,
    /// One sentence, never a secret.
    pub last_error: Option<String>,
    /// While polling: the external sink this integration's batches wait on, and why (`serve`
    /// only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_on_sink: Option<String>,
    /// On PostgreSQL: the `serve` replica that holds this integration's lease (none: no
    /// replica polls it now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

fn seconds_since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<f64> {
    t.map(|t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0)
}

/// The state a stored row implies, when no scheduler is there to say more.
pub fn stored_state(s: &IntegrationStateRow) -> State {
    if s.suspended_at.is_some() {
        State::Suspended
    } else if s.failures > 0 {
        State::BackingOff
    } else {
        State::Ok
    }
}

pub fn build(
    workspace: &str,
    integ: &IntegrationRow,
    state: State,
    s: &IntegrationStateRow,
    now: DateTime<Utc>,
) -> IntegrationStatus {
    IntegrationStatus {
        workspace: workspace.to_owned(),
        integration: integ.name.to_string(),
        vendor: integ.kind.as_str().to_owned(),
        state: state.as_str(),
        poll_interval_secs: integ.poll_interval_secs,
        last_poll: s.last_poll_start.map(|start| LastPoll {
            start,
            end: s.last_poll_end,
            outcome: s.last_outcome.clone(),
            alerts: s.last_alerts,
        }),
        next_poll: if state == State::Suspended {
            None
        } else {
            s.next_poll
        },
        lag_seconds: seconds_since(s.newest_updated_at, now),
        seconds_since_last_success: seconds_since(s.last_success, now),
        last_error: s.suspended_reason.clone().or_else(|| s.last_error.clone()),
        waiting_on_sink: None,
        replica: None,
    }
}

/// Every integration's status (of one workspace, or all) as the store holds it.
pub fn from_store(
    app: &mut crate::app::App,
    only: Option<&crate::slug::Slug>,
) -> crate::error::Result<Vec<IntegrationStatus>> {
    let now = Utc::now();
    let postgres = app.store().database().is_postgres();
    app.store().read(|tx| {
        // On PostgreSQL: which replica holds each integration's lease now.
        let holders: std::collections::HashMap<_, _> = if postgres {
            tx.lease_holders()?
                .into_iter()
                .map(|h| (h.integration_id, h.owner))
                .collect()
        } else {
            Default::default()
        };
        let workspaces = match only {
            Some(slug) => vec![crate::workspaces::require(tx, slug)?.into_row()],
            None => tx.list_workspaces(false)?,
        };
        let mut out = Vec::new();
        for ws in workspaces {
            for integ in tx.integrations(ws.id)? {
                let s = tx
                    .integration_state(integ.id)?
                    .unwrap_or_else(|| IntegrationStateRow::new(integ.id));
                let mut status = build(ws.slug.as_str(), &integ, stored_state(&s), &s, now);
                status.replica = holders.get(&integ.id).cloned();
                out.push(status);
            }
        }
        Ok(out)
    })
}
