//! The TLS path: the CrowdStrike connector over HTTPS (a rustls front with a CA made for this
//! run, in front of the Falcon mock). An untrusted certificate is refused at once, naming the
//! host; `HttpOptions::with_ca_file` (the CLI's `--ca-file`) lets a private CA in.

#[path = "../../tests/support/tls_front.rs"]
mod tls_front;

use std::time::Instant;

use secrecy::SecretString;
use seliq_connectors::crowdstrike::{CrowdStrike, Params, Settings};
use seliq_connectors::http::{HttpOptions, install_crypto_provider};
use seliq_connectors::{Connector, ConnectorError};
use seliq_mocks::crowdstrike::{
    CID_A, FalconMock, FalconMockConfig, PARENT_CLIENT_ID, PARENT_SECRET,
};
use tls_front::TlsFront;

fn connector(url: String, http: &HttpOptions) -> CrowdStrike {
    let params = Params {
        client_id: PARENT_CLIENT_ID.to_owned(),
        cid: CID_A.to_owned(),
        base_url: Some(url),
        ..Params::default()
    };
    CrowdStrike::new(
        Settings::validate(params).unwrap(),
        SecretString::from(PARENT_SECRET.to_owned()),
        http,
    )
    .unwrap()
}

fn write_pem(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_crypto_provider_is_installed_once_whoever_asks_first() {
    // Many clients, from many threads, in any order: no panic, and one process default.
    let threads: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(|| HttpOptions::default_timeouts().map(|_| ())))
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    install_crypto_provider();
    assert!(rustls::crypto::CryptoProvider::get_default().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused_at_once_naming_the_host() {
    let mock = FalconMock::start(FalconMockConfig::default()).await;
    let front = TlsFront::start(mock.address()).await;
    let c = connector(front.url(), &HttpOptions::default_timeouts().unwrap());
    let started = Instant::now();
    let err = c.check().await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, ConnectorError::Transport { .. }),
        "a transport error (exit 1): {err:?}"
    );
    let host = format!("localhost:{}", front.port);
    assert!(text.contains(&host), "names the host: {text}");
    assert!(
        text.contains("not trusted") && text.contains("--ca-file"),
        "says what is wrong and what to do: {text}"
    );
    // Not retried: a certificate does not change between attempts.
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    assert_eq!(c.http_stats().retries, 0);
    assert_eq!(mock.stats().token_requests, 0, "nothing reached the vendor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_given_as_a_ca_file_is_trusted() {
    let mock = FalconMock::start(FalconMockConfig {
        alerts_per_cid: 30,
        ..Default::default()
    })
    .await;
    let front = TlsFront::start(mock.address()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write_pem(&dir, "ca.pem", &front.ca_pem);
    let http = HttpOptions::default_timeouts()
        .unwrap()
        .with_ca_file(&ca)
        .unwrap();
    let c = connector(front.url(), &http);
    c.check().await.unwrap();
    let batch = c
        .fetch(
            None,
            seliq_connectors::Budget {
                max_alerts: 100,
                since: chrono::Utc::now() - chrono::Duration::days(30),
            },
        )
        .await
        .unwrap();
    assert_eq!(batch.alerts.len(), mock.versions(CID_A).len());
}

#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_is_a_settings_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let empty = write_pem(&dir, "empty.pem", "not a certificate\n");
    for path in [missing, empty] {
        let err = HttpOptions::default_timeouts()
            .unwrap()
            .with_ca_file(&path)
            .unwrap_err();
        assert!(matches!(err, ConnectorError::Settings(_)), "{err:?}");
        assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
    }
}
