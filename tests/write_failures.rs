//! Issue 21: every write failure is terminal for the batch and consistent for the file, and
//! writers are exclusive. Real processes, a real file-size limit, a real SQLite failure.

mod common;

use std::path::Path;

use common::vendors::*;
use common::{Env, code, stderr};
use seliq_mocks::crowdstrike::{CID_A, FalconMock, FalconMockConfig, PARENT_SECRET};

async fn falcon_env(alerts: usize) -> (FalconMock, Env) {
    let falcon = FalconMock::start(FalconMockConfig {
        alerts_per_cid: alerts,
        ..Default::default()
    })
    .await;
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let out = add_falcon(&env, &falcon, "acme-corp", CID_A, PARENT_SECRET).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    (falcon, env)
}

/// The committed length the store records for `file` equals the file's length.
fn assert_offset_is_length(env: &Env, file: &Path) {
    let key = std::fs::canonicalize(file).unwrap().display().to_string();
    let committed: i64 = env
        .db()
        .query_row(
            "SELECT committed_offset FROM sinks WHERE path = ?1",
            [&key],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(std::fs::metadata(file).unwrap().len() as i64, committed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_pulls_into_one_file_one_wins_the_other_exits_3() {
    let (falcon, env) = falcon_env(20_000).await;
    let file = env.dir.path().join("alerts.ndjson");
    let f = file.to_str().unwrap();
    let args = ["pull", "acme-corp", "--output", f];
    let (a, b) = tokio::join!(gw(&env, &args, &[]), gw(&env, &args, &[]));
    let mut codes = [code(&a), code(&b)];
    codes.sort();
    assert_eq!(codes, [0, 3], "{} / {}", stderr(&a), stderr(&b));
    let loser = if code(&a) == 3 { &a } else { &b };
    assert!(
        stderr(loser).contains("another process is writing output file"),
        "{}",
        stderr(loser)
    );
    let (_, ids) = read_lines(&file);
    assert_unique(&ids);
    assert_eq!(ids.len(), falcon.versions(CID_A).len());
    assert_offset_is_length(&env, &file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_by_the_file_size_limit_is_cut_back_and_the_next_pull_completes() {
    let (falcon, env) = falcon_env(6_000).await;
    let file = env.dir.path().join("alerts.ndjson");
    let f = file.to_str().unwrap();
    // A real EFBIG from the kernel past ~10 MB (two batches in): SIGXFSZ is ignored, so the
    // write returns the error instead of killing the process.
    let mut bash = std::process::Command::new("bash");
    bash.env("SELIQ_DATA_DIR", env.data_dir())
        .env_remove("SELIQ_MASTER_KEY")
        .env_remove("SELIQ_DATABASE_URL")
        .env("SELIQ_ACTOR", "test-operator")
        .env("GW", env!("CARGO_BIN_EXE_seliq-gateway"))
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 10000; exec \"$GW\" pull acme-corp --output \"$0\"",
            f,
        ]);
    let limited = bash.output().unwrap();
    assert_ne!(
        code(&limited),
        0,
        "the limit must bite: {}",
        stderr(&limited)
    );
    assert!(
        stderr(&limited).contains("cannot write output file"),
        "{}",
        stderr(&limited)
    );
    // Whatever was written is committed: the torn batch is gone.
    assert_offset_is_length(&env, &file);
    let (_, partial) = read_lines(&file);
    assert!(!partial.is_empty() && partial.len() < falcon.versions(CID_A).len());

    let full = gw(&env, &["pull", "acme-corp", "--output", f], &[]).await;
    assert_eq!(code(&full), 0, "{}", stderr(&full));
    let (_, ids) = read_lines(&file);
    assert_unique(&ids);
    assert_eq!(ids.len(), falcon.versions(CID_A).len());
    assert_offset_is_length(&env, &file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_checkpoint_commit_takes_the_batch_back_out_of_the_file() {
    let (falcon, env) = falcon_env(5_000).await;
    let file = env.dir.path().join("alerts.ndjson");
    let f = file.to_str().unwrap();
    // The database refuses every checkpoint update after the first insert (a trigger standing in
    // for a disk error): the first batch commits, the second is written and then refused.
    env.db()
        .execute_batch(
            "CREATE TRIGGER fail_checkpoint BEFORE UPDATE ON checkpoints
             BEGIN SELECT RAISE(ABORT, 'injected checkpoint failure'); END;",
        )
        .unwrap();
    let failed = gw(&env, &["pull", "acme-corp", "--output", f], &[]).await;
    assert_ne!(code(&failed), 0, "{}", stderr(&failed));
    assert_offset_is_length(&env, &file);
    let (_, first) = read_lines(&file);
    assert_eq!(first.len(), 2_000, "only the first batch committed");

    env.db()
        .execute_batch("DROP TRIGGER fail_checkpoint;")
        .unwrap();
    let ok = gw(&env, &["pull", "acme-corp", "--output", f], &[]).await;
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    let (_, ids) = read_lines(&file);
    assert_unique(&ids);
    assert_eq!(ids.len(), falcon.versions(CID_A).len());
    assert_offset_is_length(&env, &file);
}
