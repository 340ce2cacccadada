//! Job leases: a row per job in the store says which instance runs it, until when, and which
//! schedule slot was last claimed. Several instances on one store thus run each slot of a
//! job exactly once, and never the same job at the same time. An instance that dies keeps
//! its lease only until `expires_at`; the holder renews it while its pass runs.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::store::now;
use crate::store::passes::outcome;
use crate::store::schema::passes;

diesel::table! {
    job_leases (job) {
        job -> Text,
        holder -> Nullable<Text>,
        acquired_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        last_slot -> Nullable<Timestamp>,
    }
}

/// What came of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This instance runs the job now. `orphans` passes that an instance left `running`
    /// when it died were marked interrupted.
    Acquired { orphans: usize },
    /// Another instance runs the job and its lease has not expired.
    Held { holder: String },
    /// This slot, or a later one, was already claimed by an instance.
    SlotDone,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = job_leases)]
pub struct LeaseRow {
    pub job: String,
    pub holder: Option<String>,
    pub acquired_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
    pub last_slot: Option<NaiveDateTime>,
}

impl LeaseRow {
    /// The instance running the job, if its lease is still valid.
    pub fn active_holder(&self, at: NaiveDateTime) -> Option<&str> {
        match (&self.holder, self.expires_at) {
            (Some(holder), Some(expires)) if expires > at => Some(holder),
            _ => None,
        }
    }
}

/// A name for this instance in leases and logs: host, process id and a random tag, so a
/// reused process id after a reboot is not mistaken for the old holder.
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!(
        "{host}:{}:{:04x}",
        std::process::id(),
        super::random_u64() & 0xffff
    )
}

/// Claims `job` for `holder` for `ttl`. With a `slot`, only if no instance claimed that
/// slot or a later one; without (a manual run), whenever nobody else holds it.
pub fn claim(
    conn: &mut AnyConnection,
    job: &str,
    holder: &str,
    slot: Option<NaiveDateTime>,
    ttl: Duration,
) -> QueryResult<Claim> {
    conn.transaction(|conn| {
        crate::on_store_backend!(conn, c => diesel::insert_into(job_leases::table)
            .values(job_leases::job.eq(job))
            .on_conflict(job_leases::job)
            .do_nothing()
            .execute(c))?;
        let at = now();
        let free = job_leases::holder
            .is_null()
            .or(job_leases::expires_at.lt(at))
            .or(job_leases::holder.eq(holder));
        let mine = job_leases::table
            .filter(job_leases::job.eq(job))
            .filter(free);
        let set = (
            job_leases::holder.eq(holder),
            job_leases::acquired_at.eq(at),
            job_leases::expires_at.eq(at + ttl),
        );
        let updated = match slot {
            Some(slot) => diesel::update(
                mine.filter(
                    job_leases::last_slot
                        .is_null()
                        .or(job_leases::last_slot.lt(slot)),
                ),
            )
            .set((set, job_leases::last_slot.eq(slot)))
            .execute(conn)?,
            None => diesel::update(mine).set(set).execute(conn)?,
        };
        if updated == 1 {
            return Ok(Claim::Acquired {
                orphans: interrupt_orphans(conn, job)?,
            });
        }
        let row: LeaseRow = job_leases::table
            .find(job)
            .select(LeaseRow::as_select())
            .first(conn)?;
        Ok(match (slot, row.last_slot, row.active_holder(at)) {
            (Some(slot), Some(last), _) if last >= slot => Claim::SlotDone,
            (_, _, Some(other)) => Claim::Held {
                holder: other.to_string(),
            },
            // The lease was freed between the update and the read: the next slot retries.
            _ => Claim::SlotDone,
        })
    })
}

/// Passes of `job` still `running` while nobody held its lease were left by an instance
/// that stopped without finishing them.
fn interrupt_orphans(conn: &mut AnyConnection, job: &str) -> QueryResult<usize> {
    diesel::update(
        passes::table
            .filter(passes::job.eq(job))
            .filter(passes::status.eq(outcome::RUNNING)),
    )
    .set((
        passes::status.eq(outcome::INTERRUPTED),
        passes::finished_at.eq(Some(now())),
        passes::error.eq(Some(
            "the instance running this pass stopped before it ended; its committed batches are kept and a later pass does the rest",
        )),
    ))
    .execute(conn)
}

/// Extends `holder`'s lease; false when it is no longer theirs.
pub fn renew(
    conn: &mut AnyConnection,
    job: &str,
    holder: &str,
    ttl: Duration,
) -> QueryResult<bool> {
    let updated = diesel::update(
        job_leases::table
            .filter(job_leases::job.eq(job))
            .filter(job_leases::holder.eq(holder)),
    )
    .set(job_leases::expires_at.eq(now() + ttl))
    .execute(conn)?;
    Ok(updated == 1)
}

pub fn release(conn: &mut AnyConnection, job: &str, holder: &str) -> QueryResult<()> {
    diesel::update(
        job_leases::table
            .filter(job_leases::job.eq(job))
            .filter(job_leases::holder.eq(holder)),
    )
    .set((
        job_leases::holder.eq(None::<String>),
        job_leases::expires_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

/// Gives back every lease of `holder`, for an instance that exits with passes unfinished.
pub fn release_all(conn: &mut AnyConnection, holder: &str) -> QueryResult<usize> {
    diesel::update(job_leases::table.filter(job_leases::holder.eq(holder)))
        .set((
            job_leases::holder.eq(None::<String>),
            job_leases::expires_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
}

pub fn get(conn: &mut AnyConnection, job: &str) -> QueryResult<Option<LeaseRow>> {
    job_leases::table
        .find(job)
        .select(LeaseRow::as_select())
        .first(conn)
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DbUrl;
    use crate::db::{connect, Missing};

    fn store() -> (tempfile::TempDir, AnyConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = DbUrl::new(&format!("sqlite://{}/s.db", dir.path().display()));
        let (mut conn, _) = connect(&url, Missing::Create).unwrap();
        crate::store::run_migrations(&mut conn).unwrap();
        (dir, conn)
    }

    fn slot(s: &str) -> Option<NaiveDateTime> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn one_claim_per_slot_and_one_holder_at_a_time() {
        let (_dir, mut c) = store();
        let ttl = Duration::seconds(60);
        let s1 = slot("2026-12-01T02:30:00");
        assert_eq!(
            claim(&mut c, "orgs", "a", s1, ttl).unwrap(),
            Claim::Acquired { orphans: 0 }
        );
        // b comes for the same slot while a runs it, and after a released it.
        assert_eq!(
            claim(&mut c, "orgs", "b", s1, ttl).unwrap(),
            Claim::SlotDone
        );
        assert_eq!(
            claim(&mut c, "orgs", "b", None, ttl).unwrap(),
            Claim::Held { holder: "a".into() }
        );
        release(&mut c, "orgs", "a").unwrap();
        assert_eq!(
            claim(&mut c, "orgs", "b", s1, ttl).unwrap(),
            Claim::SlotDone
        );
        // The next slot goes to whoever comes first; other jobs are independent.
        let s2 = slot("2026-12-02T02:30:00");
        assert_eq!(
            claim(&mut c, "orgs", "b", s2, ttl).unwrap(),
            Claim::Acquired { orphans: 0 }
        );
        assert_eq!(
            claim(&mut c, "contacts", "a", s2, ttl).unwrap(),
            Claim::Acquired { orphans: 0 }
        );
        assert!(renew(&mut c, "orgs", "b", ttl).unwrap());
        assert!(!renew(&mut c, "orgs", "a", ttl).unwrap());
    }

    #[test]
    fn an_expired_lease_is_taken_over_and_the_dead_pass_marked_interrupted() {
        let (_dir, mut c) = store();
        assert_eq!(
            claim(
                &mut c,
                "orgs",
                "dead",
                slot("2026-12-01T02:30:00"),
                Duration::seconds(-1)
            )
            .unwrap(),
            Claim::Acquired { orphans: 0 }
        );
        crate::store::passes::begin(&mut c, "orgs", "organisation").unwrap();
        assert_eq!(
            claim(
                &mut c,
                "orgs",
                "b",
                slot("2026-12-02T02:30:00"),
                Duration::seconds(60)
            )
            .unwrap(),
            Claim::Acquired { orphans: 1 }
        );
        let statuses: Vec<String> = passes::table.select(passes::status).load(&mut c).unwrap();
        assert_eq!(statuses, [outcome::INTERRUPTED]);
    }
}
