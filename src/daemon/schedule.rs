//! When a job runs: its cron expression read as wall-clock time in its time zone.
//!
//! Daylight-saving changes follow what admins know from cron: a slot in the hour that is
//! skipped in spring runs once, right when the clocks jump (02:30 becomes 03:00); a slot in
//! the hour that repeats in autumn runs once, the first time the wall clock shows it.

use chrono::{DateTime, Duration, NaiveDateTime, Offset, TimeZone, Utc};

use crate::config::JobConfig;

/// The time zone a schedule is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    System,
    Named(chrono_tz::Tz),
}

impl Zone {
    fn of(job: &JobConfig) -> Result<Zone, String> {
        Ok(match job.time_zone()? {
            Some(tz) => Zone::Named(tz),
            None => Zone::System,
        })
    }
}

#[derive(Debug, Clone)]
pub struct JobSchedule {
    cron: cron::Schedule,
    zone: Zone,
}

/// How far a time zone's offset may move in one change (Antarctica/Troll moves 2 h).
const MAX_SHIFT_HOURS: i64 = 3;

impl JobSchedule {
    pub fn new(cron: cron::Schedule, zone: Zone) -> JobSchedule {
        JobSchedule { cron, zone }
    }

    pub fn from_job(job: &JobConfig) -> Result<JobSchedule, String> {
        Ok(JobSchedule::new(job.cron()?, Zone::of(job)?))
    }

    /// When the job's report is written: `report_schedule` in the job's time zone; `None`
    /// for a job without one.
    pub fn of_reports(job: &JobConfig) -> Result<Option<JobSchedule>, String> {
        job.report_schedule
            .as_deref()
            .map(|expr| {
                Ok(JobSchedule::new(
                    crate::config::parse_cron(expr)?,
                    Zone::of(job)?,
                ))
            })
            .transpose()
    }

    pub fn zone_name(&self) -> String {
        match self.zone {
            Zone::System => "system".into(),
            Zone::Named(tz) => tz.name().into(),
        }
    }

    /// `at` as wall-clock time in the schedule's zone, for people.
    pub fn wall_clock(&self, at: DateTime<Utc>) -> String {
        match self.zone {
            Zone::System => at
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S %:z"),
            Zone::Named(tz) => at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z"),
        }
        .to_string()
    }

    /// The first slot strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.zone {
            Zone::System => next_in(&chrono::Local, &self.cron, after),
            Zone::Named(tz) => next_in(&tz, &self.cron, after),
        }
    }

    /// The latest slot in `(after, now]`: the one to run when slots were missed.
    pub fn latest_missed(&self, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Frequent schedules have many slots in a long downtime; look at the last two days
        // first, and walk the whole gap only for schedules too sparse to have a slot there.
        let recent = (now - Duration::days(2)).max(after);
        self.latest_in(recent, now).or_else(|| {
            (recent > after)
                .then(|| self.latest_in(after, recent))
                .flatten()
        })
    }

    fn latest_in(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut latest = None;
        let mut at = after;
        while let Some(slot) = self.next_after(at).filter(|s| *s <= until) {
            latest = Some(slot);
            at = slot;
        }
        latest
    }
}

fn offset_secs<Z: TimeZone>(tz: &Z, at: DateTime<Utc>) -> i64 {
    i64::from(
        tz.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

/// The instant a wall-clock time means in `tz`, under the rules above.
fn instant<Z: TimeZone>(tz: &Z, wall: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&wall) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        chrono::LocalResult::None => {
            // In the gap: find the moment the clocks jumped, between `wall` read with the
            // offset after the change (earlier) and with the offset before it (later).
            let as_utc = Utc.from_utc_datetime(&wall);
            let before = offset_secs(tz, as_utc - Duration::days(1));
            let after = offset_secs(tz, as_utc + Duration::days(1));
            let (mut lo, mut hi) = (
                as_utc - Duration::seconds(after),
                as_utc - Duration::seconds(before),
            );
            if lo >= hi {
                return hi;
            }
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if offset_secs(tz, mid) == before {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            hi
        }
    }
}

fn next_in<Z: TimeZone>(
    tz: &Z,
    cron: &cron::Schedule,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let wall = after.with_timezone(tz).naive_local();
    // Mapping wall time to instants never goes backwards, but near an offset change a wall
    // time earlier than `wall` can map past `after`; start early enough to see it.
    let shift = Duration::hours(MAX_SHIFT_HOURS);
    let steady = offset_secs(tz, after - shift) == offset_secs(tz, after + shift);
    let start = if steady { wall } else { wall - shift };
    cron.after(&Utc.from_utc_datetime(&start))
        .map(|slot| instant(tz, slot.naive_utc()))
        .find(|at| *at > after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_cron;
    use chrono_tz::Europe::Berlin;

    fn berlin(expr: &str) -> JobSchedule {
        JobSchedule::new(parse_cron(expr).unwrap(), Zone::Named(Berlin))
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// The next `n` slots after `from`, in UTC.
    fn slots(s: &JobSchedule, from: &str, n: usize) -> Vec<String> {
        let mut at = utc(from);
        (0..n)
            .map(|_| {
                at = s.next_after(at).unwrap();
                at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            })
            .collect()
    }

    #[test]
    fn nightly_job_follows_berlin_wall_clock_across_the_year() {
        let s = berlin("0 30 2 * * *");
        // Winter: CET is UTC+1.
        assert_eq!(
            slots(&s, "2026-12-01T12:00:00Z", 1),
            ["2026-12-02T01:30:00Z"]
        );
        // Summer: CEST is UTC+2.
        assert_eq!(
            slots(&s, "2026-07-01T12:00:00Z", 1),
            ["2026-07-02T00:30:00Z"]
        );
    }

    #[test]
    fn slot_in_the_skipped_spring_hour_runs_once_when_the_clocks_jump() {
        // 2027-03-28: at 02:00 CET the clocks jump to 03:00 CEST (01:00 UTC).
        let s = berlin("0 30 2 * * *");
        assert_eq!(
            slots(&s, "2027-03-27T00:00:00Z", 3),
            [
                "2027-03-27T01:30:00Z", // 02:30 CET the day before
                "2027-03-28T01:00:00Z", // 02:30 does not exist: 03:00 CEST
                "2027-03-29T00:30:00Z", // 02:30 CEST
            ]
        );
    }

    #[test]
    fn every_quarter_hour_through_the_spring_gap_runs_once_at_the_jump() {
        let s = berlin("0 */15 * * * *");
        assert_eq!(
            slots(&s, "2027-03-28T00:40:00Z", 4),
            [
                "2027-03-28T00:45:00Z", // 01:45 CET
                "2027-03-28T01:00:00Z", // 02:00–02:45 do not exist; 03:00 CEST once
                "2027-03-28T01:15:00Z", // 03:15 CEST
                "2027-03-28T01:30:00Z",
            ]
        );
    }

    #[test]
    fn slot_in_the_repeated_autumn_hour_runs_once() {
        // 2026-10-25: at 03:00 CEST the clocks go back to 02:00 CET; 02:30 happens twice.
        let s = berlin("0 30 2 * * *");
        assert_eq!(
            slots(&s, "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
        );
        // Asked during the second 02:xx hour, the day's slot is already behind.
        assert_eq!(
            slots(&s, "2026-10-25T01:10:00Z", 1),
            ["2026-10-26T01:30:00Z"]
        );
    }

    #[test]
    fn hourly_job_on_the_autumn_night_keeps_wall_clock_hours() {
        let s = berlin("0 0 * * * *");
        assert_eq!(
            slots(&s, "2026-10-24T23:30:00Z", 4),
            [
                "2026-10-25T00:00:00Z", // 02:00 CEST
                "2026-10-25T02:00:00Z", // 03:00 CET; 02:00 CET is the repeat, not run again
                "2026-10-25T03:00:00Z",
                "2026-10-25T04:00:00Z",
            ]
        );
    }

    #[test]
    fn seconds_field_is_optional_and_honoured() {
        let five = berlin("*/5 * * * *");
        assert_eq!(
            slots(&five, "2026-12-01T10:00:00Z", 2),
            ["2026-12-01T10:05:00Z", "2026-12-01T10:10:00Z"]
        );
        let six = berlin("*/20 * * * * *");
        assert_eq!(
            slots(&six, "2026-12-01T10:00:05Z", 2),
            ["2026-12-01T10:00:20Z", "2026-12-01T10:00:40Z"]
        );
    }

    #[test]
    fn latest_missed_finds_the_last_slot_of_a_downtime() {
        let s = berlin("0 30 2 * * *");
        let down = utc("2026-12-01T12:00:00Z");
        assert_eq!(
            s.latest_missed(down, utc("2026-12-04T09:00:00Z")),
            Some(utc("2026-12-04T01:30:00Z"))
        );
        assert_eq!(s.latest_missed(down, utc("2026-12-02T01:00:00Z")), None);
        // A sparse schedule whose only missed slot is older than the last two days.
        let monthly = berlin("0 0 3 1 * *");
        assert_eq!(
            monthly.latest_missed(utc("2026-11-15T00:00:00Z"), utc("2026-12-20T00:00:00Z")),
            Some(utc("2026-12-01T02:00:00Z"))
        );
        // A per-second schedule after a long downtime stays cheap.
        let busy = berlin("* * * * * *");
        assert_eq!(
            busy.latest_missed(utc("2026-01-01T00:00:00Z"), utc("2026-12-01T00:00:00Z")),
            Some(utc("2026-12-01T00:00:00Z"))
        );
    }
}
