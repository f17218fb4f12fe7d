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

/// Below this many semaphores the map is never swept.
const MIN_SWEEP_AT: usize = 64;

#[derive(Default)]
pub struct Shared {
    limiters: Mutex<HashMap<String, Arc<Limiter>>>,
    slots: Mutex<Slots>,
}

/// The semaphores by key, each kept while anyone holds it.
#[derive(Default)]
struct Slots {
    map: HashMap<String, Weak<Semaphore>>,
    /// Dead entries are swept when the map reaches this size, then it doubles from what is
    /// left: sweeping on every call cost a scan of every Splunk credential's key per request.
    sweep_at: usize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys may be derived from credentials (hashed); counts only.
        f.debug_struct("Shared")
            .field("limiters", &lock(&self.limiters).len())
            .field("slots", &lock(&self.slots).map.len())
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
        let mut slots = lock(&self.slots);
        if let Some(s) = slots.map.get(key).and_then(Weak::upgrade) {
            return s;
        }
        if slots.map.len() >= slots.sweep_at {
            slots.map.retain(|_, w| w.strong_count() > 0);
            slots.sweep_at = (slots.map.len() * 2).max(MIN_SWEEP_AT);
        }
        let s = Arc::new(Semaphore::new(permits.max(1)));
        slots.map.insert(key.to_owned(), Arc::downgrade(&s));
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

    #[test]
    fn semaphores_nobody_holds_are_swept_and_held_ones_kept() {
        let a = Shared::default();
        let held: Vec<_> = (0..10)
            .map(|i| a.semaphore(&format!("held {i}"), 1))
            .collect();
        for i in 0..10_000 {
            drop(a.semaphore(&format!("gone {i}"), 1));
        }
        let len = lock(&a.slots).map.len();
        assert!(len <= 2 * MIN_SWEEP_AT, "dead entries pile up: {len}");
        for (i, s) in held.iter().enumerate() {
            assert!(Arc::ptr_eq(s, &a.semaphore(&format!("held {i}"), 1)));
        }
    }
}
