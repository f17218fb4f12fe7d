//! `seliq-gateway migrate`: a SQLite data dir's database into an empty PostgreSQL database,
//! checked on arrival (every audit chain verifies, every credential opens) before it is used.

use secrecy::SecretString;
use serde_json::json;

use crate::app::{App, Config, DB_FILE};
use crate::audit::{self, Action, Event, Outcome};
use crate::error::{Error, Result};
use crate::store::{Database, Store, copy_into};

pub fn run(cfg: Config, from: Option<&str>) -> Result<u8> {
    let source = match from {
        Some(url) => Database::parse(url).map_err(|e| Error::Invalid(format!("--from: {e}")))?,
        None => Database::Sqlite(cfg.data_dir.join(DB_FILE)),
    };
    let Database::Sqlite(path) = &source else {
        return Err(Error::Invalid(
            "--from must name a SQLite database (sqlite:PATH); the target is --database-url"
                .to_owned(),
        ));
    };
    if !path.exists() {
        return Err(Error::Invalid(format!(
            "{} does not exist; name the SQLite database to copy with --from sqlite:PATH",
            path.display()
        )));
    }
    let target = cfg.database().map_err(Error::Invalid)?;
    if !target.is_postgres() {
        return Err(Error::Invalid(
            "the target must be PostgreSQL: set --database-url (or SELIQ_DATABASE_URL) to postgres://…"
                .to_owned(),
        ));
    }
    // The source opens as any command would: its master key must be the one its keys are
    // wrapped under, and its audit signer is the one the copied chains verify with.
    let mut source_cfg = cfg.clone();
    source_cfg.database_url = Some(SecretString::from(format!("sqlite:{}", path.display())));
    let mut app = App::open(source_cfg)?;
    let mut to = Store::create_in(&target)?;
    let host = crate::pull::sink::host_name();
    let copied = copy_into(app.store(), &mut to, |p| format!("{host}:{p}"))?;

    // Checked where it landed, before anyone uses it.
    let signer = app.who().signer.clone();
    let vault = app.vault().clone();
    let (chains, credentials, live) = to.read(|tx| {
        let mut chains = 0u64;
        let mut credentials = 0u64;
        let mut live = Vec::new();
        for ws in tx.list_workspaces(true)? {
            audit::verify::verify_stored(tx, ws.id, &signer)?.map_err(|b| {
                Error::Runtime(format!(
                    "the audit chain of {} fails verification after the copy, at {b}; the target was written but must not be used",
                    ws.slug
                ))
            })?;
            chains += 1;
            let Some(lw) = tx.live_workspace(ws.id)? else {
                continue;
            };
            for integ in tx.integrations(ws.id)? {
                drop(crate::integrations::open_current(tx, &vault, &lw, &integ)?);
                credentials += 1;
            }
            live.push(ws.id);
        }
        Ok::<_, Error>((chains, credentials, live))
    })?;
    let who = app.who().clone();
    let rows: u64 = copied.tables.iter().map(|(_, n)| n).sum();
    to.write(|tx| {
        for ws in &live {
            audit::append(
                tx,
                *ws,
                &who,
                Event::new(Action::StoreMigrated, "store", Outcome::Success).details(json!({
                    "from": "sqlite",
                    "to": target.to_string(),
                    "rows": rows,
                })),
            )?;
        }
        Ok::<_, Error>(())
    })?;
    println!(
        "copied {rows} rows into {target}: {} workspaces, {} integrations, {} audit entries; {chains} audit chains verify, {credentials} credentials open",
        copied.rows("workspaces"),
        copied.rows("integrations"),
        copied.rows("audit_entries"),
    );
    println!(
        "point every replica at it with --database-url (or SELIQ_DATABASE_URL) and the same master key; the SQLite file is left as it was"
    );
    Ok(0)
}
