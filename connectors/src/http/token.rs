//! OAuth2 client-credentials token cache, one per integration.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::Http;
use super::limiter::lock;
use crate::ConnectorError;

/// Every vendor's tokens are replaced this long before they expire (FalconPy's default renew
/// window; Splunk session keys are renewed as early).
pub const REFRESH_BEFORE: Duration = Duration::from_secs(120);

/// A freshly minted bearer credential and how long the vendor says it lives.
pub struct Token {
    pub access_token: SecretString,
    pub expires_in: Duration,
}

impl Token {
    pub fn new(access_token: SecretString, expires_in: Duration) -> Self {
        Token {
            access_token,
            expires_in,
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"[REDACTED]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Mints a new token (vendor-specific request). Called by the cache, never directly.
#[async_trait]
pub trait TokenMinter: Send + Sync {
    async fn mint(&self, http: &Http) -> Result<Token, ConnectorError>;
}

struct Cached {
    token: SecretString,
    expires_at: Instant,
    /// How long before `expires_at` the token stops being handed out.
    margin: Duration,
}

impl Cached {
    fn usable_at(&self, now: Instant) -> bool {
        now + self.margin < self.expires_at
    }
}

/// Caches one token per integration and mints a new one shortly before it expires.
///
/// Concurrent callers that find no usable token mint once: the first takes the mint lock, the
/// others wait for it and then find the fresh token.
pub struct TokenCache {
    minter: Box<dyn TokenMinter>,
    refresh_before: Duration,
    current: Mutex<Option<Cached>>,
    minting: tokio::sync::Mutex<()>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = lock(&self.current).is_some();
        f.debug_struct("TokenCache")
            .field("refresh_before", &self.refresh_before)
            .field("cached", &cached)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// `refresh_before`: a token is replaced once it has less than this left to live (CrowdStrike
    /// 120 s, like FalconPy). Capped at half the token's lifetime so short-lived tokens are still
    /// reused.
    pub fn new(minter: Box<dyn TokenMinter>, refresh_before: Duration) -> Self {
        TokenCache {
            minter,
            refresh_before,
            current: Mutex::new(None),
            minting: tokio::sync::Mutex::new(()),
        }
    }

    /// The cached token while it has more than `refresh_before` to live; otherwise a new one.
    pub async fn get(&self, http: &Http) -> Result<SecretString, ConnectorError> {
        if let Some(token) = self.usable() {
            return Ok(token);
        }
        let _single_flight = self.minting.lock().await;
        if let Some(token) = self.usable() {
            return Ok(token);
        }
        // Lifetime counts from before the request: the vendor's clock started no later.
        let requested_at = Instant::now();
        let minted = self.minter.mint(http).await?;
        let expires_at = requested_at + minted.expires_in;
        let margin = self.refresh_before.min(minted.expires_in / 2);
        tracing::debug!(
            vendor = http.vendor().as_str(),
            expires_in_s = minted.expires_in.as_secs(),
            "minted a new access token"
        );
        let token = minted.access_token;
        *lock(&self.current) = Some(Cached {
            token: token.clone(),
            expires_at,
            margin,
        });
        Ok(token)
    }

    /// Drops the cached token if it is still `stale` (a 401 said so); a token another caller
    /// already replaced is kept.
    pub fn invalidate(&self, stale: &SecretString) {
        let mut current = lock(&self.current);
        if current
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == stale.expose_secret())
        {
            *current = None;
        }
    }

    fn usable(&self) -> Option<SecretString> {
        let now = Instant::now();
        lock(&self.current)
            .as_ref()
            .filter(|c| c.usable_at(now))
            .map(|c| c.token.clone())
    }
}
