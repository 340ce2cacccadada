//! The duplicates stage (`[job.NAME.duplicates] enabled`): after the sweep, the job's CRM
//! records are linked with each other by the job's own comparison model and blocking,
//! clustered with the ids the last pass gave, and each new or changed cluster gets a merge
//! proposal with its golden record. Nothing is merged here: a steward decides.

use std::collections::{HashMap, HashSet};

use diesel::Connection;
use sha2::{Digest, Sha256};
use tracing::info;

use super::PassContext;
use crate::config::Config;
use crate::crm;
use crate::domain::cluster::Earlier;
use crate::domain::model::{MergeStatus, Record};
use crate::domain::score::Prepared;
use crate::domain::survivorship::{self, Candidate};
use crate::matching::{self, DedupeReport, MatchConfig};
use crate::store::clusters::{self, NewMerge};
use crate::store::{now, status, Store};
use crate::sync::SyncError;

/// What the duplicates stage found, for the pass's report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Found {
    /// Clusters of two or more records.
    pub clusters: usize,
    /// Merges proposed by this pass (new or changed clusters).
    pub proposed: usize,
    /// Records compared with the others: every record the first time, after that the new
    /// and changed ones (all again when the job's comparison settings changed).
    pub compared: usize,
    #[serde(serialize_with = "super::as_millis")]
    pub time: std::time::Duration,
}

pub(crate) async fn run(
    pass: &PassContext<'_>,
    config: &Config,
    store: &Store,
    pass_id: i64,
) -> Result<Found, SyncError> {
    let started = std::time::Instant::now();
    let job = pass.job;
    let records = read_all(pass).await?;
    let job_name = pass.job_name.to_string();
    let (name, earlier_of) = (job_name.clone(), job_name.clone());
    let (before, seen) = store
        .db
        .run(move |conn| {
            let before = clusters::members(conn, &earlier_of)?;
            let seen = clusters::seen(conn, &earlier_of)?;
            Ok::<_, diesel::result::Error>((before, seen))
        })
        .await?;
    let settings = MatchConfig {
        blocking: config
            .register
            .get(&job.register)
            .map(|r| r.blocking())
            .unwrap_or_default(),
        matching: job.matching.clone(),
        ..MatchConfig::default()
    };
    let threshold = job.duplicates.threshold(&job.thresholds);
    let kind = job.entity;

    // Only the records that are new or changed since the last pass (or all, where the
    // settings changed or no pass compared them before) are compared with the rest.
    let salt = format!(
        "{kind:?} {threshold} {:?} {:?}",
        settings.blocking, settings.matching
    );
    let digests: HashMap<&str, String> = records
        .iter()
        .map(|r| (r.id.as_str(), digest(&salt, r)))
        .collect();
    let changed: HashSet<&str> = records
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| seen.get(*id) != digests.get(id))
        .collect();
    let gone: Vec<String> = seen
        .keys()
        .filter(|id| !digests.contains_key(id.as_str()))
        .cloned()
        .collect();
    let compared: Vec<(String, String)> = changed
        .iter()
        .map(|id| (id.to_string(), digests[id].clone()))
        .collect();
    if changed.is_empty() && gone.is_empty() {
        // Nothing to compare: the clusters stand as stored, their merges as proposed.
        let clusters: HashSet<&String> = before.values().map(|(cluster, _)| cluster).collect();
        info!(
            pass = pass_id,
            clusters = clusters.len(),
            "duplicates: no record new or changed since the last pass"
        );
        return Ok(Found {
            clusters: clusters.len(),
            proposed: 0,
            compared: 0,
            time: started.elapsed(),
        });
    }
    // Where no pass compared the records before, all are compared; after that the new and
    // changed ones (none where records only went away: their clusters are formed anew from
    // the stored links without them).
    let new = (!seen.is_empty()).then_some(changed.len());
    let compared_count = new.unwrap_or(records.len());
    // What linking and survivorship need, read only when there is something to compare.
    let earlier_of = job_name.clone();
    let (verified, apart, weakest) = store
        .db
        .run(move |conn| {
            let verified: HashSet<String> = status::for_job(conn, &earlier_of)?
                .into_iter()
                .filter(|s| s.verified_at.is_some())
                .map(|s| s.record_id)
                .collect();
            let apart = clusters::splits(conn, &earlier_of)?;
            let weakest = clusters::weakest_links(conn, &earlier_of)?;
            Ok::<_, diesel::result::Error>((verified, apart, weakest))
        })
        .await?;
    let earlier = Earlier {
        cluster_of: before
            .into_iter()
            .map(|(record, (cluster, _))| (record, cluster))
            .collect(),
        weakest,
        apart,
    };
    // The unchanged records first, the new and changed ones after them (dedupe_all's order).
    let mut order: Vec<&Record> = records.iter().collect();
    order.sort_by_key(|r| changed.contains(r.id.as_str()));
    let prepared: Vec<Prepared> = order.iter().map(|r| Prepared::new(kind, r)).collect();
    // Linking a whole CRM is CPU work: off the async threads.
    let (linker, found, households) = tokio::task::spawn_blocking(move || {
        let mut report = DedupeReport::default();
        let (linker, found) = matching::dedupe_all(
            kind,
            &settings,
            prepared,
            new,
            threshold,
            &earlier,
            &mut report,
        )?;
        Ok::<_, matching::MatchError>((linker, found, report.households))
    })
    .await
    .map_err(|e| SyncError::Refused(format!("the duplicates stage stopped: {e}")))?
    .map_err(|e| SyncError::Matching {
        job: job_name.clone(),
        problem: e.to_string(),
    })?;
    let own_addresses = linker.scorer.model.addresses_are_own;
    let by_id: HashMap<&str, &Record> = records.iter().map(|r| (r.id.as_str(), r)).collect();
    let record_of = |m: u32| by_id[&*linker.records[m as usize].id];
    let mut proposals = Vec::new();
    let mut assignment = Vec::new();
    for cluster in &found {
        let members: Vec<&Record> = cluster.members.iter().map(|&m| record_of(m)).collect();
        let ids: Vec<String> = members.iter().map(|r| r.id.clone()).collect();
        assignment.push((cluster.id.clone(), ids.clone()));
        let candidates: Vec<Candidate<'_>> = members
            .iter()
            .map(|r| Candidate {
                record: r,
                created: None,
                modified: r.modified.as_ref().and_then(|m| m.at.as_deref()),
                verified: verified.contains(&r.id),
                source: None,
            })
            .collect();
        let Some(golden) = survivorship::merge(&job.duplicates.survivorship, &candidates) else {
            continue;
        };
        proposals.push(NewMerge {
            job: name.clone(),
            entity: kind,
            cluster_id: cluster.id.clone(),
            pass_id,
            survivor: golden.survivor.clone(),
            members: serde_json::to_string(&ids).unwrap_or_default(),
            golden: serde_json::to_string(&golden).unwrap_or_default(),
            fingerprint: fingerprint(&members),
            weakest_link: cluster.weakest_probability(),
            review: cluster.review,
            status: MergeStatus::Proposed,
            created_at: now(),
        });
    }
    let clusters_found = assignment.len();
    let proposed = store
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                clusters::replace(conn, &name, pass_id, &assignment)?;
                clusters::remember_seen(conn, &name, &compared, &gone)?;
                let mut proposed = 0;
                for merge in proposals {
                    let latest = clusters::of_cluster(conn, &name, &merge.cluster_id)?;
                    match latest.first() {
                        // Decided or waiting as it is: a rejection stands while the
                        // members and their values stay as they were.
                        Some(last) if last.fingerprint == merge.fingerprint => continue,
                        Some(last) if last.status == MergeStatus::Proposed => {
                            clusters::decide(
                                conn,
                                last.id,
                                &[MergeStatus::Proposed],
                                MergeStatus::Superseded,
                                "refsync",
                                merge.created_at,
                            )?;
                        }
                        _ => {}
                    }
                    clusters::insert(conn, &merge)?;
                    proposed += 1;
                }
                Ok::<_, diesel::result::Error>(proposed)
            })
        })
        .await?;
    info!(
        pass = pass_id,
        clusters = clusters_found,
        merges_proposed = proposed,
        households = households.is_some_and(|h| h.present()),
        addresses_own = own_addresses,
        "duplicates found"
    );
    Ok(Found {
        clusters: clusters_found,
        proposed,
        compared: compared_count,
        time: started.elapsed(),
    })
}

/// Every record of the job's kind that no merge deactivated, batch by batch.
async fn read_all(pass: &PassContext<'_>) -> Result<Vec<Record>, SyncError> {
    let (kind, batch_size) = (pass.job.entity, pass.job.batch_size);
    let mut records = Vec::new();
    crm::for_each_page(pass.crm.as_ref(), kind, batch_size, |batch| {
        records.extend(batch)
    })
    .await?;
    // A record merged into another is no one's duplicate any more: proposing it again would
    // undo the steward's merge.
    let Some(deactivate) = &pass.job.duplicates.deactivate else {
        return Ok(records);
    };
    let columns = [deactivate.column.clone()];
    let mut merged = HashSet::new();
    crm::for_each_column_page(pass.crm.as_ref(), kind, &columns, batch_size, |rows| {
        merged.extend(
            rows.into_iter()
                .filter(|r| r.values.first().and_then(|v| v.as_deref()) == Some(&deactivate.value))
                .map(|r| r.id),
        )
    })
    .await?;
    records.retain(|r| !merged.contains(&r.id));
    Ok(records)
}

/// A digest of one record's values under the comparison settings `salt`: equal while
/// neither changed. 64 bits: a record whose digest collides with its own old one is missed
/// until its next change, about once in 10^19 changes.
fn digest(salt: &str, record: &Record) -> String {
    let values = serde_json::to_string(&record.values).unwrap_or_default();
    let hash = crate::domain::score::hash64(&[salt.as_bytes(), values.as_bytes()]);
    format!("{hash:016x}")
}

/// A digest of a cluster's members and their values: equal while nothing in it changed.
pub(crate) fn fingerprint(members: &[&Record]) -> String {
    let mut sorted: Vec<(&str, &std::collections::BTreeMap<_, String>)> =
        members.iter().map(|r| (r.id.as_str(), &r.values)).collect();
    sorted.sort_by_key(|(id, _)| *id);
    let text = serde_json::to_string(&sorted).unwrap_or_default();
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::Field;

    #[test]
    fn a_clusters_fingerprint_changes_with_a_member_or_a_value_never_with_their_order() {
        let a = Record::new("1").with(Field::LegalName, "Muster GmbH");
        let b = Record::new("2").with(Field::LegalName, "Muster G.m.b.H.");
        let b_edited = Record::new("2").with(Field::LegalName, "Muster AG");
        let c = Record::new("3").with(Field::LegalName, "Muster GmbH");
        let base = fingerprint(&[&a, &b]);
        assert_eq!(base, fingerprint(&[&b, &a]));
        assert_ne!(base, fingerprint(&[&a, &b_edited]));
        assert_ne!(base, fingerprint(&[&a, &b, &c]));
    }
}
