//! `--ca-file` end to end: the real binary against the Falcon mock behind a TLS front whose CA
//! was made for this run. Without the flag the certificate is refused (exit 1, the host named);
//! with it the integration is added and pulled.

mod common;
#[path = "support/tls_front.rs"]
mod tls_front;

use common::{Env, code, path_str, stderr};
use seliq_mocks::crowdstrike::{
    CID_A, FalconMock, FalconMockConfig, PARENT_CLIENT_ID, PARENT_SECRET,
};
use tls_front::TlsFront;

async fn gw(env: &Env, args: &[&str]) -> std::process::Output {
    let mut c = env.cmd();
    c.env("S", PARENT_SECRET).args(args);
    tokio::process::Command::from(c)
        .output()
        .await
        .expect("run gateway")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_needs_ca_file_and_works_with_it() {
    let mock = FalconMock::start(FalconMockConfig {
        alerts_per_cid: 40,
        ..Default::default()
    })
    .await;
    let front = TlsFront::start(mock.address()).await;
    let env = Env::new();
    env.ok(&["workspace", "create", "acme-corp"]);
    let url = front.url();
    let add = [
        "integration",
        "add",
        "acme-corp",
        "falcon",
        "--kind",
        "crowdstrike",
        "--client-id",
        PARENT_CLIENT_ID,
        "--cid",
        CID_A,
        "--base-url",
        &url,
        "--secret-env",
        "S",
    ];

    let refused = gw(&env, &add).await;
    assert_eq!(code(&refused), 1, "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(
        err.contains(&format!("localhost:{}", front.port)) && err.contains("--ca-file"),
        "{err}"
    );

    let ca = env.dir.path().join("private-ca.pem");
    std::fs::write(&ca, &front.ca_pem).unwrap();
    let mut with_ca = vec!["--ca-file", path_str(&ca)];
    with_ca.extend_from_slice(&add);
    let added = gw(&env, &with_ca).await;
    assert_eq!(code(&added), 0, "{}", stderr(&added));

    let out = env.dir.path().join("alerts.ndjson");
    let pulled = gw(
        &env,
        &[
            "pull",
            "acme-corp",
            "--ca-file",
            path_str(&ca),
            "--output",
            path_str(&out),
        ],
    )
    .await;
    assert_eq!(code(&pulled), 0, "{}", stderr(&pulled));
    let lines = std::fs::read_to_string(&out).unwrap().lines().count();
    assert_eq!(lines, mock.versions(CID_A).len());

    // A CA file that is not one is invalid input, named.
    let bogus = env.dir.path().join("bogus.pem");
    std::fs::write(&bogus, "hello").unwrap();
    let bad = gw(&env, &["pull", "acme-corp", "--ca-file", path_str(&bogus)]).await;
    assert_eq!(code(&bad), 2, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("bogus.pem"), "{}", stderr(&bad));
}
