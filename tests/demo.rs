//! The first thing a new user runs must work, and must show the whole product.

mod common;

use common::{Env, code, stderr, stdout};

#[test]
fn demo_runs_the_whole_tour_and_keeps_its_data_when_asked() {
    let env = Env::new();
    let dir = env.dir.path().join("demo");
    let out = env.run(&["demo", "--demo-dir", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "refused (exit code 3)",
        "is already bound to workspace acme-corp",
        "now on credential version 2",
        "initech-2024-ent   notables",
        "0 new alerts",
        "8 alert versions emitted",
        "OK: audit chain of acme-corp",
    ] {
        assert!(
            text.contains(expected),
            "demo output lacks {expected:?}:\n{text}"
        );
    }
    // The kept data dir answers the audit commands afterwards, as the README says.
    let data = dir.join("data");
    let verify = env
        .cmd()
        .env("SELIQ_DATA_DIR", &data)
        .args(["audit", "verify", "acme-corp"])
        .output()
        .unwrap();
    assert_eq!(code(&verify), 0, "{}", stderr(&verify));
    let csv = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("acme-corp-audit-")
        });
    assert!(
        csv.is_some(),
        "the demo exports acme-corp's audit log as CSV"
    );
}

#[test]
fn demo_refuses_a_directory_that_already_holds_a_gateway() {
    let env = Env::new();
    let dir = env.dir.path().join("demo");
    assert_eq!(
        code(&env.run(&["demo", "--demo-dir", dir.to_str().unwrap()])),
        0
    );
    let again = env.run(&["demo", "--demo-dir", dir.to_str().unwrap()]);
    assert_eq!(code(&again), 2, "{}", stderr(&again));
}
