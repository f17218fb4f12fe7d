//! Quotas that several integrations of one process draw on together: a vendor host's token
//! endpoint (Falcon limits it per source IP), one vendor account reached through one API client,
//! one Splunk credential's concurrent searches. They live in [`Shared`], which every clone of
//! one [`super::HttpOptions`] holds: a process builds one `HttpOptions` and hands clones to its
//! integrations, so they share; two `HttpOptions` are two separate processes as far as quotas
//! go (tests rely on that to stay independent of each other).
//!
//! [`Shared`] also keeps [`Memos`]: what a vendor server told one poll that the next polls under
//! the same key may reuse for a while (Splunk's version and clock, per endpoint and credential),
//! so an idle poll does not ask again every minute.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::limiter::{Limiter, RateLimit, lock};

/// Below this many semaphores the map is never swept.
const MIN_SWEEP_AT: usize = 64;

/// Memos older than this are swept, whatever age their readers accept.
const MEMO_MAX_AGE: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub struct Shared {
    limiters: Mutex<HashMap<String, Arc<Limiter>>>,
    slots: Mutex<Slots>,
    memos: Mutex<Memos>,
}

/// Values by key, each with the moment it was stored.
#[derive(Default)]
struct Memos {
    map: HashMap<String, (Instant, Arc<dyn Any + Send + Sync>)>,
    /// Like [`Slots::sweep_at`]: stale entries are swept when the map reaches this size.
    sweep_at: usize,
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
            .field("memos", &lock(&self.memos).map.len())
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

    /// The value stored under `key` and how long ago, if it is a `T` stored at most `max_age`
    /// ago.
    pub(crate) fn memo<T: Clone + Send + Sync + 'static>(
        &self,
        key: &str,
        max_age: Duration,
    ) -> Option<(T, Duration)> {
        let memos = lock(&self.memos);
        let (at, value) = memos.map.get(key)?;
        let age = at.elapsed();
        if age > max_age {
            return None;
        }
        value.downcast_ref::<T>().map(|v| (v.clone(), age))
    }

    /// Store `value` under `key`, now.
    pub(crate) fn remember<T: Send + Sync + 'static>(&self, key: &str, value: T) {
        let mut memos = lock(&self.memos);
        if memos.map.len() >= memos.sweep_at {
            memos.map.retain(|_, (at, _)| at.elapsed() <= MEMO_MAX_AGE);
            memos.sweep_at = (memos.map.len() * 2).max(MIN_SWEEP_AT);
        }
        memos
            .map
            .insert(key.to_owned(), (Instant::now(), Arc::new(value)));
    }

    /// Drop what is stored under `key`.
    pub(crate) fn forget(&self, key: &str) {
        lock(&self.memos).map.remove(key);
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
    fn memos_are_typed_aged_forgotten_and_swept() {
        let a = Shared::default();
        a.remember("k", 7_i64);
        let (v, age) = a.memo::<i64>("k", Duration::from_secs(60)).unwrap();
        assert_eq!(v, 7);
        assert!(age < Duration::from_secs(60));
        assert!(
            a.memo::<String>("k", Duration::from_secs(60)).is_none(),
            "another type"
        );
        assert!(
            Shared::default()
                .memo::<i64>("k", Duration::from_secs(60))
                .is_none(),
            "another process"
        );
        a.forget("k");
        assert!(a.memo::<i64>("k", Duration::from_secs(60)).is_none());
        // Entries past the sweep age go when the map grows.
        lock(&a.memos).map.insert(
            "old".into(),
            (Instant::now() - MEMO_MAX_AGE * 2, Arc::new(1_i64)),
        );
        for i in 0..1000 {
            a.remember(&format!("k{i}"), i);
        }
        assert!(!lock(&a.memos).map.contains_key("old"));
        assert_eq!(lock(&a.memos).map.len(), 1000, "fresh ones are kept");
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
