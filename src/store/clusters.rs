//! Duplicates inside a job's CRM records: the clusters the last pass found, and the merges
//! proposed for them.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::{duplicate_clusters, duplicate_seen, duplicate_splits, merges};
use crate::db::AnyConnection;
use crate::domain::model::{EntityKind, MergeStatus};
use crate::on_store_backend;

/// A record in a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable, Insertable)]
#[diesel(table_name = duplicate_clusters, treat_none_as_default_value = false)]
pub struct ClusterMember {
    pub job: String,
    pub record_id: String,
    pub cluster_id: String,
    /// The pass since which the record has been in this cluster.
    pub since_pass: i64,
}

/// The job's clusters as the last pass left them: record id → (cluster id, since pass).
pub fn members(conn: &mut AnyConnection, job: &str) -> QueryResult<HashMap<String, (String, i64)>> {
    let rows: Vec<ClusterMember> = duplicate_clusters::table
        .filter(duplicate_clusters::job.eq(job))
        .select(ClusterMember::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.record_id, (r.cluster_id, r.since_pass)))
        .collect())
}

/// Replaces the job's clusters with `clusters` (cluster id → record ids) found by pass
/// `pass_id`; a record that stays in the cluster it was in keeps its `since_pass`.
pub fn replace(
    conn: &mut AnyConnection,
    job: &str,
    pass_id: i64,
    clusters: &[(String, Vec<String>)],
) -> QueryResult<()> {
    let before = members(conn, job)?;
    let rows: Vec<ClusterMember> = clusters
        .iter()
        .flat_map(|(cluster, records)| {
            let before = &before;
            records.iter().map(move |record| {
                let since = match before.get(record) {
                    Some((was, since)) if was == cluster => *since,
                    _ => pass_id,
                };
                ClusterMember {
                    job: job.to_string(),
                    record_id: record.clone(),
                    cluster_id: cluster.clone(),
                    since_pass: since,
                }
            })
        })
        .collect();
    diesel::delete(duplicate_clusters::table.filter(duplicate_clusters::job.eq(job)))
        .execute(conn)?;
    // 4 values a row: far below every backend's limit of bound parameters.
    for chunk in rows.chunks(1_000) {
        on_store_backend!(conn, c => diesel::insert_into(duplicate_clusters::table)
            .values(chunk.to_vec())
            .execute(c))?;
    }
    Ok(())
}

/// What the duplicates stage last compared of the job's records: record id → digest.
pub fn seen(conn: &mut AnyConnection, job: &str) -> QueryResult<HashMap<String, String>> {
    let rows: Vec<(String, String)> = duplicate_seen::table
        .filter(duplicate_seen::job.eq(job))
        .select((duplicate_seen::record_id, duplicate_seen::digest))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Remembers the digests of the records compared anew (`compared`: record id, digest) and
/// forgets `forget` (records that are gone, or to compare anew).
pub fn remember_seen(
    conn: &mut AnyConnection,
    job: &str,
    compared: &[(String, String)],
    forget: &[String],
) -> QueryResult<()> {
    let ids: Vec<&String> = compared.iter().map(|(id, _)| id).chain(forget).collect();
    for chunk in ids.chunks(1_000) {
        diesel::delete(
            duplicate_seen::table
                .filter(duplicate_seen::job.eq(job))
                .filter(duplicate_seen::record_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    let rows: Vec<_> = compared
        .iter()
        .map(|(id, digest)| {
            (
                duplicate_seen::job.eq(job),
                duplicate_seen::record_id.eq(id),
                duplicate_seen::digest.eq(digest),
            )
        })
        .collect();
    // 3 values a row: far below every backend's limit of bound parameters.
    for chunk in rows.chunks(1_000) {
        on_store_backend!(conn, c => diesel::insert_into(duplicate_seen::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// The probability of each cluster's weakest link, as its latest merge proposal gives it.
pub fn weakest_links(conn: &mut AnyConnection, job: &str) -> QueryResult<HashMap<String, f64>> {
    let rows: Vec<(String, f64)> = merges::table
        .filter(merges::job.eq(job))
        .order(merges::id)
        .select((merges::cluster_id, merges::weakest_link))
        .load(conn)?;
    // In id order: a later proposal for the same cluster overwrites an earlier one.
    Ok(rows.into_iter().collect())
}

/// A pair of records a steward split apart, the smaller id first.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = duplicate_splits)]
pub struct Split {
    pub job: String,
    pub record_a: String,
    pub record_b: String,
    /// The merge whose cluster was split.
    pub merge_id: i64,
    pub decided_by: String,
    pub decided_at: NaiveDateTime,
}

/// Stores splits; a pair split before stays as it was.
pub fn add_splits(conn: &mut AnyConnection, splits: &[Split]) -> QueryResult<()> {
    for split in splits {
        let key = (&split.job, &split.record_a, &split.record_b);
        if duplicate_splits::table
            .find(key)
            .count()
            .get_result::<i64>(conn)?
            == 0
        {
            on_store_backend!(conn, c => diesel::insert_into(duplicate_splits::table)
                .values(split.clone())
                .execute(c))?;
        }
    }
    Ok(())
}

/// The pairs of the job's records a steward split apart, the smaller id first.
pub fn splits(conn: &mut AnyConnection, job: &str) -> QueryResult<HashSet<(String, String)>> {
    let pairs: Vec<(String, String)> = duplicate_splits::table
        .filter(duplicate_splits::job.eq(job))
        .select((duplicate_splits::record_a, duplicate_splits::record_b))
        .load(conn)?;
    Ok(pairs.into_iter().collect())
}

#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable)]
#[diesel(table_name = merges)]
pub struct MergeRow {
    pub id: i64,
    pub job: String,
    #[diesel(deserialize_as = String)]
    pub entity: EntityKind,
    pub cluster_id: String,
    /// The pass that proposed it.
    pub pass_id: i64,
    pub survivor: String,
    /// The cluster's record ids as a JSON list.
    pub members: String,
    /// The golden record as JSON: each value with the record it came from.
    pub golden: String,
    /// A digest of the members and their values when it was proposed.
    pub fingerprint: String,
    /// The probability of the cluster's weakest link.
    pub weakest_link: f64,
    /// The chaining guard refused a link to a record outside the cluster.
    pub review: bool,
    #[diesel(deserialize_as = String)]
    pub status: MergeStatus,
    pub created_at: NaiveDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub error: Option<String>,
    /// What an applied merge wrote and what was there before, as JSON.
    pub undo: Option<String>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = merges)]
pub struct NewMerge {
    pub job: String,
    #[diesel(serialize_as = String)]
    pub entity: EntityKind,
    pub cluster_id: String,
    pub pass_id: i64,
    pub survivor: String,
    pub members: String,
    pub golden: String,
    pub fingerprint: String,
    pub weakest_link: f64,
    pub review: bool,
    #[diesel(serialize_as = String)]
    pub status: MergeStatus,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut AnyConnection, merge: &NewMerge) -> QueryResult<i64> {
    on_store_backend!(conn, c => diesel::insert_into(merges::table)
        .values(merge.clone())
        .returning(merges::id)
        .get_result(c))
}

pub fn get(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<MergeRow>> {
    merges::table
        .find(id)
        .select(MergeRow::as_select())
        .first(conn)
        .optional()
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = merges)]
struct StatusOnly {
    #[diesel(deserialize_as = String)]
    status: MergeStatus,
}

/// The status of every merge of the job, without the golden records and undo data that a
/// count has no use for (the data-quality report).
pub fn statuses(conn: &mut AnyConnection, job: &str) -> QueryResult<Vec<MergeStatus>> {
    let rows: Vec<StatusOnly> = merges::table
        .filter(merges::job.eq(job))
        .select(StatusOnly::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(|r| r.status).collect())
}

/// Merges, newest first: of one job and in one status where given.
pub fn list(
    conn: &mut AnyConnection,
    job: Option<&str>,
    status: Option<MergeStatus>,
) -> QueryResult<Vec<MergeRow>> {
    let mut query = merges::table.select(MergeRow::as_select()).into_boxed();
    if let Some(job) = job {
        query = query.filter(merges::job.eq(job.to_string()));
    }
    if let Some(status) = status {
        query = query.filter(merges::status.eq(status.as_str()));
    }
    query.order(merges::id.desc()).load(conn)
}

/// Every merge proposed for the job's cluster `cluster_id`, newest first.
pub fn of_cluster(
    conn: &mut AnyConnection,
    job: &str,
    cluster_id: &str,
) -> QueryResult<Vec<MergeRow>> {
    merges::table
        .filter(merges::job.eq(job))
        .filter(merges::cluster_id.eq(cluster_id))
        .select(MergeRow::as_select())
        .order(merges::id.desc())
        .load(conn)
}

/// Moves merge `id` from one of `from` to `to`, saying who decided; false when it was in
/// none of `from` (someone decided first, or it does not exist).
pub fn decide(
    conn: &mut AnyConnection,
    id: i64,
    from: &[MergeStatus],
    to: MergeStatus,
    by: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let n = diesel::update(merges::table.find(id).filter(merges::status.eq_any(from)))
        .set((
            merges::status.eq(to.as_str()),
            merges::decided_by.eq(by),
            merges::decided_at.eq(at),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Settles merge `id` from `from` to `to` (applied with its `undo`, failed with `error`,
/// reverted); false when it was not in `from` (settled meanwhile by another run).
pub fn settle(
    conn: &mut AnyConnection,
    id: i64,
    (from, to): (MergeStatus, MergeStatus),
    error: Option<&str>,
    undo: Option<&str>,
) -> QueryResult<bool> {
    let n = diesel::update(
        merges::table
            .find(id)
            .filter(merges::status.eq(from.as_str())),
    )
    .set((
        merges::status.eq(to.as_str()),
        merges::error.eq(error),
        merges::undo.eq(undo),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store as store;

    fn cluster(id: &str, records: &[&str]) -> (String, Vec<String>) {
        (
            id.to_string(),
            records.iter().map(|r| r.to_string()).collect(),
        )
    }

    #[test]
    fn a_record_that_stays_in_its_cluster_keeps_the_pass_it_joined_in() {
        let (_dir, mut c) = store();
        replace(&mut c, "orgs", 1, &[cluster("c1", &["a", "b"])]).unwrap();
        replace(
            &mut c,
            "orgs",
            2,
            &[cluster("c1", &["a", "b", "x"]), cluster("c2", &["d", "e"])],
        )
        .unwrap();
        // b moved to another cluster: it joined that one in pass 3.
        replace(
            &mut c,
            "orgs",
            3,
            &[cluster("c1", &["a", "x"]), cluster("c2", &["b", "d", "e"])],
        )
        .unwrap();
        replace(&mut c, "other", 3, &[cluster("c1", &["z", "y"])]).unwrap();
        let got = members(&mut c, "orgs").unwrap();
        let want: HashMap<String, (String, i64)> = [
            ("a", "c1", 1),
            ("x", "c1", 2),
            ("b", "c2", 3),
            ("d", "c2", 2),
            ("e", "c2", 2),
        ]
        .into_iter()
        .map(|(r, cl, p)| (r.to_string(), (cl.to_string(), p)))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_merge_is_decided_once_and_only_from_the_statuses_given() {
        let (_dir, mut c) = store();
        let new = NewMerge {
            job: "orgs".into(),
            entity: EntityKind::Organisation,
            cluster_id: "c1".into(),
            pass_id: 1,
            survivor: "a".into(),
            members: r#"["a","b"]"#.into(),
            golden: "{}".into(),
            fingerprint: "f".into(),
            weakest_link: 0.97,
            review: false,
            status: MergeStatus::Proposed,
            created_at: crate::store::now(),
        };
        let id = insert(&mut c, &new).unwrap();
        let at = crate::store::now();
        let open = [MergeStatus::Proposed];
        assert!(decide(&mut c, id, &open, MergeStatus::Rejected, "anna", at).unwrap());
        assert!(!decide(&mut c, id, &open, MergeStatus::Approved, "ben", at).unwrap());
        let row = get(&mut c, id).unwrap().unwrap();
        assert_eq!(
            (row.status, row.decided_by.as_deref()),
            (MergeStatus::Rejected, Some("anna"))
        );
        assert_eq!(of_cluster(&mut c, "orgs", "c1").unwrap(), vec![row.clone()]);
        assert_eq!(
            list(&mut c, Some("orgs"), Some(MergeStatus::Proposed)).unwrap(),
            vec![]
        );
        assert_eq!(list(&mut c, None, None).unwrap(), vec![row]);
    }
}
