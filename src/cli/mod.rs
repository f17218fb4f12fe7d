//! The `seliq-gateway` command line: parse, dispatch, print data on stdout, one-sentence errors on
//! stderr, exit codes as README.md ("CLI") lists them.

pub mod args;
mod audit_cmd;
mod migrate;
pub(crate) mod params;
#[path = "pull.rs"]
mod pull_cmd;
mod secret;
mod sla;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use seliq_connectors::Settings;
use seliq_connectors::http::HttpOptions;
use serde_json::json;

use crate::app::{self, App, Config, InitOutcome};
use crate::error::{Error, Result};
use crate::slug::{IntegrationName, Slug};
use crate::store::Plan;
use crate::timespec::parse_span;
use crate::{integrations, pull, workspaces};
use args::{
    AuditCmd, Cli, Command, CredentialsCmd, IntegrationCmd, LogFormat, TokenCmd, VaultCmd,
    WorkspaceCmd,
};

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A service logs one line per poll at info; one-shot commands stay quiet unless asked.
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    init_logging(cli.log_format, default_level);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(RedactingStderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Log output goes through the connectors' redaction before it reaches stderr: vendor modules
/// log vendor messages (and hyper/reqwest log at debug), and any of them could quote an echoed
/// credential. Each event is formatted into one buffer, scrubbed whole, then written.
struct RedactingStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactedEvent;

    fn make_writer(&'a self) -> Self::Writer {
        RedactedEvent(Vec::new())
    }
}

/// One event's formatted bytes, written to stderr scrubbed when the subscriber drops it.
struct RedactedEvent(Vec<u8>);

impl std::io::Write for RedactedEvent {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.0);
        let clean = seliq_connectors::redact::scrub_for_log(&text);
        let result = std::io::stderr().lock().write_all(clean.as_bytes());
        self.0.clear();
        result
    }
}

impl Drop for RedactedEvent {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

fn config(cli: &Cli) -> Config {
    Config {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone().map(secrecy::SecretString::from),
        actor: cli.actor.clone().unwrap_or_else(app::default_actor),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the async runtime: {e}")))
}

/// `--ca-file` and `--max-connections-per-host`, set once by `run`: process-wide settings like
/// the data dir, kept here so the command functions that build connectors need no extra
/// parameter.
struct HttpFlags {
    ca_file: Option<std::path::PathBuf>,
    max_connections_per_host: usize,
}

static HTTP_FLAGS: std::sync::OnceLock<HttpFlags> = std::sync::OnceLock::new();

fn http() -> Result<HttpOptions> {
    let mut http = HttpOptions::default_timeouts()?;
    if let Some(flags) = HTTP_FLAGS.get() {
        http = http.with_max_connections_per_host(flags.max_connections_per_host)?;
        if let Some(path) = &flags.ca_file {
            http = http.with_ca_file(path)?;
        }
    }
    Ok(http)
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| Error::Runtime(e.to_string()))?;
    writeln!(out).map_err(|e| Error::Runtime(e.to_string()))
}

fn run(cli: Cli) -> Result<u8> {
    let cfg = config(&cli);
    crate::store::set_pool_size(usize::from(cli.database_pool_size));
    let _ = HTTP_FLAGS.set(HttpFlags {
        ca_file: cli.ca_file.clone(),
        max_connections_per_host: usize::from(cli.max_connections_per_host),
    });
    match cli.command {
        Command::Init => {
            match app::init(&cfg)? {
                InitOutcome::Created { key_file } => {
                    println!("initialised {}", cfg.data_dir.display());
                    match key_file {
                        Some(k) => println!(
                            "master key written to {} (mode 0600); back it up, it cannot be recovered",
                            k.display()
                        ),
                        None => println!("master key taken from {}", app::MASTER_KEY_ENV),
                    }
                }
                InitOutcome::AlreadyInitialised => {
                    println!(
                        "{} is already initialised; nothing changed",
                        cfg.data_dir.display()
                    );
                }
            }
            Ok(0)
        }
        #[cfg(feature = "dev-tools")]
        Command::Demo(args) => crate::demo::run(args.dir),
        #[cfg(feature = "dev-tools")]
        Command::Bench(args) => crate::bench::run(args),
        Command::Workspace(cmd) => workspace(App::open(cfg)?, cmd),
        Command::Integration(cmd) => integration(App::open(cfg)?, *cmd),
        Command::Credentials(cmd) => credentials(App::open(cfg)?, cmd),
        Command::Pull(args) => {
            let mut app = App::open(cfg)?;
            let summary = runtime()?.block_on(pull_cmd::run(&mut app, &http()?, args))?;
            Ok(summary)
        }
        Command::Serve(args) => {
            let file = match &args.config {
                Some(p) => crate::serve::config::FileConfig::read(p)?,
                None => Default::default(),
            };
            let opts = crate::serve::config::resolve(
                file,
                crate::serve::config::Overrides {
                    listen: args.listen,
                    hide_workspace_labels: args.hide_workspace_labels,
                    stdout: args.stdout,
                    spool_max_bytes: args.spool_max_bytes,
                    shutdown_grace: args.shutdown_grace,
                    max_concurrent_polls: args.max_concurrent_polls,
                    lease_ttl: args.lease_ttl,
                    replica_id: args.replica_id,
                },
            )?;
            let app = App::open(cfg)?;
            runtime()?.block_on(crate::serve::run(app, http()?, opts))
        }
        Command::Status(args) => status_cmd(App::open(cfg)?, args),
        Command::Migrate(args) => migrate::run(cfg, args.from.as_deref()),
        Command::Audit(cmd) => audit_cmd(App::open(cfg)?, cmd),
        Command::Vault(cmd) => vault_cmd(App::open(cfg)?, cmd),
        Command::Sla(cmd) => sla::sla(App::open(cfg)?, cmd),
        Command::Calendar(cmd) => sla::calendar(App::open(cfg)?, cmd),
        Command::Assignment(cmd) => sla::assignment(App::open(cfg)?, cmd),
        Command::Token(cmd) => token_cmd(App::open(cfg)?, cmd),
    }
}

fn workspace(mut app: App, cmd: WorkspaceCmd) -> Result<u8> {
    match cmd {
        WorkspaceCmd::Create {
            slug,
            description,
            plan,
        } => {
            let slug = Slug::parse(&slug)?;
            let plan: Plan = plan.parse().map_err(Error::Invalid)?;
            let w = workspaces::create(&mut app, &slug, &description, plan)?;
            println!("created workspace {} ({})", w.slug, w.id);
        }
        WorkspaceCmd::List { json } => {
            let list = workspaces::list(&mut app)?;
            if json {
                print_json(&list)?;
            } else {
                for w in list {
                    println!(
                        "{:<32} {:<10} {}",
                        w.slug,
                        w.plan,
                        printable(w.description.lines().next().unwrap_or(""))
                    );
                }
            }
        }
        WorkspaceCmd::Show { slug, json } => {
            let w = workspaces::show(&mut app, &Slug::parse(&slug)?)?;
            if json {
                print_json(&w)?;
            } else {
                println!(
                    "slug:        {}\nid:          {}\nplan:        {}\ncreated_at:  {}\ndescription: {}",
                    w.slug,
                    w.id,
                    w.plan,
                    w.created_at.to_rfc3339(),
                    printable(&w.description)
                );
            }
        }
        WorkspaceCmd::Delete { slug, confirm } => {
            let slug = Slug::parse(&slug)?;
            workspaces::delete(&mut app, &slug, &confirm)?;
            println!(
                "deleted workspace {slug}: its keys and credentials are destroyed; its audit log remains"
            );
        }
    }
    Ok(0)
}

fn names(workspace: &str, name: &str) -> Result<(Slug, IntegrationName)> {
    Ok((Slug::parse(workspace)?, IntegrationName::parse(name)?))
}

fn integration(mut app: App, cmd: IntegrationCmd) -> Result<u8> {
    match cmd {
        IntegrationCmd::Add {
            workspace,
            name,
            kind,
            settings,
            secret,
            no_verify,
            poll_interval,
        } => {
            let (slug, name) = names(&workspace, &name)?;
            let poll_interval = match &poll_interval {
                Some(s) => integrations::check_poll_interval(parse_span("--poll-interval", s)?)?,
                None => integrations::DEFAULT_POLL_INTERVAL,
            };
            let first_window = match &settings.first_window {
                Some(s) => parse_span("--first-window", s)?,
                None => pull::DEFAULT_FIRST_WINDOW,
            };
            let validated = Settings::validate(params::build(kind, &settings)?)?;
            let secret = secret::read(&secret)?;
            let req = integrations::NewIntegration {
                workspace: slug.clone(),
                name,
                settings: validated,
                secret,
                verify: !no_verify,
                first_window,
                poll_interval,
            };
            let row = runtime()?.block_on(integrations::add(&mut app, &http()?, req))?;
            println!(
                "connected {} to workspace {slug} (source {})",
                row.name, row.source
            );
        }
        IntegrationCmd::List { workspace, json } => {
            let rows = integrations::list(&mut app, &Slug::parse(&workspace)?)?;
            if json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|r| json!({"id": r.id, "name": r.name, "kind": r.kind, "source": r.source, "settings": r.settings, "created_at": r.created_at}))
                    .collect();
                print_json(&v)?;
            } else {
                for r in rows {
                    println!("{:<24} {:<12} {}", r.name, r.kind, r.source);
                }
            }
        }
        IntegrationCmd::Test { workspace, name } => {
            let (slug, name) = names(&workspace, &name)?;
            runtime()?.block_on(integrations::test(&mut app, &http()?, &slug, &name))?;
            println!("{name} in {slug}: credential accepted");
        }
        IntegrationCmd::Remove { workspace, name } => {
            let (slug, name) = names(&workspace, &name)?;
            integrations::remove(&mut app, &slug, &name)?;
            println!("removed {name} from {slug}: credential destroyed, source released");
        }
        IntegrationCmd::Update {
            workspace,
            name,
            poll_interval,
        } => {
            let (slug, name) = names(&workspace, &name)?;
            let interval = parse_span("--poll-interval", &poll_interval)?;
            integrations::set_poll_interval(&mut app, &slug, &name, interval)?;
            println!(
                "{name} in {slug}: polled every {}s from serve's next reload",
                interval.as_secs()
            );
        }
        IntegrationCmd::Resume { workspace, name } => {
            let (slug, name) = names(&workspace, &name)?;
            if integrations::resume(&mut app, &slug, &name)? {
                println!("{name} in {slug}: resumed; serve polls it again from its next reload");
            } else {
                println!("{name} in {slug} was not suspended");
            }
        }
        IntegrationCmd::DeadLetters { workspace, name } => {
            let (slug, name) = names(&workspace, &name)?;
            let rows = integrations::dead_letters(&mut app, &slug, &name)?;
            let mut out = std::io::stdout().lock();
            for r in rows {
                // `raw` is the vendor's JSON exactly as received; anything else (a hand-edited
                // row) is shown as a string rather than spliced in.
                let raw = serde_json::from_str::<&serde_json::value::RawValue>(&r.raw)
                    .map(|v| v.get().to_owned())
                    .unwrap_or_else(|_| serde_json::Value::String(r.raw.clone()).to_string());
                writeln!(
                    out,
                    "{{\"id\":{},\"at\":{},\"reason\":{},\"raw\":{raw}}}",
                    r.id,
                    serde_json::Value::String(r.at.to_rfc3339()),
                    serde_json::Value::String(r.reason),
                )
                .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))?;
            }
        }
    }
    Ok(0)
}

fn credentials(mut app: App, cmd: CredentialsCmd) -> Result<u8> {
    match cmd {
        CredentialsCmd::Rotate {
            workspace,
            name,
            secret,
            client_id,
            no_verify,
        } => {
            let (slug, name) = names(&workspace, &name)?;
            let secret = secret::read(&secret)?;
            let v = runtime()?.block_on(integrations::rotate(
                &mut app,
                &http()?,
                &slug,
                &name,
                secret,
                client_id.as_deref(),
                !no_verify,
            ))?;
            println!("rotated {name} in {slug}: version {v} is current");
        }
        CredentialsCmd::Rollback { workspace, name } => {
            let (slug, name) = names(&workspace, &name)?;
            let v = integrations::rollback(&mut app, &slug, &name)?;
            println!("rolled back {name} in {slug}: version {v} is current");
        }
    }
    Ok(0)
}

fn token_cmd(mut app: App, cmd: TokenCmd) -> Result<u8> {
    use crate::api::tokens;
    match cmd {
        TokenCmd::Create {
            workspace,
            all_workspaces: _,
            scope,
            name,
            expires_in,
            json,
        } => {
            let req = tokens::NewToken {
                workspace: workspace.as_deref().map(Slug::parse).transpose()?,
                scope: scope.parse().map_err(Error::Invalid)?,
                name,
                expires_in: expires_in
                    .as_deref()
                    .map(|s| parse_span("--expires-in", s))
                    .transpose()?,
            };
            let created = tokens::create(&mut app, &req)?;
            let token = secrecy::ExposeSecret::expose_secret(&created.token);
            let r = &created.row;
            if json {
                print_json(&json!({
                    "id": r.id,
                    "name": r.name,
                    "workspace": req.workspace.as_ref().map(Slug::as_str),
                    "scope": r.scope,
                    "expires_at": r.expires_at,
                    "token": token,
                }))?;
            } else {
                println!("{token}");
                eprintln!(
                    "created token {} ({}, scope {}, {}{}); it is shown only once",
                    r.id,
                    r.name,
                    r.scope,
                    match &req.workspace {
                        Some(s) => format!("workspace {s}"),
                        None => "all workspaces".to_owned(),
                    },
                    r.expires_at
                        .map(|t| format!(", expires {}", t.to_rfc3339()))
                        .unwrap_or_default()
                );
            }
        }
        TokenCmd::List { workspace, json } => {
            let only = workspace.as_deref().map(Slug::parse).transpose()?;
            let list = tokens::list(&mut app, only.as_ref())?;
            if json {
                print_json(&list)?;
            } else {
                for t in list {
                    let state = if t.row.revoked_at.is_some() {
                        "revoked".to_owned()
                    } else if t.row.expires_at.is_some_and(|e| e <= chrono::Utc::now()) {
                        "expired".to_owned()
                    } else {
                        "active".to_owned()
                    };
                    println!(
                        "{:<12} {:<8} {:<8} {:<24} {}",
                        t.row.id,
                        t.row.scope,
                        state,
                        t.workspace.as_deref().unwrap_or("(all workspaces)"),
                        t.row.name
                    );
                }
            }
        }
        TokenCmd::Revoke { id } => {
            let r = tokens::revoke(&mut app, &id)?;
            println!("revoked token {} ({})", r.id, r.name);
        }
    }
    Ok(0)
}

fn audit_cmd(mut app: App, cmd: AuditCmd) -> Result<u8> {
    audit_cmd::run(&mut app, cmd)
}

fn vault_cmd(mut app: App, cmd: VaultCmd) -> Result<u8> {
    match cmd {
        VaultCmd::RotateMasterKey {
            new_key_env,
            new_key_file,
        } => {
            let new = match (new_key_env, new_key_file) {
                (Some(var), _) => {
                    let v = std::env::var(&var).map_err(|_| {
                        Error::Invalid(format!(
                            "environment variable {var} (from --new-key-env) is not set"
                        ))
                    })?;
                    crate::vault::MasterKey::from_base64(&secrecy::SecretString::from(v), &var)?
                }
                (None, Some(path)) => crate::vault::MasterKey::read_file(&path)?,
                (None, None) => {
                    return Err(Error::Invalid(
                        "pass --new-key-env VAR or --new-key-file PATH".to_owned(),
                    ));
                }
            };
            let n =
                crate::rekey::rotate_master_key(&mut app, &new, crate::vault::FailAfter::never())?;
            println!(
                "rewrapped {n} data keys under master key {}; use the new key from now on",
                new.id()
            );
        }
    }
    Ok(0)
}

fn status_cmd(mut app: App, args: super::cli::args::StatusArgs) -> Result<u8> {
    let only = args.workspace.as_deref().map(Slug::parse).transpose()?;
    let list = crate::serve::status::from_store(&mut app, only.as_ref())?;
    if args.json {
        print_json(&serde_json::json!({ "integrations": list }))?;
        return Ok(0);
    }
    let mut out = std::io::stdout().lock();
    let fmt_secs = |s: Option<f64>| s.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}s"));
    for s in &list {
        let last = s.last_poll.as_ref().map_or_else(
            || "never polled".to_owned(),
            |p| {
                format!(
                    "last poll {} {} ({} alerts)",
                    p.start.format("%Y-%m-%dT%H:%M:%SZ"),
                    p.outcome.as_deref().unwrap_or("running"),
                    p.alerts
                )
            },
        );
        writeln!(
            out,
            "{:<24} {:<20} {:<12} {:<12} lag {:>8}  {last}{}{}",
            s.workspace,
            s.integration,
            s.vendor,
            s.state,
            fmt_secs(s.lag_seconds),
            s.replica
                .as_deref()
                .map(|r| format!("; replica {}", printable(r)))
                .unwrap_or_default(),
            s.last_error
                .as_deref()
                .map(|e| format!("; {}", printable(e)))
                .unwrap_or_default()
        )
        .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))?;
    }
    Ok(0)
}

/// Text for a terminal: control characters (ANSI escape sequences, carriage returns, bells) are
/// shown escaped, so stored text cannot rewrite the operator's screen. Line breaks stay.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() && c != '\n' {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod printable_tests {
    #[test]
    fn escapes_control_characters_but_keeps_line_breaks() {
        assert_eq!(super::printable("plain\ntext"), "plain\ntext");
        let shown = super::printable("a\u{1b}[2Jb\rc\u{7}");
        assert!(!shown.contains('\u{1b}') && !shown.contains('\r') && !shown.contains('\u{7}'));
        assert!(shown.contains("\\u{1b}[2J"), "{shown}");
    }
}
