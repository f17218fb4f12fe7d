//! OAuth2 client-credentials token cache, one per integration.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;

use super::Http;
use crate::ConnectorError;

pub struct Token {
    pub access_token: SecretString,
    pub expires_in: Duration,
}

/// Mints a new token (vendor-specific request). Called by the cache, never directly.
#[async_trait]
pub trait TokenMinter: Send + Sync {
    async fn mint(&self, http: &Http) -> Result<Token, ConnectorError>;
}

pub struct TokenCache {}
