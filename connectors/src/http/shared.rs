//! Quotas that several integrations of one process draw on together: a vendor host's token
//! endpoint (Falcon limits it per source IP), one vendor account reached through one API client,
//! one Splunk credential's concurrent searches. They live in [`Shared`], which every clone of
//! one [`super::HttpOptions`] holds: a process builds one `HttpOptions` and hands clones to its
//! integrations, so they share; two `HttpOptions` are two separate processes as far as quotas
//! go (tests rely on that to stay independent of each other).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Semaphore;

use super::limiter::{Limiter, RateLimit, lock};

#[derive(Default)]
pub struct Shared {
    limiters: Mutex<HashMap<String, Arc<Limiter>>>,
    slots: Mutex<HashMap<String, Weak<Semaphore>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys may be derived from credentials (hashed); counts only.
        f.debug_struct("Shared")
            .field("limiters", &lock(&self.limiters).len())
            .field("slots", &lock(&self.slots).len())
            .finish()
    }
}

impl Shared {
    /// The limiter named `key`; the first caller's `limit` wins for a key.
    pub(crate) fn limiter(&self, key: &str, limit: RateLimit) -> Arc<Limiter> {
        lock(&self.limiters)
            .entry(key.to_owned())
            .or_insert_with(|| Arc::new(Limiter::new(limit)))
            .clone()
    }

    /// The semaphore named `key` with `permits` (the first caller's count wins while anyone
    /// holds it; it is dropped with its last holder).
    pub(crate) fn semaphore(&self, key: &str, permits: usize) -> Arc<Semaphore> {
        let mut map = lock(&self.slots);
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(s) = map.get(key).and_then(Weak::upgrade) {
            return s;
        }
        let s = Arc::new(Semaphore::new(permits.max(1)));
        map.insert(key.to_owned(), Arc::downgrade(&s));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_options_shares_and_two_do_not() {
        let (a, b) = (Shared::default(), Shared::default());
        let limit = RateLimit::per_minute(300);
        assert!(Arc::ptr_eq(&a.limiter("k", limit), &a.limiter("k", limit)));
        assert!(!Arc::ptr_eq(&a.limiter("k", limit), &b.limiter("k", limit)));
        let s = a.semaphore("s", 2);
        assert!(Arc::ptr_eq(&s, &a.semaphore("s", 5)));
        assert_eq!(s.available_permits(), 2, "the first count wins");
        drop(s);
        assert_eq!(
            a.semaphore("s", 5).available_permits(),
            5,
            "dropped with its holders"
        );
    }
}
