//! Job leases: a row per job in the store says which instance runs it, until when, and which
//! schedule slot was last claimed. Several instances on one store thus run each slot of a
//! job exactly once, and never the same job at the same time. An instance that dies keeps
//! its lease only until `expires_at` (the holder renews it while its pass runs), and on its
//! own host not at all: a holder whose process is gone is taken over at once.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use tracing::info;

use crate::db::AnyConnection;
use crate::store::now;
use crate::store::passes::PassOutcome;
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

/// An instance as its lease names it: `host:pid:tag`. The tag is random, so a process id
/// reused after a reboot is not mistaken for the old holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub host: String,
    pub pid: u32,
    pub tag: u16,
}

impl Instance {
    /// This process.
    pub fn this() -> Instance {
        Instance {
            host: this_host(),
            pid: std::process::id(),
            tag: (super::random_u64() & 0xffff) as u16,
        }
    }

    /// Reads a holder as written by `Display`; `None` for any other text.
    pub fn parse(name: &str) -> Option<Instance> {
        // From the right: the host part is whatever precedes the last two fields.
        let mut parts = name.rsplitn(3, ':');
        let tag = u16::from_str_radix(parts.next()?, 16).ok()?;
        let pid = parts.next()?.parse().ok()?;
        let host = parts.next().filter(|h| !h.is_empty())?;
        Some(Instance {
            host: host.to_string(),
            pid,
            tag,
        })
    }

    /// Whether this is a process of this host that no longer runs. Another host's process
    /// cannot be checked from here: its lease lasts until it expires.
    pub fn is_gone(&self) -> bool {
        self.host == this_host() && !process_runs(self.pid)
    }
}

impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{:04x}", self.host, self.pid, self.tag)
    }
}

/// A name for this instance in leases and logs (see [`Instance`]).
pub fn instance_name() -> String {
    Instance::this().to_string()
}

/// The host name, and outside the initial PID namespace (a container) that namespace too:
/// process ids are only comparable within one namespace, and a container may share the
/// host's name (`--network host`).
fn this_host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    // The kernel's fixed inode of the initial PID namespace (PROC_PID_INIT_INO).
    const INITIAL: &str = "pid:[4026531836]";
    match std::fs::read_link("/proc/self/ns/pid") {
        Ok(ns) if ns.as_os_str() != INITIAL => {
            let ns = ns.to_string_lossy();
            let inode = ns.trim_start_matches("pid:[").trim_end_matches(']');
            format!("{name}/{inode}")
        }
        _ => name,
    }
}

/// Whether process `pid` runs on this host (a zombie has ended). Without /proc nothing
/// can be told, and it counts as running: its lease then waits for its timeout.
fn process_runs(pid: u32) -> bool {
    if !std::path::Path::new("/proc/self").exists() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S …`: the state follows the last `)`, as comm may hold one.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| !matches!(state, "Z" | "X")),
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
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
        // A holder on this host whose process ended is not waited for.
        let gone = get(conn, job)?
            .and_then(|row| row.holder)
            .filter(|h| h != holder && Instance::parse(h).is_some_and(|i| i.is_gone()));
        let takeable: Vec<&str> = std::iter::once(holder).chain(gone.as_deref()).collect();
        let free = job_leases::holder
            .is_null()
            .or(job_leases::expires_at.lt(at))
            .or(job_leases::holder.eq_any(takeable));
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
            if let Some(gone) = &gone {
                info!(job, holder = %gone, "took over the lease of a stopped instance on this host");
            }
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
            .filter(passes::status.eq(PassOutcome::Running.as_str())),
    )
    .set((
        passes::status.eq(PassOutcome::Interrupted.as_str()),
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
    use crate::store::test_store as store;

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
        assert_eq!(statuses, [PassOutcome::Interrupted.as_str()]);
    }

    /// A holder on this host whose process has ended (and was reaped).
    fn dead_here() -> String {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        Instance {
            pid: child.id(),
            ..Instance::this()
        }
        .to_string()
    }

    #[test]
    fn a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once() {
        let (_dir, mut c) = store();
        let hour = Duration::hours(1);
        let dead = dead_here();
        assert_eq!(
            claim(&mut c, "orgs", &dead, None, hour).unwrap(),
            Claim::Acquired { orphans: 0 }
        );
        crate::store::passes::begin(&mut c, "orgs", "organisation").unwrap();
        assert_eq!(
            claim(&mut c, "orgs", &instance_name(), None, hour).unwrap(),
            Claim::Acquired { orphans: 1 },
            "the dead holder's pass is marked interrupted"
        );
    }

    #[test]
    fn a_lease_of_another_host_or_of_a_running_process_waits_for_its_timeout() {
        let (_dir, mut c) = store();
        let hour = Duration::hours(1);
        let elsewhere = Instance {
            host: "elsewhere.example".into(),
            ..Instance::parse(&dead_here()).unwrap()
        }
        .to_string();
        let running_here = Instance {
            tag: 1,
            ..Instance::this()
        }
        .to_string();
        for (job, holder) in [("orgs", &elsewhere), ("contacts", &running_here)] {
            claim(&mut c, job, holder, None, hour).unwrap();
            assert_eq!(
                claim(&mut c, job, &instance_name(), None, hour).unwrap(),
                Claim::Held {
                    holder: holder.clone()
                }
            );
        }
    }

    #[test]
    fn instance_names_read_back_and_other_text_is_no_instance() {
        let this = Instance::this();
        assert_eq!(Instance::parse(&this.to_string()), Some(this));
        let contained = Instance::parse("web-1/4026532201:7:3dad").unwrap();
        assert_eq!(
            (contained.host.as_str(), contained.pid, contained.tag),
            ("web-1/4026532201", 7, 0x3dad)
        );
        for text in ["a", "", ":1:0001", "vm:x:0001", "vm:1:zz"] {
            assert_eq!(Instance::parse(text), None, "{text}");
        }
    }
}
