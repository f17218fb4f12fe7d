//! The one HTTP layer every connector uses: timeouts, a retry policy with exponential backoff and
//! full jitter, `Retry-After` and vendor rate-limit headers, a `governor` limiter per integration,
//! and an OAuth2 client-credentials token cache per integration.
//!
//! Vendor code describes requests; it never loops on retries itself.

mod auth;
mod client;
mod limiter;
mod retry;
mod shared;
mod token;

pub use auth::{AuthScheme, authorize};
pub use client::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS_PER_HOST, DEFAULT_READ_TIMEOUT, Http,
    HttpOptions, HttpStats, Response, VendorPolicy, install_crypto_provider,
};
pub use limiter::RateLimit;

pub use retry::{
    MIN_EPOCH_RETRY_AFTER, RetryPolicy, epoch_retry_after, parse_retry_after, standard_retry_after,
};
pub use token::{REFRESH_BEFORE, Token, TokenCache, TokenMinter};
