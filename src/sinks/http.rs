//! The HTTP client HEC and `_bulk` sinks share: ring rustls like the connectors, an optional
//! private CA, timeouts, no redirects (a followed redirect would carry the credential elsewhere).

use std::time::Duration;

use crate::error::Result;

use super::SinkError;
use super::config::invalid;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole `_bulk` or HEC request; past it the attempt is retried (the sink dedups).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn client(sink: &str, ca_pem: Option<&[u8]>) -> Result<reqwest::Client> {
    seliq_connectors::http::install_crypto_provider();
    let mut b = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("seliq-gateway/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| invalid(sink, "tls_ca_file", format!("is not PEM: {e}")))?;
        b = b.tls_certs_merge(certs);
    }
    b.build()
        .map_err(|e| invalid(sink, "url", format!("cannot build an HTTP client: {e}")))
}

/// A transport failure (no response at all) is always worth retrying; its text never carries
/// the credential (reqwest errors name the URL, which holds none).
pub(crate) fn transport(e: reqwest::Error) -> SinkError {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    SinkError::Transient(super::remote_text(msg.as_bytes()))
}

/// Classify a non-success HTTP status: 429, 5xx and 408 are transient; 401/403 name the
/// credential; any other 4xx is permanent.
pub(crate) fn status_error(status: reqwest::StatusCode, body: &[u8]) -> SinkError {
    let text = super::remote_text(body);
    let code = status.as_u16();
    if code == 429 || code == 408 || status.is_server_error() {
        SinkError::Transient(format!("HTTP {code}: {text}"))
    } else if code == 401 || code == 403 {
        SinkError::Permanent(format!(
            "HTTP {code}: the sink refused the credential ({text})"
        ))
    } else {
        SinkError::Permanent(format!("HTTP {code}: {text}"))
    }
}
