//! The one place a credential becomes an `Authorization` header: every vendor calls
//! [`authorize`], so every credential header is marked sensitive and no `Debug` output of a
//! request or its headers shows the secret.

use base64::Engine as _;
use reqwest::RequestBuilder;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

/// How a request carries the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme<'a> {
    /// `Authorization: Bearer <secret>` (OAuth2 access tokens, Splunk authentication tokens).
    Bearer,
    /// `Authorization: Splunk <secret>` (a Splunk session key).
    Splunk,
    /// `Authorization: Basic base64(<user>:<secret>)`.
    Basic { user: &'a str },
}

impl AuthScheme<'_> {
    fn value(self, secret: &SecretString) -> Zeroizing<String> {
        Zeroizing::new(match self {
            AuthScheme::Bearer => format!("Bearer {}", secret.expose_secret()),
            AuthScheme::Splunk => format!("Splunk {}", secret.expose_secret()),
            AuthScheme::Basic { user } => {
                let pair = Zeroizing::new(format!("{user}:{}", secret.expose_secret()));
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
                )
            }
        })
    }
}

/// `builder` with the `Authorization` header for `secret` under `scheme`, marked sensitive.
///
/// A secret with characters no header can carry gets no header at all: the vendor answers 401
/// and the caller reports a rejected credential (the value never reaches an error message).
pub fn authorize(
    builder: RequestBuilder,
    scheme: AuthScheme<'_>,
    secret: &SecretString,
) -> RequestBuilder {
    match HeaderValue::from_str(&scheme.value(secret)) {
        Ok(mut v) => {
            v.set_sensitive(true);
            builder.header(AUTHORIZATION, v)
        }
        Err(_) => builder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Tok3n-value";

    fn client() -> reqwest::Client {
        crate::http::install_crypto_provider();
        reqwest::Client::new()
    }

    fn request(scheme: AuthScheme<'_>) -> reqwest::Request {
        authorize(
            client().get("https://vendor.example/api"),
            scheme,
            &SecretString::from(SECRET),
        )
        .build()
        .unwrap()
    }

    #[test]
    fn every_scheme_is_sensitive_and_hidden_from_debug() {
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{SECRET}"))
        );
        let cases = [
            (AuthScheme::Bearer, format!("Bearer {SECRET}")),
            (AuthScheme::Splunk, format!("Splunk {SECRET}")),
            (AuthScheme::Basic { user: "admin" }, basic.clone()),
        ];
        for (scheme, expected) in cases {
            let req = request(scheme);
            let v = req.headers().get(AUTHORIZATION).expect("header set");
            assert!(v.is_sensitive(), "{scheme:?}");
            assert_eq!(v.to_str().unwrap(), expected);
            for shown in [format!("{req:?}"), format!("{:?}", req.headers())] {
                assert!(!shown.contains(SECRET), "{scheme:?}: {shown}");
                assert!(!shown.contains(&basic[6..]), "{scheme:?}: {shown}");
                assert!(shown.contains("Sensitive"), "{scheme:?}: {shown}");
            }
        }
    }

    #[test]
    fn a_secret_no_header_can_carry_gets_no_header() {
        let req = authorize(
            client().get("https://vendor.example/api"),
            AuthScheme::Bearer,
            &SecretString::from("bad\nvalue"),
        )
        .build()
        .unwrap();
        assert!(req.headers().get(AUTHORIZATION).is_none());
    }
}
