//! Issue 22: a kind flag given with another `--kind` is refused naming it (exit 2), never dropped.

mod common;

use common::{Env, code, stderr};

const CS: &[&str] = &[
    "--kind",
    "crowdstrike",
    "--client-id",
    "c",
    "--cid",
    "0123456789abcdef0123456789abcdef",
];
const SE: &[&str] = &[
    "--kind",
    "sentinel",
    "--tenant-id",
    "11111111-2222-3333-4444-555555555555",
    "--client-id",
    "11111111-2222-3333-4444-555555555555",
    "--subscription-id",
    "11111111-2222-3333-4444-555555555555",
    "--resource-group",
    "rg",
    "--workspace-name",
    "client-ws",
];
const SP: &[&str] = &[
    "--kind",
    "splunk",
    "--url",
    "https://splunk.example:8089",
    "--app",
    "search",
    "--index",
    "main",
];

#[test]
fn a_flag_of_another_kind_exits_2_naming_it() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    for (base, foreign) in [
        (CS, &["--with-alerts"][..]),
        (CS, &["--index", "main"]),
        (SE, &["--own-cid"]),
        (SE, &["--earliest", "-7d"]),
        (SP, &["--own-cid"]),
        (SP, &["--with-alerts"]),
        (SP, &["--cloud", "us-2"]),
    ] {
        let mut args = vec!["integration", "add", "acme-corp", "xyz"];
        args.extend_from_slice(base);
        args.extend_from_slice(foreign);
        args.extend_from_slice(&["--secret-env", "S", "--no-verify"]);
        let out = env.run_env(&args, &[("S", "secret-value")]);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(foreign[0]),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("does not apply"), "{}", stderr(&out));
    }
    // --look-back applies to every kind.
    for base in [CS, SE, SP] {
        let mut args = vec!["integration", "add", "acme-corp", "look"];
        args.extend_from_slice(base);
        args.extend_from_slice(&["--look-back", "10m", "--secret-env", "S", "--no-verify"]);
        let out = env.run_env(&args, &[("S", "secret-value")]);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        env.ok(&["integration", "remove", "acme-corp", "look"]);
    }
}

#[test]
fn multi_byte_time_arguments_exit_2_naming_the_flag() {
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let cases: Vec<Vec<&str>> = vec![
        vec!["pull", "acme-corp", "--since", "5µ"],
        vec!["pull", "acme-corp", "--since", "１d"],
        vec!["sla", "report", "acme-corp", "--since", "é"],
        vec![
            "audit",
            "export",
            "acme-corp",
            "--since",
            "3é",
            "--output",
            "-",
        ],
    ];
    for args in cases {
        let out = env.run(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--since"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    for (i, bad) in ["é", "5µ"].into_iter().enumerate() {
        let name = format!("lb{i}");
        let mut args = vec!["integration", "add", "acme-corp", name.as_str()];
        args.extend_from_slice(CS);
        args.extend_from_slice(&["--look-back", bad, "--secret-env", "S", "--no-verify"]);
        let out = env.run_env(&args, &[("S", "secret-value")]);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("--look-back"), "{}", stderr(&out));
    }
}

/// Issue 20: the shared connection cap is a positive number; anything else exits 2 naming it.
#[test]
fn a_bad_connection_cap_exits_2_naming_the_flag() {
    let env = Env::new();
    for bad in ["0", "-3", "many", "70000"] {
        let flag = format!("--max-connections-per-host={bad}");
        let out = env.run_env(&[flag.as_str(), "workspace", "list"], &[]);
        assert_eq!(code(&out), 2, "{bad}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--max-connections-per-host"),
            "{bad}: {}",
            stderr(&out)
        );
    }
    let out = env.run_env(
        &["workspace", "list"],
        &[("SELIQ_MAX_CONNECTIONS_PER_HOST", "0")],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    env.ok(&["--max-connections-per-host", "4", "workspace", "list"]);
}
