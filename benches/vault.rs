//! Seal and open of a 256-byte credential through a workspace's vault handle.
//! Target (issue 3): open ≤ 2 µs median. Run with `cargo bench --bench vault`.
//!
//! `seal` includes what the API does on every seal: AES-256-GCM under the DEK with a fresh nonce,
//! plus counting the seal against the DEK in the store (inside one open transaction, so no fsync
//! per iteration). `open` is the pure decrypt path a pull takes.

use divan::Bencher;
use secrecy::{ExposeSecret, SecretString};
use seliq_gateway::ids::{CredentialVersion, IntegrationId, WorkspaceId};

use seliq_gateway::error::Error;
use seliq_gateway::slug::Slug;
use seliq_gateway::store::{Plan, Store, WorkspaceRow};
use seliq_gateway::vault::{CredentialContext, MasterKey, Vault};

const SOURCE: &str = "crowdstrike:0123456789abcdef0123456789abcdef";

fn main() {
    divan::main();
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    vault: Vault,
    workspace: WorkspaceId,
    secret: SecretString,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::create(&dir.path().join("seliq.db")).expect("store");
    let vault = Vault::new(MasterKey::generate().expect("master key"));
    let workspace = WorkspaceId::new();
    let row = WorkspaceRow {
        id: workspace,
        slug: Slug::parse("bench-corp").expect("slug"),
        description: String::new(),
        plan: Plan::Pro,
        created_at: chrono::Utc::now(),
        deleted_at: None,
    };
    store
        .write(|tx| {
            tx.insert_workspace(&row)?;
            vault.init_workspace(tx, workspace)?;
            Ok::<_, Error>(())
        })
        .expect("workspace");
    // 256 bytes, the size of a typical OAuth client secret or API token with some margin.
    let secret = SecretString::from("k".repeat(256));
    Fixture {
        _dir: dir,
        store,
        vault,
        workspace,
        secret,
    }
}

fn context(integration_id: IntegrationId) -> CredentialContext<'static> {
    CredentialContext {
        integration_id,
        source: SOURCE,
        version: CredentialVersion::FIRST,
    }
}

#[divan::bench]
fn seal_256_bytes(bencher: Bencher) {
    let mut f = fixture();
    let ctx = context(IntegrationId::new());
    let (vault, ws, secret) = (f.vault.clone(), f.workspace, f.secret.clone());
    f.store
        .write(|tx| {
            let live = tx.live_workspace(ws)?.expect("the fixture's workspace");
            let mut wv = vault.workspace(tx, &live)?;
            bencher.bench_local(|| wv.seal(tx, &ctx, &secret).expect("seal"));
            Ok::<_, Error>(())
        })
        .expect("bench transaction");
}

#[divan::bench]
fn open_256_bytes(bencher: Bencher) {
    let mut f = fixture();
    let ctx = context(IntegrationId::new());
    let (vault, ws, secret) = (f.vault.clone(), f.workspace, f.secret.clone());
    let (wv, blob) = f
        .store
        .write(|tx| {
            let live = tx.live_workspace(ws)?.expect("the fixture's workspace");
            let mut wv = vault.workspace(tx, &live)?;
            let blob = wv.seal(tx, &ctx, &secret)?;
            Ok::<_, Error>((wv, blob))
        })
        .expect("seal");
    assert_eq!(
        wv.open(&ctx, &blob).expect("open").expose_secret(),
        secret.expose_secret()
    );
    bencher.bench_local(|| wv.open(&ctx, &blob).expect("open"));
}
