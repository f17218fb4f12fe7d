//! Builds a boxed connector from a kind, validated settings and a secret.

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::http::HttpOptions;
use crate::redact::{Redacting, Redactor};
use crate::{Connector, ConnectorError, SettingsError, SourceId, crowdstrike, sentinel, splunk};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Crowdstrike,
    Sentinel,
    Splunk,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Crowdstrike => "crowdstrike",
            Kind::Sentinel => "sentinel",
            Kind::Splunk => "splunk",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Unvalidated settings as an operator typed them (CLI flags).
#[derive(Debug, Clone)]
pub enum Params {
    Crowdstrike(crowdstrike::Params),
    Sentinel(sentinel::Params),
    Splunk(splunk::Params),
}

/// Validated, non-secret settings of one integration. Stored as JSON; deserialising validates
/// again, so a hand-edited row cannot smuggle in an invalid value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Settings {
    Crowdstrike(crowdstrike::Settings),
    Sentinel(sentinel::Settings),
    Splunk(splunk::Settings),
}

impl Settings {
    pub fn validate(params: Params) -> Result<Settings, SettingsError> {
        Ok(match params {
            Params::Crowdstrike(p) => Settings::Crowdstrike(crowdstrike::Settings::validate(p)?),
            Params::Sentinel(p) => Settings::Sentinel(sentinel::Settings::validate(p)?),
            Params::Splunk(p) => Settings::Splunk(splunk::Settings::validate(p)?),
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Settings::Crowdstrike(_) => Kind::Crowdstrike,
            Settings::Sentinel(_) => Kind::Sentinel,
            Settings::Splunk(_) => Kind::Splunk,
        }
    }

    pub fn source_id(&self) -> SourceId {
        match self {
            Settings::Crowdstrike(s) => s.source_id(),
            Settings::Sentinel(s) => s.source_id(),
            Settings::Splunk(s) => s.source_id(),
        }
    }

    /// The non-secret half of the credential (client id, or Splunk user name): the user of an
    /// HTTP `Basic` pair the redactor must recognise.
    pub fn principal(&self) -> Option<String> {
        match self {
            Settings::Crowdstrike(s) => Some(s.client_id().to_owned()),
            Settings::Sentinel(s) => Some(s.client_id().to_owned()),
            Settings::Splunk(s) => match s.auth() {
                splunk::AuthMode::Session { username } => Some(username),
                splunk::AuthMode::Token => None,
            },
        }
    }

    /// Replace the non-secret half of the credential (client id, or Splunk user name) during a
    /// rotation. The source identity never changes.
    pub fn with_client_id(&self, client_id: &str) -> Result<Settings, SettingsError> {
        Ok(match self {
            Settings::Crowdstrike(s) => Settings::Crowdstrike(s.with_client_id(client_id)?),
            Settings::Sentinel(s) => Settings::Sentinel(s.with_client_id(client_id)?),
            Settings::Splunk(s) => Settings::Splunk(s.with_client_id(client_id)?),
        })
    }
}

/// Build a connector. Each call gets its own token cache and rate limiter: nothing that carries
/// a credential is shared between integrations.
///
/// Every connector comes back wrapped in [`Redacting`]: whatever vendor text its errors carry is
/// scrubbed of this secret (in all its encodings) and of credential patterns before the gateway
/// can print, log or audit it.
pub fn build(
    settings: &Settings,
    secret: SecretString,
    http: &HttpOptions,
) -> Result<Box<dyn Connector>, ConnectorError> {
    let redactor = Redactor::new(&secret, settings.principal().as_deref());
    let inner: Box<dyn Connector> = match settings {
        Settings::Crowdstrike(s) => Box::new(
            crowdstrike::CrowdStrike::new(s.clone(), secret, http)
                .map_err(|e| redactor.scrub_error(e))?,
        ),
        Settings::Sentinel(s) => Box::new(
            sentinel::Sentinel::new(s.clone(), secret, http)
                .map_err(|e| redactor.scrub_error(e))?,
        ),
        Settings::Splunk(s) => Box::new(
            splunk::Splunk::new(s.clone(), secret, http).map_err(|e| redactor.scrub_error(e))?,
        ),
    };
    Ok(Box::new(Redacting::new(inner, redactor)))
}
