//! Several `serve` replicas on one PostgreSQL database: which integrations this replica polls.
//!
//! Every third of the lease TTL a round says the replica is alive, renews the leases it holds,
//! and evens out the share: each replica holds at most ceil(integrations / live replicas), gives
//! back idle ones above that, and claims free or expired ones below it. A lease is used only
//! while the replica knows it is valid by its own monotonic clock (the start of the round that
//! renewed it plus nine tenths of the TTL); the database clock decides expiry for everyone else.
//! When renewals fail for that long, the replica stops polling and committing: by then another
//! replica may hold the integration. Every commit also checks the lease in its own transaction
//! (the fence), so even a replica that stalled unaware commits nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::ids::IntegrationId;
use crate::pull::Fence;
use crate::store::Store;

pub(super) struct Leasing {
    replica: Arc<str>,
    ttl: Duration,
    /// The leases held, with their epochs, valid locally until `valid_until`.
    held: HashMap<IntegrationId, u64>,
    valid_until: Instant,
    last_round: Option<Instant>,
    /// Who holds what, as of the last round (for status).
    holders: HashMap<IntegrationId, String>,
}

impl Leasing {
    pub fn new(replica: &str, ttl: Duration) -> Leasing {
        Leasing {
            replica: Arc::from(replica),
            ttl,
            held: HashMap::new(),
            valid_until: Instant::now(),
            last_round: None,
            holders: HashMap::new(),
        }
    }

    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// The fence for a poll of `id`, if this replica may poll it now.
    pub fn fence(&self, id: IntegrationId) -> Option<Fence> {
        if Instant::now() >= self.valid_until {
            return None;
        }
        self.held.get(&id).map(|&epoch| Fence {
            owner: self.replica.clone(),
            epoch,
        })
    }

    /// Whether a batch polled under `fence` may still be committed, as far as this replica
    /// knows (the database checks again in the commit's transaction).
    pub fn still_holds(&self, id: IntegrationId, fence: &Fence) -> bool {
        self.fence(id).is_some_and(|f| f.epoch == fence.epoch)
    }

    /// Which replica holds `id`, as of the last round.
    pub fn holder(&self, id: IntegrationId) -> Option<&str> {
        if self.fence(id).is_some() {
            return Some(&self.replica);
        }
        self.holders.get(&id).map(String::as_str)
    }

    pub fn round_due(&self) -> bool {
        self.last_round.is_none_or(|t| t.elapsed() >= self.ttl / 3)
    }

    /// One round: heartbeat, renew, even out. Returns the integrations newly granted (to poll
    /// soon). `busy` says which held integrations have a poll running (never given back).
    pub fn round(
        &mut self,
        store: &mut Store,
        busy: impl Fn(IntegrationId) -> bool,
    ) -> Vec<IntegrationId> {
        let started = Instant::now();
        self.last_round = Some(started);
        let (replica, ttl) = (self.replica.clone(), self.ttl);
        let renewed = store.lease(|tx| {
            let live = tx.heartbeat_replica(&replica, ttl)?;
            let renewed = tx.renew_leases(&replica, ttl)?;
            let total = tx.integration_count()?;
            Ok::<_, Error>((live, renewed, total))
        });
        let (live, renewed, total) = match renewed {
            Ok(r) => r,
            Err(e) => {
                if Instant::now() >= self.valid_until && !self.held.is_empty() {
                    tracing::error!(error = %e, leases = self.held.len(), "lease renewal failed for longer than the lease lasts; polling nothing until it succeeds");
                    self.held.clear();
                } else {
                    tracing::warn!(error = %e, "lease renewal failed; retrying");
                }
                return Vec::new();
            }
        };
        let lost = self.held.len().saturating_sub(renewed.len());
        if lost > 0 {
            tracing::warn!(
                leases = lost,
                "leases expired before renewal; another replica may hold them now"
            );
        }
        self.held = renewed
            .into_iter()
            .map(|g| (g.integration_id, g.epoch))
            .collect();
        self.valid_until = started + self.ttl.mul_f64(0.9);
        let share = usize::try_from(total.div_ceil(live)).unwrap_or(usize::MAX);
        let mut granted = Vec::new();
        if self.held.len() > share {
            // A replica joined: give back idle leases above the share, so it gets one soon.
            let excess: Vec<IntegrationId> = self
                .held
                .keys()
                .copied()
                .filter(|id| !busy(*id))
                .take(self.held.len() - share)
                .collect();
            for id in excess {
                match store.lease(|tx| Ok::<_, Error>(tx.release_lease(&replica, id)?)) {
                    Ok(()) => {
                        self.held.remove(&id);
                    }
                    Err(e) => tracing::warn!(error = %e, "could not give a lease back"),
                }
            }
        } else if self.held.len() < share {
            let want = (share - self.held.len()) as u64;
            match store.lease(|tx| Ok::<_, Error>(tx.claim_leases(&replica, ttl, want)?)) {
                Ok(grants) => {
                    for g in grants {
                        self.held.insert(g.integration_id, g.epoch);
                        granted.push(g.integration_id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not claim leases"),
            }
        }
        match store.read(|tx| Ok::<_, Error>(tx.lease_holders()?)) {
            Ok(list) => {
                self.holders = list
                    .into_iter()
                    .map(|h| (h.integration_id, h.owner))
                    .collect();
            }
            Err(e) => tracing::debug!(error = %e, "lease holders not read"),
        }
        granted
    }

    /// Leaving: every lease is free for the others at once.
    pub fn release_all(&mut self, store: &mut Store) {
        let replica = self.replica.clone();
        match store.lease(|tx| Ok::<_, Error>(tx.release_all_leases(&replica)?)) {
            Ok(()) => tracing::info!(leases = self.held.len(), "leases released"),
            Err(e) => tracing::warn!(error = %e, "leases not released; they expire on their own"),
        }
        self.held.clear();
    }
}
