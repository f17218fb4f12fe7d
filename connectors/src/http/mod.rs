//! The one HTTP layer every connector uses: timeouts, a retry policy with exponential backoff and
//! full jitter, `Retry-After` and vendor rate-limit headers, a `governor` limiter per integration,
//! and an OAuth2 client-credentials token cache per integration.
//!
//! Vendor code describes requests; it never loops on retries itself.

mod client;
mod limiter;
mod retry;
mod token;

pub use client::{Http, HttpOptions, HttpStats, Response, VendorPolicy};
pub use limiter::RateLimit;
pub use retry::RetryPolicy;
pub use token::{Token, TokenCache, TokenMinter};
