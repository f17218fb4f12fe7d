//! The command line (README.md, "CLI"). Secrets are never values on it: only `--secret-env VAR`,
//! `--secret-file PATH` or `--secret-stdin`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "seliq-gateway",
    version,
    about = "Per-workspace connector gateway for MSSPs: Sentinel, Splunk and CrowdStrike alerts in one NDJSON stream",
    after_help = "Example:\n  SELIQ_DATA_DIR=/var/lib/seliq seliq-gateway init\n\nExit codes: 0 ok, 1 runtime failure, 2 invalid input, 3 conflict, 4 not found, 5 credential rejected by the vendor, 6 partial pull."
)]
pub struct Cli {
    /// Data directory (database, master key).
    #[arg(
        long,
        global = true,
        env = "SELIQ_DATA_DIR",
        default_value = "./seliq-data"
    )]
    pub data_dir: PathBuf,
    /// Database URL; default: SQLite in the data directory.
    #[arg(long, global = true, env = "SELIQ_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Who is acting, for the audit log; default: the OS user.
    #[arg(long, global = true, env = "SELIQ_ACTOR")]
    pub actor: Option<String>,
    /// Log format on stderr (level from RUST_LOG).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// PEM file of CA certificates to trust besides the system's, for vendor endpoints behind
    /// a private CA (used by the commands that reach a vendor).
    #[arg(long, global = true, env = "SELIQ_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// The most connections the process opens to one vendor host, shared by every integration
    /// that reaches it (used by the commands that reach a vendor).
    #[arg(
        long,
        global = true,
        env = "SELIQ_MAX_CONNECTIONS_PER_HOST",
        value_name = "N",
        default_value_t = seliq_connectors::http::DEFAULT_MAX_CONNECTIONS_PER_HOST as u16,
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub max_connections_per_host: u16,
    /// On PostgreSQL: idle connections the process keeps for reuse (the API opens a store per
    /// request).
    #[arg(
        long,
        global = true,
        env = "SELIQ_DATABASE_POOL_SIZE",
        value_name = "N",
        default_value_t = crate::store::DEFAULT_POOL_SIZE as u16,
        value_parser = clap::value_parser!(u16).range(0..=256)
    )]
    pub database_pool_size: u16,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data directory, database and master key.
    #[command(after_help = "Example:\n  SELIQ_DATA_DIR=/var/lib/seliq seliq-gateway init")]
    Init,
    /// Create, list, show and delete workspaces (one per client).
    #[command(
        subcommand,
        after_help = "Example:\n  seliq-gateway workspace create acme-corp --description \"Critical 15m/4h\""
    )]
    Workspace(WorkspaceCmd),
    /// Connect, list, test and remove integrations of a workspace.
    #[command(
        subcommand,
        after_help = "Example:\n  seliq-gateway integration list acme-corp"
    )]
    Integration(Box<IntegrationCmd>),
    /// Rotate or roll back an integration's credential.
    #[command(
        subcommand,
        after_help = "Example:\n  seliq-gateway credentials rotate acme-corp falcon --secret-file /run/secrets/falcon"
    )]
    Credentials(CredentialsCmd),
    /// Pull new alerts of a workspace as NDJSON.
    #[command(
        after_help = "Example:\n  seliq-gateway pull acme-corp --since 24h --output alerts.ndjson"
    )]
    Pull(PullArgs),
    /// Poll every integration of every workspace on its schedule, with health, metrics and status.
    #[command(
        after_help = "Example:\n  seliq-gateway serve --listen 127.0.0.1:9477 --config /etc/seliq/serve.toml"
    )]
    Serve(ServeArgs),
    /// Show each integration's last poll, next poll, lag and state, from the store.
    #[command(after_help = "Example:\n  seliq-gateway status acme-corp --json")]
    Status(StatusArgs),
    /// Export, verify and prune a workspace's audit log.
    #[command(
        subcommand,
        after_help = "Example:\n  seliq-gateway audit export acme-corp --format csv"
    )]
    Audit(AuditCmd),
    /// Create, list and revoke API tokens (for the `/v1` API of `serve`).
    #[command(
        subcommand,
        after_help = "Example:\n  seliq-gateway token create --workspace acme-corp --scope read --name soc-dashboard"
    )]
    Token(TokenCmd),
    /// SLA targets: the gateway-wide template and each workspace's overrides.
    #[command(
        subcommand,
        after_help = "Example:\n  seliq-gateway sla set acme-corp --severity critical --tta 10m"
    )]
    Sla(super::sla::SlaCmd),
    /// A workspace's business calendar (time zone, weekly hours, holidays).
    #[command(
        subcommand,
        after_help = "Example:\n  seliq-gateway calendar set acme-corp --tz Europe/Berlin"
    )]
    Calendar(super::sla::CalendarCmd),
    /// A workspace's analyst assignment model and escalation owner.
    #[command(
        subcommand,
        after_help = "Example:\n  seliq-gateway assignment show acme-corp"
    )]
    Assignment(super::sla::AssignmentCmd),
    /// Copy a SQLite data dir's database into an empty PostgreSQL database (several replicas).
    #[command(
        after_help = "Example:\n  SELIQ_DATABASE_URL=postgres://seliq@db.internal/seliq seliq-gateway migrate --from sqlite:/var/lib/seliq/seliq.db\n\nThe target is --database-url (or SELIQ_DATABASE_URL); keep a password out of argv by setting the variable, or PGPASSWORD."
    )]
    Migrate(MigrateArgs),
    /// Master-key operations.
    #[command(
        subcommand,
        after_help = "Example:\n  seliq-gateway vault rotate-master-key --new-key-file /secure/new-master.key"
    )]
    Vault(VaultCmd),
    /// Run the whole product against embedded mock vendors in a temporary data dir.
    #[cfg(feature = "dev-tools")]
    #[command(after_help = "Example:\n  seliq-gateway demo")]
    Demo(DemoArgs),
    /// Benchmarks: vault, mapping, end to end and scale; one JSON line per part.
    #[cfg(feature = "dev-tools")]
    #[command(after_help = "Example:\n  seliq-gateway bench --part e2e --runs 3")]
    Bench(crate::bench::BenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCmd {
    /// Create a workspace. Its slug can never change.
    #[command(
        after_help = "Example:\n  seliq-gateway workspace create acme-corp --description \"Critical 15m/4h\" --plan enterprise"
    )]
    Create {
        slug: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, default_value = "pro", value_parser = ["starter", "pro", "enterprise"])]
        plan: String,
    },
    /// List workspaces.
    #[command(after_help = "Example:\n  seliq-gateway workspace list --json")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one workspace.
    #[command(after_help = "Example:\n  seliq-gateway workspace show acme-corp --json")]
    Show {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a workspace and destroy its keys and credentials (its audit log stays).
    #[command(
        after_help = "Example:\n  seliq-gateway workspace delete acme-corp --confirm acme-corp"
    )]
    Delete {
        slug: String,
        #[arg(long)]
        confirm: String,
    },
}

/// Where a secret comes from. Exactly one is required.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct SecretArgs {
    /// Read the secret from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub secret_env: Option<String>,
    /// Read the secret from this file (trailing newline dropped).
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
    /// Read the secret from standard input.
    #[arg(long)]
    pub secret_stdin: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum KindArg {
    Crowdstrike,
    Sentinel,
    Splunk,
}

/// Vendor settings; which ones apply depends on `--kind`.
#[derive(Debug, Clone, Args, Default)]
pub struct KindArgs {
    /// OAuth client id (CrowdStrike, Sentinel).
    #[arg(long)]
    pub client_id: Option<String>,
    /// CrowdStrike CID or CCID.
    #[arg(long)]
    pub cid: Option<String>,
    /// The CID is the API client's own (no `member_cid`); default: an MSSP child CID.
    #[arg(long)]
    pub own_cid: bool,
    /// Cloud: us-1|us-2|us-3|eu-1|us-gov-1|us-gov-2 (CrowdStrike) or public|usgov|china (Sentinel).
    #[arg(long)]
    pub cloud: Option<String>,
    /// CrowdStrike API base URL override.
    #[arg(long)]
    pub base_url: Option<String>,
    #[arg(long)]
    pub tenant_id: Option<String>,
    #[arg(long)]
    pub subscription_id: Option<String>,
    #[arg(long)]
    pub resource_group: Option<String>,
    #[arg(long)]
    pub workspace_name: Option<String>,
    #[arg(long)]
    pub authority_url: Option<String>,
    #[arg(long)]
    pub management_url: Option<String>,
    /// Sentinel: also fetch each new incident's alerts.
    #[arg(long)]
    pub with_alerts: bool,
    /// Splunk management URL (port 8089 by default).
    #[arg(long)]
    pub url: Option<String>,
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long)]
    pub owner: Option<String>,
    /// Splunk indexes, comma-separated; `*` wildcards allowed.
    #[arg(long, value_delimiter = ',')]
    pub index: Vec<String>,
    /// Splunk scope restriction FIELD=GLOB, e.g. orig_index=acme*.
    #[arg(long)]
    pub scope_filter: Option<String>,
    /// Splunk user name (password auth); without it the secret is a token.
    #[arg(long)]
    pub username: Option<String>,
    /// Splunk search to run instead of the default (the scope restriction is still appended).
    #[arg(long)]
    pub base_search: Option<String>,
    /// Splunk `earliest_time` of each search (default -7d), so late-indexed events are found.
    /// Takes a leading hyphen as a value: `--earliest -7d` works as the README shows.
    #[arg(long, allow_hyphen_values = true)]
    pub earliest: Option<String>,
    /// Sentinel ARM api-version (default: the connector's documented stable version).
    #[arg(long)]
    pub api_version: Option<String>,
    /// Look-back for late events, e.g. 2m (vendor default otherwise).
    #[arg(long)]
    pub look_back: Option<String>,
    /// Requests per minute for this integration (vendor default otherwise).
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// First-run window for this integration's pulls, e.g. 24h (default 24h).
    #[arg(long)]
    pub first_window: Option<String>,
    /// Allow plain http vendor URLs (local mocks only).
    #[arg(long)]
    pub allow_insecure_http: bool,
}

#[derive(Debug, Subcommand)]
pub enum IntegrationCmd {
    /// Connect a source to a workspace; refused if another workspace holds it.
    #[command(
        after_help = "Example:\n  FALCON_SECRET=... seliq-gateway integration add acme-corp falcon --kind crowdstrike \\\n    --client-id 0123abcd --cid 0123456789abcdef0123456789abcdef-3f --secret-env FALCON_SECRET"
    )]
    Add {
        workspace: String,
        name: String,
        #[arg(long, value_enum)]
        kind: KindArg,
        #[command(flatten)]
        settings: Box<KindArgs>,
        #[command(flatten)]
        secret: SecretArgs,
        /// Store without calling the vendor to check the credential.
        #[arg(long)]
        no_verify: bool,
        /// How often `serve` polls it (10s..24h; default 60s).
        #[arg(long, value_name = "SPAN")]
        poll_interval: Option<String>,
    },
    /// Change how `serve` polls an integration.
    #[command(
        after_help = "Example:\n  seliq-gateway integration update acme-corp falcon --poll-interval 5m"
    )]
    Update {
        workspace: String,
        name: String,
        /// How often `serve` polls it (10s..24h).
        #[arg(long, value_name = "SPAN", required = true)]
        poll_interval: String,
    },
    /// Poll an integration again after `serve` suspended it for a rejected credential.
    #[command(after_help = "Example:\n  seliq-gateway integration resume acme-corp falcon")]
    Resume { workspace: String, name: String },
    /// List a workspace's integrations.
    #[command(after_help = "Example:\n  seliq-gateway integration list acme-corp --json")]
    List {
        workspace: String,
        #[arg(long)]
        json: bool,
    },
    /// Check an integration's stored credential against its vendor.
    #[command(after_help = "Example:\n  seliq-gateway integration test acme-corp falcon")]
    Test { workspace: String, name: String },
    /// Remove an integration: its credential is destroyed and its source released.
    #[command(after_help = "Example:\n  seliq-gateway integration remove acme-corp falcon")]
    Remove { workspace: String, name: String },
    /// Print the vendor records a pull could not map (one JSON line each: id, at, reason, raw).
    #[command(
        name = "dead-letters",
        after_help = "Example:\n  seliq-gateway integration dead-letters acme-corp falcon"
    )]
    DeadLetters { workspace: String, name: String },
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCmd {
    /// Store a new credential version, verify it, then make it current.
    #[command(
        after_help = "Example:\n  seliq-gateway credentials rotate acme-corp falcon --secret-file /run/secrets/falcon"
    )]
    Rotate {
        workspace: String,
        name: String,
        #[command(flatten)]
        secret: SecretArgs,
        /// New client id (or Splunk user name) that goes with the new secret.
        #[arg(long)]
        client_id: Option<String>,
        #[arg(long)]
        no_verify: bool,
    },
    /// Make the previous credential version current again.
    #[command(after_help = "Example:\n  seliq-gateway credentials rollback acme-corp falcon")]
    Rollback { workspace: String, name: String },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTP address for /livez, /readyz, /metrics and /v1/status [default: 127.0.0.1:9477].
    #[arg(long, env = "SELIQ_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// TOML file with any of the keys below (flags and SELIQ_* variables win over it).
    #[arg(long, env = "SELIQ_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Leave workspace slugs out of metric labels (`/metrics` needs no token).
    #[arg(long, env = "SELIQ_HIDE_WORKSPACE_LABELS")]
    pub hide_workspace_labels: bool,
    /// Write every workspace's alerts to stdout (at-least-once) instead of the spool files.
    #[arg(long, env = "SELIQ_STDOUT")]
    pub stdout: bool,
    /// Start a new spool file past this size [default: 268435456].
    #[arg(long, env = "SELIQ_SPOOL_MAX_BYTES", value_name = "BYTES")]
    pub spool_max_bytes: Option<u64>,
    /// How long a SIGTERM waits for batches in flight to commit [default: 30s].
    #[arg(long, env = "SELIQ_SHUTDOWN_GRACE", value_name = "SPAN")]
    pub shutdown_grace: Option<String>,
    /// Polls running at once, across all workspaces [default: one per 16 integrations, 64 to
    /// 4096].
    #[arg(long, env = "SELIQ_MAX_CONCURRENT_POLLS", value_name = "N")]
    pub max_concurrent_polls: Option<usize>,
    /// On PostgreSQL: how long a replica's lease on an integration lasts unrenewed [default: 30s].
    #[arg(long, env = "SELIQ_LEASE_TTL", value_name = "SPAN")]
    pub lease_ttl: Option<String>,
    /// On PostgreSQL: this replica's name in the lease table [default: HOST-PID].
    #[arg(long, env = "SELIQ_REPLICA_ID", value_name = "ID")]
    pub replica_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The SQLite database to copy [default: the data dir's seliq.db].
    #[arg(long, value_name = "sqlite:PATH")]
    pub from: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this workspace.
    pub workspace: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    pub workspace: String,
    /// Pull only this integration.
    #[arg(long)]
    pub integration: Option<String>,
    /// First-run window start: RFC 3339 or a span back from now (90m, 24h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Stop cleanly after this many alerts.
    #[arg(long)]
    pub max: Option<u64>,
    /// Append NDJSON to this file (exactly once across crashes) instead of stdout.
    #[arg(long, conflicts_with = "output_dir")]
    pub output: Option<PathBuf>,
    /// Write into the rotating per-workspace NDJSON spool under this directory (as `serve` does).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// TOML file with `[[sink]]` tables (the one `serve --config` reads).
    #[arg(long, env = "SELIQ_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Deliver to this sink of the config file (repeatable) [default: every sink in it].
    #[arg(long = "sink", value_name = "NAME", requires = "config")]
    pub sinks: Vec<String>,
    /// Integrations pulled at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
    Jsonl,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Export a workspace's audit log.
    #[command(after_help = "Example:\n  seliq-gateway audit export acme-corp --format csv")]
    Export {
        workspace: String,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Default: <slug>-audit-<YYYYMMDD>.<ext> in the current directory.
        #[arg(long)]
        output: Option<PathBuf>,
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
    },
    /// Verify a workspace's chain (or an exported .jsonl file).
    #[command(
        after_help = "Example:\n  seliq-gateway audit verify acme-corp --file acme-corp-audit-20261128.jsonl"
    )]
    Verify {
        workspace: String,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Delete sealed segments older than each workspace's plan retention.
    #[command(after_help = "Example:\n  seliq-gateway audit prune acme-corp")]
    Prune { workspace: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum VaultCmd {
    /// Rewrap every workspace data key under a new master key, in one transaction.
    #[command(
        after_help = "Example:\n  seliq-gateway vault rotate-master-key --new-key-file /secure/new-master.key"
    )]
    RotateMasterKey {
        #[arg(
            long,
            value_name = "VAR",
            conflicts_with = "new_key_file",
            required_unless_present = "new_key_file"
        )]
        new_key_env: Option<String>,
        #[arg(long, value_name = "PATH")]
        new_key_file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's data here instead of a temporary directory.
    #[arg(long = "demo-dir")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create an API token and print it once (it cannot be shown again).
    #[command(
        after_help = "Examples:\n  seliq-gateway token create --workspace acme-corp --scope operate --name acme-runbook --expires-in 90d\n  seliq-gateway token create --all-workspaces --scope admin --name provisioning"
    )]
    Create {
        /// Confine the token to this workspace.
        #[arg(
            long,
            conflicts_with = "all_workspaces",
            required_unless_present = "all_workspaces"
        )]
        workspace: Option<String>,
        /// Let the token reach every workspace (only such an admin token creates or deletes
        /// workspaces).
        #[arg(long)]
        all_workspaces: bool,
        /// read (list, show, status, audit), operate (also test, resume) or admin (also
        /// changes).
        #[arg(long, value_parser = ["read", "operate", "admin"])]
        scope: String,
        /// A label for people and audit entries (letters, digits, spaces and - _ . @ :).
        #[arg(long, default_value = "unnamed")]
        name: String,
        /// Expire after this span (e.g. 90d); default: never.
        #[arg(long, value_name = "SPAN")]
        expires_in: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets).
    #[command(after_help = "Example:\n  seliq-gateway token list --workspace acme-corp")]
    List {
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id; it is refused from then on.
    #[command(after_help = "Example:\n  seliq-gateway token revoke 0123456789ab")]
    Revoke { id: String },
}
