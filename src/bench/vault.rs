//! Seal and open of a 256-byte credential through a workspace's vault handle (target: open
//! ≤ 2 µs median).
//!
//! `seal` is what the API does on every seal: AES-256-GCM under the workspace's DEK with a fresh
//! nonce, plus counting the seal against the DEK in the store (inside one open transaction, so
//! without an fsync per seal). `open` is the pure decrypt path a pull takes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};

use super::BenchArgs;
use super::proc_stats::{median, nanos, round};
use crate::error::{Error, Result};
use crate::ids::{CredentialVersion, IntegrationId, WorkspaceId};
use crate::slug::Slug;
use crate::store::{Plan, Store, WorkspaceRow};
use crate::vault::{CredentialContext, MasterKey, Vault};

const SOURCE: &str = "crowdstrike:0123456789abcdef0123456789abcdef";
/// A typical OAuth client secret or API token, with margin.
const SECRET_LEN: usize = 256;
/// Each run measures for about this long; short enough for a debug-build test.
const RUN_TIME: Duration = Duration::from_millis(250);
const TARGET_OPEN_NS: f64 = 2_000.0;

pub fn run(args: &BenchArgs) -> Result<Value> {
    let dir = tempfile::tempdir()
        .map_err(|e| Error::Runtime(format!("cannot create a temporary dir: {e}")))?;
    let mut store = Store::create(&dir.path().join("seliq.db"))?;
    let vault = Vault::new(MasterKey::generate()?);
    let workspace = WorkspaceId::new();
    let row = WorkspaceRow {
        id: workspace,
        slug: Slug::parse("bench-corp")?,
        description: String::new(),
        plan: Plan::Pro,
        created_at: chrono::Utc::now(),
        deleted_at: None,
    };
    store.write(|tx| {
        tx.insert_workspace(&row)?;
        vault.init_workspace(tx, workspace)?;
        Ok::<_, Error>(())
    })?;
    let secret = SecretString::from("k".repeat(SECRET_LEN));
    let ctx = CredentialContext {
        integration_id: IntegrationId::new(),
        source: SOURCE,
        version: CredentialVersion::FIRST,
    };
    let (seal, open) = store.write(|tx| {
        let live = tx
            .live_workspace(workspace)?
            .ok_or_else(|| Error::Runtime("the bench workspace vanished".to_owned()))?;
        let mut wv = vault.workspace(tx, &live)?;
        let blob = wv.seal(tx, &ctx, &secret)?;
        // A benchmark of a broken round trip would be worthless.
        let opened = wv.open(&ctx, &blob)?;
        if secrecy::ExposeSecret::expose_secret(&opened)
            != secrecy::ExposeSecret::expose_secret(&secret)
        {
            return Err(Error::Runtime(
                "the vault does not round-trip a credential".to_owned(),
            ));
        }
        let mut seal = Vec::with_capacity(args.runs);
        let mut open = Vec::with_capacity(args.runs);
        for _ in 0..args.runs {
            seal.push(time_per_op(RUN_TIME, || {
                let b = wv.seal(tx, &ctx, &secret);
                black_box(b.is_ok())
            }));
            open.push(time_per_op(RUN_TIME, || {
                black_box(wv.open(&ctx, &blob).is_ok())
            }));
        }
        Ok::<_, Error>((seal, open))
    })?;
    let seal_ns = median(&seal).unwrap_or(f64::NAN);
    let open_ns = median(&open).unwrap_or(f64::NAN);
    Ok(json!({
        "part": "vault",
        "runs": args.runs,
        "secret_bytes": SECRET_LEN,
        "seal_ns_median": round(seal_ns, 0),
        "open_ns_median": round(open_ns, 0),
        "seal_ns_runs": seal.iter().map(|x| round(*x, 0)).collect::<Vec<_>>(),
        "open_ns_runs": open.iter().map(|x| round(*x, 0)).collect::<Vec<_>>(),
        "target_open_ns": TARGET_OPEN_NS,
        "target_met": open_ns <= TARGET_OPEN_NS,
        "method": "AES-256-GCM through WorkspaceVault; seal includes counting the seal in the store (one open transaction); ns per operation, median of runs of ~250 ms",
    }))
}

/// Nanoseconds per call of `op`, measured over about `run_time`. `op` returns whether it
/// succeeded; a failure fails the measurement (NaN).
fn time_per_op(run_time: Duration, mut op: impl FnMut() -> bool) -> f64 {
    let mut done: u64 = 0;
    let mut ok = true;
    let start = Instant::now();
    let mut chunk: u64 = 16;
    while start.elapsed() < run_time {
        for _ in 0..chunk {
            ok &= op();
        }
        done += chunk;
        chunk = (chunk * 2).min(4096);
    }
    if !ok || done == 0 {
        return f64::NAN;
    }
    nanos(start.elapsed()) / done as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_per_op_is_positive_and_fails_on_errors() {
        let mut n = 0u64;
        let t = time_per_op(Duration::from_millis(5), || {
            n += 1;
            black_box(n) > 0
        });
        assert!(t > 0.0 && t.is_finite(), "{t}");
        assert!(time_per_op(Duration::from_millis(1), || false).is_nan());
    }
}
