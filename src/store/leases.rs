//! Leases for several `serve` replicas on PostgreSQL (issue 18): which replica polls each
//! integration, at which epoch, until when. Every time is the database's (`now()`), never a
//! replica's clock, so replicas with skewed clocks still agree on who holds what.
//!
//! These operations are PostgreSQL's only; on SQLite one `serve` per data dir is enforced by a
//! file lock instead and nothing here is called.

use std::time::Duration;

use super::sql::{OptionalExt, args};
use super::{ReadTx, Result, StoreError, WriteTx, corrupt};
use crate::ids::IntegrationId;

/// A lease this replica holds: the integration and the epoch it was granted at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseGrant {
    pub integration_id: IntegrationId,
    pub epoch: u64,
}

/// Who holds an integration now, for status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub integration_id: IntegrationId,
    pub owner: String,
    pub epoch: u64,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn grants(rows: Vec<(String, i64)>) -> Result<Vec<LeaseGrant>> {
    rows.into_iter()
        .map(|(id, epoch)| {
            Ok(LeaseGrant {
                integration_id: IntegrationId::parse(&id)
                    .map_err(|e| StoreError::from(corrupt("lease integration id", e)))?,
                epoch: u64::try_from(epoch).unwrap_or(0),
            })
        })
        .collect()
}

impl ReadTx<'_> {
    /// Sessions the gateway's processes hold on this database now (by their application name).
    pub fn gateway_sessions(&self) -> Result<u64> {
        let n: i64 = self.tx.query_row(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'seliq-gateway'",
            &[],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every unexpired lease, with its holder.
    pub fn lease_holders(&self) -> Result<Vec<LeaseHolder>> {
        let rows = self.tx.query_map(
            "SELECT integration_id, owner, epoch FROM leases WHERE expires_at > now() ORDER BY integration_id",
            &[],
            |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<i64>(2)?)),
        )?;
        rows.into_iter()
            .map(|(id, owner, epoch)| {
                Ok(LeaseHolder {
                    integration_id: IntegrationId::parse(&id)
                        .map_err(|e| StoreError::from(corrupt("lease integration id", e)))?,
                    owner,
                    epoch: u64::try_from(epoch).unwrap_or(0),
                })
            })
            .collect()
    }
}

impl WriteTx<'_> {
    /// Whether `owner` still holds the lease of `integration_id` at `epoch`, unexpired by the
    /// database clock. Locks the lease row until the transaction ends (`FOR SHARE`), so no
    /// claim can take it over between this check and the commit it fences.
    pub fn lease_held(
        &self,
        integration_id: IntegrationId,
        owner: &str,
        epoch: u64,
    ) -> Result<bool> {
        let held = self
            .tx
            .query_row(
                "SELECT epoch FROM leases WHERE integration_id = ?1 AND owner = ?2 AND epoch = ?3 AND expires_at > now() FOR SHARE",
                args![integration_id.to_string(), owner, i64::try_from(epoch).unwrap_or(i64::MAX)],
                |r| r.get::<i64>(0),
            )
            .optional()?;
        Ok(held.is_some())
    }

    /// Say this replica is alive for `ttl`; the number of live replicas (this one included).
    pub fn heartbeat_replica(&self, id: &str, ttl: Duration) -> Result<u64> {
        self.tx.execute(
            "INSERT INTO replicas (id, expires_at) VALUES (?1, now() + CAST(?2 AS BIGINT) * interval '1 millisecond')
             ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at",
            args![id, millis(ttl)],
        )?;
        self.tx.execute(
            "DELETE FROM replicas WHERE expires_at < now() - interval '1 hour'",
            &[],
        )?;
        let live: i64 = self.tx.query_row(
            "SELECT count(*) FROM replicas WHERE expires_at > now()",
            &[],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(live).unwrap_or(1).max(1))
    }

    /// How many integrations there are to share.
    pub fn integration_count(&self) -> Result<u64> {
        let n: i64 = self
            .tx
            .query_row("SELECT count(*) FROM integrations", &[], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Extend every lease `owner` still holds by `ttl` from now; the ones it still holds. A
    /// lease that expired meanwhile is not revived: another replica may have taken it.
    pub fn renew_leases(&self, owner: &str, ttl: Duration) -> Result<Vec<LeaseGrant>> {
        let rows = self.tx.query_map(
            "UPDATE leases SET expires_at = now() + CAST(?2 AS BIGINT) * interval '1 millisecond'
             WHERE owner = ?1 AND expires_at > now()
             RETURNING integration_id, epoch",
            args![owner, millis(ttl)],
            |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
        )?;
        grants(rows)
    }

    /// Take up to `max` integrations nobody holds (never leased, released, or expired), in no
    /// particular order, each at a new epoch. Rows another replica is claiming or committing
    /// against at this moment are skipped (`FOR UPDATE SKIP LOCKED`), never waited for.
    pub fn claim_leases(&self, owner: &str, ttl: Duration, max: u64) -> Result<Vec<LeaseGrant>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        // Every integration gets its row once, expired from the start.
        self.tx.execute(
            "INSERT INTO leases (integration_id, owner, epoch, expires_at)
             SELECT id, '', 0, '-infinity' FROM integrations
             ON CONFLICT (integration_id) DO NOTHING",
            &[],
        )?;
        let rows = self.tx.query_map(
            "UPDATE leases SET owner = ?1, epoch = leases.epoch + 1,
                 expires_at = now() + CAST(?2 AS BIGINT) * interval '1 millisecond'
             WHERE integration_id IN (
                 SELECT integration_id FROM leases WHERE expires_at <= now()
                 ORDER BY random() LIMIT ?3 FOR UPDATE SKIP LOCKED)
             AND expires_at <= now()
             RETURNING integration_id, epoch",
            args![owner, millis(ttl), i64::try_from(max).unwrap_or(i64::MAX)],
            |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
        )?;
        grants(rows)
    }

    /// Give one lease back now (an even share for a newcomer). Its epoch stays, so the next
    /// grant is higher.
    pub fn release_lease(&self, owner: &str, integration_id: IntegrationId) -> Result<()> {
        self.tx.execute(
            "UPDATE leases SET expires_at = now() WHERE integration_id = ?1 AND owner = ?2 AND expires_at > now()",
            args![integration_id.to_string(), owner],
        )?;
        Ok(())
    }

    /// A replica leaving: every lease it holds is free at once, and it no longer counts.
    pub fn release_all_leases(&self, owner: &str) -> Result<()> {
        self.tx.execute(
            "UPDATE leases SET expires_at = now() WHERE owner = ?1 AND expires_at > now()",
            args![owner],
        )?;
        self.tx
            .execute("DELETE FROM replicas WHERE id = ?1", args![owner])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{IntegrationRow, Store, TestDir, test_store_on_postgres, test_workspace};

    const TTL: Duration = Duration::from_secs(30);

    fn integrations(store: &mut Store, n: usize) -> Vec<IntegrationId> {
        let ws = test_workspace(store);
        (0..n)
            .map(|i| {
                let id = IntegrationId::new();
                let settings = seliq_connectors::Settings::Crowdstrike(
                    seliq_connectors::crowdstrike::Settings::validate(
                        seliq_connectors::crowdstrike::Params {
                            client_id: "0123456789abcdef0123456789abcdef".to_owned(),
                            cid: format!("{i:032x}"),
                            ..Default::default()
                        },
                    )
                    .expect("settings"),
                );
                store
                    .write(|tx| {
                        tx.insert_integration(&IntegrationRow {
                            id,
                            workspace_id: ws,
                            name: crate::slug::IntegrationName::parse(&format!("integ-{i}"))
                                .unwrap(),
                            kind: settings.kind(),
                            settings: settings.clone(),
                            source: format!("crowdstrike:{i}"),
                            first_window_secs: 60,
                            poll_interval_secs: 60,
                            created_at: chrono::Utc::now(),
                        })
                    })
                    .expect("insert integration");
                id
            })
            .collect()
    }

    fn setup(n: usize) -> (TestDir, Store, Store, Vec<IntegrationId>) {
        let (dir, mut a) = test_store_on_postgres();
        let ids = integrations(&mut a, n);
        let b = a.reopen().expect("second connection");
        (dir, a, b, ids)
    }

    #[test]
    fn two_replicas_never_hold_one_integration_and_epochs_only_rise() {
        let (_dir, mut a, mut b, _ids) = setup(10);
        let got_a = a.lease(|tx| tx.claim_leases("a", TTL, 6)).unwrap();
        let got_b = b.lease(|tx| tx.claim_leases("b", TTL, 100)).unwrap();
        assert_eq!((got_a.len(), got_b.len()), (6, 4));
        let mut all: Vec<_> = got_a
            .iter()
            .chain(&got_b)
            .map(|g| g.integration_id)
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 10, "each integration granted once");
        assert!(got_a.iter().chain(&got_b).all(|g| g.epoch == 1));
        // Nothing left to claim while the leases run.
        assert!(
            b.lease(|tx| tx.claim_leases("b", TTL, 100))
                .unwrap()
                .is_empty()
        );

        // A release frees the lease at once; the next grant is a higher epoch, and the old
        // holder's fence no longer holds.
        let g = got_a[0];
        assert!(
            a.write(|tx| tx.lease_held(g.integration_id, "a", 1))
                .unwrap()
        );
        a.lease(|tx| tx.release_lease("a", g.integration_id))
            .unwrap();
        assert!(
            !a.write(|tx| tx.lease_held(g.integration_id, "a", 1))
                .unwrap()
        );
        let again = b.lease(|tx| tx.claim_leases("b", TTL, 100)).unwrap();
        assert_eq!(
            again,
            vec![LeaseGrant {
                integration_id: g.integration_id,
                epoch: 2
            }]
        );
        assert!(
            !a.write(|tx| tx.lease_held(g.integration_id, "a", 1))
                .unwrap()
        );
        assert!(
            b.write(|tx| tx.lease_held(g.integration_id, "b", 2))
                .unwrap()
        );
        // `a` renews only what it still holds: the released one is not revived.
        let renewed = a.lease(|tx| tx.renew_leases("a", TTL)).unwrap();
        assert_eq!(renewed.len(), 5);
        assert!(!renewed.iter().any(|r| r.integration_id == g.integration_id));

        // The database refuses an epoch that goes back, whatever a caller tries.
        let refused = a.write(|tx| {
            tx.tx
                .execute("UPDATE leases SET epoch = 0", &[])
                .map_err(StoreError::from)
        });
        assert!(
            format!("{refused:?}").contains("never goes back"),
            "{refused:?}"
        );

        // A replica leaving frees everything it held, and stops counting as live.
        assert_eq!(b.lease(|tx| tx.heartbeat_replica("b", TTL)).unwrap(), 1);
        assert_eq!(a.lease(|tx| tx.heartbeat_replica("a", TTL)).unwrap(), 2);
        b.lease(|tx| tx.release_all_leases("b")).unwrap();
        let holders = a.read(|tx| tx.lease_holders()).unwrap();
        assert!(holders.iter().all(|h| h.owner == "a"), "{holders:?}");
        assert_eq!(holders.len(), 5);
        assert_eq!(a.lease(|tx| tx.heartbeat_replica("a", TTL)).unwrap(), 1);
    }

    #[test]
    fn an_expired_lease_is_taken_over_and_the_stale_holder_is_fenced() {
        let (_dir, mut a, mut b, ids) = setup(1);
        let short = Duration::from_millis(200);
        let g = a.lease(|tx| tx.claim_leases("a", short, 1)).unwrap();
        assert_eq!(g.len(), 1);
        assert!(
            b.lease(|tx| tx.claim_leases("b", TTL, 1))
                .unwrap()
                .is_empty()
        );
        // Expiry is the database's clock: wait it out on the server, not here.
        b.write(|tx| {
            tx.tx
                .query_row("SELECT CAST(count(pg_sleep(0.3)) AS BIGINT)", &[], |r| {
                    r.get::<i64>(0)
                })
                .map_err(StoreError::from)
        })
        .unwrap();
        assert!(
            !a.write(|tx| tx.lease_held(ids[0], "a", 1)).unwrap(),
            "expired"
        );
        // An expired lease is not renewed.
        assert!(a.lease(|tx| tx.renew_leases("a", TTL)).unwrap().is_empty());
        let taken = b.lease(|tx| tx.claim_leases("b", TTL, 1)).unwrap();
        assert_eq!(
            taken,
            vec![LeaseGrant {
                integration_id: ids[0],
                epoch: 2
            }]
        );
        assert!(!a.write(|tx| tx.lease_held(ids[0], "a", 1)).unwrap());
    }
}
