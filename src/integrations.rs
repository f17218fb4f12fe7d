//! Integration management: the binding guard, credential storage through the workspace's vault
//! handle, verification against the vendor, rotation and rollback.

use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use seliq_connectors::http::HttpOptions;
use seliq_connectors::{Settings, SourceId, registry};
use serde_json::json;

use crate::app::App;
use crate::audit::{self, Action, Event, Outcome};
use crate::error::{Error, Result};
use crate::ids::{CredentialVersion, IntegrationId, WorkspaceId};
use crate::slug::{IntegrationName, Slug};
use crate::store::{
    CredentialRow, CredentialState, IntegrationRow, LiveWorkspace, ReadTx, WorkspaceRow, WriteTx,
};
use crate::vault::{CredentialContext, Vault};
use crate::workspaces;

pub struct NewIntegration {
    pub workspace: Slug,
    pub name: IntegrationName,
    pub settings: Settings,
    pub secret: SecretString,
    pub verify: bool,
    pub first_window: Duration,
    pub poll_interval: Duration,
}

/// How often `serve` polls an integration unless told otherwise.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(60);
/// Polling faster than this buys nothing from these vendors and costs their quotas.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// And slower than a day is not a feed.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(86_400);

/// Refuse a poll interval outside [`MIN_POLL_INTERVAL`, `MAX_POLL_INTERVAL`].
pub fn check_poll_interval(d: Duration) -> Result<Duration> {
    if d < MIN_POLL_INTERVAL || d > MAX_POLL_INTERVAL {
        return Err(Error::Invalid(format!(
            "--poll-interval of {}s is outside 10s..24h",
            d.as_secs()
        )));
    }
    Ok(d)
}

/// The integration `name` of workspace `slug`, or exit 4 naming what is missing.
pub fn require(
    tx: &ReadTx<'_>,
    slug: &Slug,
    name: &IntegrationName,
) -> Result<(LiveWorkspace, IntegrationRow)> {
    let ws = workspaces::require(tx, slug)?;
    let integ = tx.integration_by_name(ws.id, name)?.ok_or_else(|| {
        Error::NotFound(format!(
            "integration {name} does not exist in workspace {slug}"
        ))
    })?;
    Ok((ws, integ))
}

/// Open an integration's current credential through its workspace's vault handle, after
/// checking that the integration belongs to that workspace and that its settings still read the
/// source it is bound to.
pub fn open_current(
    tx: &ReadTx<'_>,
    vault: &Vault,
    workspace: &LiveWorkspace,
    integ: &IntegrationRow,
) -> Result<SecretString> {
    if integ.workspace_id != workspace.id {
        return Err(Error::Runtime(format!(
            "integration {} does not belong to workspace {}; refusing to open its credential",
            integ.name, workspace.slug
        )));
    }
    let source = bound_source(tx, integ)?;
    let row = tx
        .credential(integ.id, CredentialState::Current)?
        .ok_or_else(|| {
            Error::Runtime(format!(
                "integration {:?} has no current credential",
                integ.name.as_str()
            ))
        })?;
    let wv = vault.workspace(tx, workspace)?;
    Ok(wv.open(&ctx(integ, &source, row.version), &row.blob)?)
}

/// The canonical source an integration reads, computed from its settings (what the connector
/// will actually query: CID, ARM id, Splunk endpoint and scope) and required to equal both the
/// integration's recorded source and its binding. The credential's associated data names this
/// source, so settings edited in the database either fail here or fail to open the credential:
/// a credential is never pointed at a source other than the one bound to its workspace.
pub fn bound_source(tx: &ReadTx<'_>, integ: &IntegrationRow) -> Result<String> {
    let source = integ.settings.source_id().canonical();
    let binding = tx.binding_of(integ.id)?;
    let bound = binding
        .as_ref()
        .is_some_and(|b| b.workspace_id == integ.workspace_id && b.source.canonical() == source);
    if source != integ.source || !bound {
        return Err(Error::Runtime(format!(
            "integration {} of this workspace no longer matches the source it is bound to (its stored settings or binding were altered); refusing to use its credential",
            integ.name
        )));
    }
    Ok(source)
}

fn ctx<'a>(
    integ: &IntegrationRow,
    source: &'a str,
    version: CredentialVersion,
) -> CredentialContext<'a> {
    CredentialContext {
        integration_id: integ.id,
        source,
        version,
    }
}

/// A refused bind: the message for the operator (names the holder) and for the asking
/// workspace's audit log (does not: that log may be exported to the client).
struct BindConflict {
    holder: String,
    source: String,
}

impl BindConflict {
    fn operator_message(&self) -> String {
        format!(
            "source {} is already bound to workspace {}",
            self.source, self.holder
        )
    }

    fn client_message(&self) -> String {
        format!(
            "source {} is already bound to another workspace",
            self.source
        )
    }
}

/// Why a bind is refused: the first bound source that can read a common alert. A Splunk server
/// GUID read at bind time catches the same server under another host name, address or alias.
fn find_conflict(
    tx: &ReadTx<'_>,
    source: &SourceId,
    server_guid: Option<&str>,
) -> Result<Option<BindConflict>> {
    let mut candidates: Vec<(crate::store::BindingRow, bool)> = tx
        .bindings_with_key(&source.binding_key())?
        .into_iter()
        .map(|b| (b, false))
        .collect();
    if let Some(guid) = server_guid {
        candidates.extend(
            tx.bindings_with_server_guid(guid)?
                .into_iter()
                .map(|b| (b, true)),
        );
    }
    for (b, same_server) in candidates {
        let conflict = if same_server {
            b.source.conflicts_on_same_server(source)
        } else {
            b.source.conflicts_with(source)
        };
        if conflict {
            let holder = tx
                .workspace_by_id(b.workspace_id)?
                .map(|w| w.slug.to_string())
                .unwrap_or_else(|| b.workspace_id.to_string());
            return Ok(Some(BindConflict {
                holder,
                source: b.source.canonical(),
            }));
        }
    }
    Ok(None)
}

pub async fn add(app: &mut App, http: &HttpOptions, req: NewIntegration) -> Result<IntegrationRow> {
    let source = req.settings.source_id();
    let canonical = source.canonical();
    let ws = app
        .store()
        .read(|tx| workspaces::require(tx, &req.workspace))?;
    let who = app.who().clone();

    // Cheap refusal before calling the vendor; the authoritative check is repeated in the write
    // transaction below, which is what makes concurrent binds safe.
    let early = app.store().read(|tx| find_conflict(tx, &source, None))?;
    if let Some(conflict) = early {
        return Err(refuse_bind(app, &ws, &req.name, &canonical, conflict));
    }
    let mut server_guid = None;
    if req.verify {
        let connector = registry::build(&req.settings, req.secret.clone(), http)?;
        let checked = match connector.check().await {
            Ok(()) => connector.endpoint_identity().await,
            Err(e) => Err(e),
        };
        match checked {
            Ok(guid) => server_guid = guid,
            Err(e) => {
                let reason = e.to_string();
                let _ = app.store().write(|tx| {
                    audit::append(
                        tx,
                        ws.id,
                        &who,
                        Event::new(
                            Action::IntegrationConnected,
                            req.name.as_str(),
                            Outcome::Failure,
                        )
                        .details(json!({"source": canonical, "reason": reason})),
                    )
                });
                return Err(e.into());
            }
        }
    }

    let row = IntegrationRow {
        id: IntegrationId::new(),
        workspace_id: ws.id,
        name: req.name.clone(),
        kind: req.settings.kind(),
        settings: req.settings.clone(),
        source: canonical.clone(),
        first_window_secs: req.first_window.as_secs(),
        poll_interval_secs: check_poll_interval(req.poll_interval)?.as_secs(),
        created_at: Utc::now(),
    };
    let vault = app.vault().clone();
    let result = app.store().write(|tx| {
        // The workspace may have been deleted since the read above.
        let live = workspaces::require(tx, &req.workspace)?;
        if let Some(conflict) = find_conflict(tx, &source, server_guid.as_deref())? {
            return Err(BindOutcome::Refused(conflict));
        }
        tx.insert_integration(&row)?;
        tx.insert_binding(&source, ws.id, row.id, server_guid.as_deref())?;
        let mut wv = vault.workspace(tx, &live)?;
        let blob = wv.seal(
            tx,
            &ctx(&row, &canonical, CredentialVersion::FIRST),
            &req.secret,
        )?;
        tx.insert_credential(&CredentialRow {
            integration_id: row.id,
            version: CredentialVersion::FIRST,
            state: CredentialState::Current,
            blob,
            created_at: Utc::now(),
        })?;
        audit::append(
            tx,
            ws.id,
            &who,
            Event::new(
                Action::IntegrationConnected,
                row.name.as_str(),
                Outcome::Success,
            )
            .details(json!({
                "integration_id": row.id,
                "kind": row.kind,
                "source": canonical,
                "verified": req.verify,
                "credential_version": 1,
                "server_guid": server_guid,
            })),
        )?;
        Ok(())
    });
    match result {
        Ok(()) => Ok(row),
        Err(BindOutcome::Refused(conflict)) => {
            Err(refuse_bind(app, &ws, &req.name, &canonical, conflict))
        }
        Err(BindOutcome::Failed(Error::Conflict(msg))) if msg.starts_with("source ") => {
            // The bindings primary key refused an exact duplicate the overlap check missed.
            Err(Error::Conflict(msg))
        }
        Err(BindOutcome::Failed(e)) => Err(e),
    }
}

/// The write transaction of `add`: refused by the guard, or failed for another reason.
enum BindOutcome {
    Refused(BindConflict),
    Failed(Error),
}

impl<E: Into<Error>> From<E> for BindOutcome {
    fn from(e: E) -> Self {
        BindOutcome::Failed(e.into())
    }
}

/// Record a refused bind: in the asking workspace's audit log without the holder (that log may be
/// exported to the client), and with the holder in the gateway's own log for the MSSP.
fn refuse_bind(
    app: &mut App,
    ws: &WorkspaceRow,
    name: &IntegrationName,
    canonical: &str,
    conflict: BindConflict,
) -> Error {
    tracing::warn!(
        workspace = %ws.slug,
        integration = %name,
        source = %conflict.source,
        holder = %conflict.holder,
        "bind refused: the source is already bound to another workspace"
    );
    let msg = conflict.client_message();
    let who = app.who().clone();
    let recorded = app.store().write(|tx| {
        audit::append(
            tx,
            ws.id,
            &who,
            Event::new(
                Action::IntegrationBindingRejected,
                name.as_str(),
                Outcome::Denied,
            )
            .details(json!({"source": canonical, "reason": msg})),
        )
    });
    if let Err(e) = recorded {
        tracing::error!(error = %e, "could not record the refused bind in the audit log");
    }
    Error::Conflict(conflict.operator_message())
}

pub fn list(app: &mut App, slug: &Slug) -> Result<Vec<IntegrationRow>> {
    app.store().read(|tx| {
        let ws = workspaces::require(tx, slug)?;
        Ok(tx.integrations(ws.id)?)
    })
}

pub async fn test(
    app: &mut App,
    http: &HttpOptions,
    slug: &Slug,
    name: &IntegrationName,
) -> Result<()> {
    let vault = app.vault().clone();
    let (ws, integ, secret) = app.store().read(|tx| {
        let (ws, integ) = require(tx, slug, name)?;
        // An unopenable credential is a failed test too, and is audited like one.
        let secret = open_current(tx, &vault, &ws, &integ);
        Ok::<_, Error>((ws, integ, secret))
    })?;
    let outcome: Result<()> = match secret {
        Ok(secret) => match registry::build(&integ.settings, secret, http) {
            Ok(c) => c.check().await.map_err(Error::from),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e),
    };
    let who = app.who().clone();
    let (result, reason) = match &outcome {
        Ok(()) => (Outcome::Success, None),
        Err(e) => (Outcome::Failure, Some(e.to_string())),
    };
    app.store().write(|tx| {
        audit::append(
            tx,
            ws.id,
            &who,
            Event::new(Action::IntegrationTested, name.as_str(), result)
                .details(json!({"source": integ.source, "reason": reason})),
        )
    })?;
    outcome
}

/// An integration's dead letters (records its pulls could not map), oldest first.
pub fn dead_letters(
    app: &mut App,
    slug: &Slug,
    name: &IntegrationName,
) -> Result<Vec<crate::store::DeadLetterRow>> {
    app.store().read(|tx| {
        let (_, integ) = require(tx, slug, name)?;
        Ok(tx.dead_letters(integ.id)?)
    })
}

/// Change how often `serve` polls an integration (audited). A running `serve` picks it up at its
/// next reload.
pub fn set_poll_interval(
    app: &mut App,
    slug: &Slug,
    name: &IntegrationName,
    interval: Duration,
) -> Result<()> {
    let interval = check_poll_interval(interval)?;
    let who = app.who().clone();
    app.store().write(|tx| {
        let (ws, integ) = require(tx, slug, name)?;
        tx.set_poll_interval(integ.id, interval.as_secs())?;
        audit::append(
            tx,
            ws.id,
            &who,
            Event::new(Action::IntegrationUpdated, name.as_str(), Outcome::Success).details(
                json!({
                    "integration_id": integ.id,
                    "poll_interval_secs": interval.as_secs(),
                    "previous_poll_interval_secs": integ.poll_interval_secs,
                }),
            ),
        )?;
        Ok(())
    })
}

/// Clear a suspension (the vendor rejected the credential) so `serve` polls it again (audited).
/// Returns false when it was not suspended.
pub fn resume(app: &mut App, slug: &Slug, name: &IntegrationName) -> Result<bool> {
    let who = app.who().clone();
    app.store().write(|tx| {
        let (ws, integ) = require(tx, slug, name)?;
        clear_suspension(tx, ws.id, &integ, &who, "resumed by an operator")
    })
}

/// Lift a suspension inside the caller's transaction, auditing why. False when there was none.
pub fn clear_suspension(
    tx: &WriteTx<'_>,
    workspace_id: WorkspaceId,
    integ: &IntegrationRow,
    who: &audit::Attribution,
    reason: &str,
) -> Result<bool> {
    let Some(mut state) = tx.integration_state(integ.id)? else {
        return Ok(false);
    };
    if state.suspended_at.is_none() {
        return Ok(false);
    }
    state.suspended_at = None;
    state.suspended_reason = None;
    state.suspended_credential_version = None;
    state.failures = 0;
    state.next_poll = None;
    tx.save_integration_state(&state)?;
    audit::append(
        tx,
        workspace_id,
        who,
        Event::new(
            Action::IntegrationResumed,
            integ.name.as_str(),
            Outcome::Success,
        )
        .details(json!({
            "integration_id": integ.id,
            "reason": reason,
        })),
    )?;
    Ok(true)
}

pub fn remove(app: &mut App, slug: &Slug, name: &IntegrationName) -> Result<()> {
    let who = app.who().clone();
    app.store().write(|tx| {
        let (ws, integ) = require(tx, slug, name)?;
        // Cascades: credential rows, the binding and the checkpoint go in this transaction.
        tx.delete_integration(integ.id)?;
        audit::append(
            tx,
            ws.id,
            &who,
            Event::new(
                Action::IntegrationDisconnected,
                name.as_str(),
                Outcome::Success,
            )
            .details(json!({"integration_id": integ.id, "source": integ.source})),
        )?;
        Ok(())
    })
}

/// A pending version older than this is taken to be left over from a crashed rotation.
const STALE_PENDING: chrono::Duration = chrono::Duration::minutes(15);

/// pending → check → current, with compare-and-set on the current version. Returns the new
/// version.
pub async fn rotate(
    app: &mut App,
    http: &HttpOptions,
    slug: &Slug,
    name: &IntegrationName,
    secret: SecretString,
    client_id: Option<&str>,
    verify: bool,
) -> Result<CredentialVersion> {
    let rotation = Rotation {
        secret,
        client_id: client_id.map(str::to_owned),
        verify,
        expected_version: None,
    };
    rotate_with(app, http, slug, name, rotation).await
}

/// A credential rotation as the HTTP API asks for it.
pub struct Rotation {
    pub secret: SecretString,
    /// New client id (or Splunk user name) that goes with the new secret.
    pub client_id: Option<String>,
    pub verify: bool,
    /// Refuse (conflict) unless this is the current version when the rotation starts, so
    /// concurrent callers that all read version N leave exactly one winner.
    pub expected_version: Option<u32>,
}

/// [`rotate`] with an optional expected current version.
pub async fn rotate_with(
    app: &mut App,
    http: &HttpOptions,
    slug: &Slug,
    name: &IntegrationName,
    rotation: Rotation,
) -> Result<CredentialVersion> {
    let Rotation {
        secret,
        client_id,
        verify,
        expected_version,
    } = rotation;
    let client_id = client_id.as_deref();
    let vault = app.vault().clone();
    let who = app.who().clone();
    // Step 1: seal and store the new version as pending, for this integration alone.
    let (ws, integ, current, new_settings, pending) = app.store().write(|tx| {
        let (ws, integ) = require(tx, slug, name)?;
        let current = tx
            .credential(integ.id, CredentialState::Current)?
            .ok_or_else(|| {
                Error::Runtime(format!("integration {name} has no current credential"))
            })?;
        if let Some(expected) = expected_version
            && expected != current.version.get()
        {
            return Err(Error::Conflict(format!(
                "the current credential of integration {name} is version {}, not {expected}",
                current.version
            )));
        }
        let new_settings = match client_id {
            Some(id) => integ.settings.with_client_id(id)?,
            None => integ.settings.clone(),
        };
        if let Some(p) = tx.credential(integ.id, CredentialState::Pending)? {
            if Utc::now() - p.created_at < STALE_PENDING {
                return Err(Error::Conflict(format!(
                    "another credential rotation of integration {name} is in progress"
                )));
            }
            tx.delete_credential(integ.id, p.version)?;
        }
        let version = tx
            .credentials(integ.id)?
            .iter()
            .map(|c| c.version)
            .max()
            .unwrap_or(current.version)
            .next()
            .ok_or_else(|| {
                Error::Runtime(format!(
                    "integration {name} has used every credential version; add it again to rotate"
                ))
            })?;
        let source = bound_source(tx, &integ)?;
        let mut wv = vault.workspace(tx, &ws)?;
        let blob = wv.seal(tx, &ctx(&integ, &source, version), &secret)?;
        tx.insert_credential(&CredentialRow {
            integration_id: integ.id,
            version,
            state: CredentialState::Pending,
            blob,
            created_at: Utc::now(),
        })?;
        Ok::<_, Error>((ws, integ, current, new_settings, version))
    })?;

    // Step 2: verify with the vendor. A failure leaves the current credential in place.
    if verify {
        let check = match registry::build(&new_settings, secret, http) {
            Ok(c) => c.check().await,
            Err(e) => Err(e),
        };
        if let Err(e) = check {
            let reason = e.to_string();
            app.store().write(|tx| {
                tx.delete_credential(integ.id, pending)?;
                audit::append(
                    tx,
                    ws.id,
                    &who,
                    Event::new(
                        Action::CredentialRotationFailed,
                        name.as_str(),
                        Outcome::Failure,
                    )
                    .details(json!({
                        "integration_id": integ.id,
                        "attempted_version": pending,
                        "current_version": current.version,
                        "reason": reason,
                    })),
                )?;
                Ok::<_, Error>(())
            })?;
            return Err(e.into());
        }
    }

    // Step 3: compare-and-set promotion, audited in the same transaction (fail closed).
    let promoted = app.store().write(|tx| {
        tx.promote_credential(integ.id, current.version, pending)?;
        if new_settings != integ.settings {
            tx.update_integration_settings(integ.id, &new_settings)?;
        }
        clear_suspension(tx, ws.id, &integ, &who, "credential rotated")?;
        audit::append(
            tx,
            ws.id,
            &who,
            Event::new(Action::CredentialRotated, name.as_str(), Outcome::Success).details(json!({
                "integration_id": integ.id,
                "version": pending,
                "previous_version": current.version,
                "verified": verify,
                "client_id_changed": client_id.is_some(),
            })),
        )?;
        Ok::<_, Error>(())
    });
    if let Err(e) = promoted {
        // Best effort: do not leave our pending version to block the next rotation.
        let _ = app.store().write(|tx| {
            if tx
                .credential(integ.id, CredentialState::Pending)?
                .is_some_and(|c| c.version == pending)
            {
                tx.delete_credential(integ.id, pending)?;
            }
            Ok::<_, Error>(())
        });
        return Err(e);
    }
    Ok(pending)
}

/// Make the previous version current again; the rolled-back version is destroyed.
pub fn rollback(app: &mut App, slug: &Slug, name: &IntegrationName) -> Result<CredentialVersion> {
    let who = app.who().clone();
    app.store().write(|tx| {
        let (ws, integ) = require(tx, slug, name)?;
        let current = tx
            .credential(integ.id, CredentialState::Current)?
            .ok_or_else(|| {
                Error::Runtime(format!("integration {name} has no current credential"))
            })?;
        let previous = tx
            .credential(integ.id, CredentialState::Previous)?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "integration {name} has no previous credential to roll back to"
                ))
            })?;
        tx.rollback_credential(integ.id, current.version, previous.version)?;
        clear_suspension(tx, ws.id, &integ, &who, "credential rolled back")?;
        audit::append(
            tx,
            ws.id,
            &who,
            Event::new(
                Action::CredentialRolledBack,
                name.as_str(),
                Outcome::Success,
            )
            .details(json!({
                "integration_id": integ.id,
                "version": previous.version,
                "discarded_version": current.version,
            })),
        )?;
        Ok(previous.version)
    })
}
