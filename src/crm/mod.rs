//! CRM sources and sinks: read records as canonical fields, write single fields back
//! behind an expected-old-value guard.

pub mod csv;
pub mod sql;

use std::future::Future;
use std::pin::Pin;

use crate::config::{CrmConfig, Deactivation, EraseMode, ForeignKey, TableMapping};
use crate::domain::model::{EntityKind, Field, Record};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error("CRM `{crm}`: {problem}")]
    Unusable { crm: String, problem: String },
    #[error("CRM `{crm}`: {source}")]
    Db {
        crm: String,
        #[source]
        source: crate::db::DbError,
    },
}

/// The result of a guarded write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The CRM value is no longer the one the change expected; nothing was written.
    Conflict {
        current: Option<String>,
    },
    /// The record is gone from the CRM.
    Missing,
    /// The CRM cannot take the value (e.g. no row for it in a lookup table).
    Refused {
        reason: String,
    },
}

/// One guarded write: `field` of record `id` becomes `new` (`None`: NULL) only if it still
/// holds `expected`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldWrite {
    pub id: String,
    pub field: Field,
    pub expected: Option<String>,
    pub new: Option<String>,
}

/// The writes of one approved merge, all in one CRM transaction: all of them happen or none.
#[derive(Debug, Clone)]
pub struct MergeWrite {
    pub survivor: String,
    /// The golden values onto the survivor, each behind its guard.
    pub fields: Vec<FieldWrite>,
    /// The records merged into the survivor: deactivated, never deleted.
    pub merged: Vec<String>,
    pub deactivate: Deactivation,
    /// Columns in other tables whose ids of merged records become the survivor's.
    pub repoint: Vec<ForeignKey>,
}

/// What an applied merge changed in the CRM, so that a revert undoes exactly that.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MergeUndo {
    pub survivor: String,
    /// The survivor's fields: `expected` held before the merge, `new` written by it.
    pub fields: Vec<FieldWrite>,
    /// The merged records' deactivation column: (record id, its value before).
    pub deactivated: Vec<(String, Option<String>)>,
    pub deactivate: Deactivation,
    pub repointed: Vec<Repointed>,
}

/// Rows of `fk.table` whose `fk.column` held merged record `from` and now holds the
/// survivor's id, by their `fk.key`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Repointed {
    pub fk: ForeignKey,
    pub from: String,
    pub rows: Vec<String>,
}

/// A merge written (with what it changed) or not written at all, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    Written(MergeUndo),
    Refused(String),
}

/// A record's id and raw column values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    pub id: String,
    pub values: Vec<Option<String>>,
}

pub trait CrmSource: Send + Sync {
    fn name(&self) -> &str;

    /// Where records of `kind` live and which column holds which field; `None` when this
    /// CRM keeps no such records.
    fn mapping(&self, kind: EntityKind) -> Option<&TableMapping>;

    /// Up to `limit` records of `kind` in the CRM's id order, after record `after` (from
    /// the first without it); with `since`, only those modified at or after it (in the
    /// CRM's own time format). Paged by key, not by offset: a page costs the same however
    /// far a sweep has got, and a record added or removed meanwhile moves no other record
    /// into or out of a page.
    fn read_batch<'a>(
        &'a self,
        kind: EntityKind,
        since: Option<&'a str>,
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Record>, CrmError>>;

    /// The records of `kind` with these ids (those that exist).
    fn read_by_ids<'a>(
        &'a self,
        kind: EntityKind,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Record>, CrmError>>;

    /// Each write sets `field` of record `id` to `new` (`None`: NULL) only if it still
    /// holds `expected`; a CRM that has transactions makes the batch one. One outcome per
    /// write, in order: a write that fails does not undo the others.
    fn write_fields<'a>(
        &'a self,
        kind: EntityKind,
        writes: &'a [FieldWrite],
    ) -> BoxFuture<'a, Vec<Result<WriteOutcome, CrmError>>>;

    /// Writes one merge in one transaction: `Written` with what it changed when every
    /// write was; otherwise nothing is written and `Refused` names the first field or record
    /// that stopped it.
    fn write_merge<'a>(
        &'a self,
        kind: EntityKind,
        merge: &'a MergeWrite,
    ) -> BoxFuture<'a, Result<MergeOutcome, CrmError>>;

    /// Undoes an applied merge in one transaction, each write guarded by what the merge
    /// wrote: `Written` (with `undo` as it was) when all of it was undone; otherwise
    /// nothing changes and `Refused` names what was edited since.
    fn revert_merge<'a>(
        &'a self,
        kind: EntityKind,
        undo: &'a MergeUndo,
    ) -> BoxFuture<'a, Result<MergeOutcome, CrmError>>;

    /// The named columns (not canonical fields, e.g. consent flags) of up to `limit`
    /// records after record `after`, in id order as [`CrmSource::read_batch`] pages.
    fn read_columns<'a>(
        &'a self,
        kind: EntityKind,
        columns: &'a [String],
        after: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<RawRow>, CrmError>>;

    /// Erases record `id` for Art. 17: deletes the row, or empties its personal fields
    /// (`anonymise`). `Missing` when there is no such record.
    fn erase<'a>(
        &'a self,
        kind: EntityKind,
        id: &'a str,
        mode: EraseMode,
    ) -> BoxFuture<'a, Result<WriteOutcome, CrmError>>;
}

/// What the rest of refsync asks of a CRM's config, whatever its kind: a new kind of CRM is
/// one more variant of [`CrmConfig`], matched only here, and one file in `crm/`.
impl CrmConfig {
    /// Where records of `kind` live in this CRM and which column holds which field; `None`
    /// when the CRM keeps no such records.
    pub fn mapping(&self, kind: EntityKind) -> Option<&TableMapping> {
        match self {
            CrmConfig::Sql(sql) => sql.mapping(kind),
        }
    }

    /// Checks what serde cannot: URLs and identifiers, under `crm.NAME`.
    pub(crate) fn validate(&self, name: &str) -> Result<(), (String, String)> {
        match self {
            CrmConfig::Sql(sql) => sql.validate(name),
        }
    }
}

/// A deep check before the first pass: that the CRM answers and has every mapped table and
/// column (what [`open`] checks), without creating a demo CRM that is not there yet.
pub async fn check(name: &str, config: &CrmConfig) -> Result<String, CrmError> {
    let CrmConfig::Sql(sql_config) = config;
    if demo_to_create(sql_config).is_some() {
        return Ok("the demo CRM is created with its data on the first run".into());
    }
    sql::SqlCrm::open(name, sql_config).await?;
    Ok("reached; every mapped table and column exists".into())
}

/// A deep check of columns a job names outside the CRM's mapping (`section`, e.g.
/// `[job.NAME.duplicates]`): each (table, column) must exist. A demo CRM not created yet is
/// created with its schema on the first run, so there is nothing to check.
pub async fn check_columns(
    name: &str,
    config: &CrmConfig,
    columns: &[(&str, &str)],
    section: &str,
) -> Result<String, CrmError> {
    let CrmConfig::Sql(sql_config) = config;
    if demo_to_create(sql_config).is_some() {
        return Ok("the demo CRM is created with its data on the first run".into());
    }
    let crm = sql::SqlCrm::open(name, sql_config).await?;
    crm.check_columns(columns, section).await?;
    Ok(format!("every column {section} names exists"))
}

/// The SQLite file of a demo CRM (`demo_data = true`) that does not exist yet.
fn demo_to_create(config: &crate::config::SqlCrmConfig) -> Option<&std::path::Path> {
    crate::db::sqlite_path(&config.url).filter(|p| config.demo_data && !p.exists())
}

/// Whether `error` says the CRM could not be reached (worth a warning before a pass; it may
/// be up by then) rather than that the config does not fit it.
pub fn unreachable(error: &CrmError) -> bool {
    matches!(
        error,
        CrmError::Db {
            source: crate::db::DbError::Connect { .. },
            ..
        }
    )
}

/// Opens the CRM a job names. A demo CRM (`demo_data = true`) whose SQLite file does not
/// exist yet is created and filled first.
/// Every record of `kind`, page by page in id order: `each` gets each page.
pub async fn for_each_page(
    crm: &dyn CrmSource,
    kind: EntityKind,
    limit: usize,
    mut each: impl FnMut(Vec<Record>),
) -> Result<(), CrmError> {
    let mut after: Option<String> = None;
    loop {
        let page = crm.read_batch(kind, None, after.as_deref(), limit).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.id.clone());
        each(page);
    }
}

/// The named columns of every record of `kind`, page by page in id order.
pub async fn for_each_column_page(
    crm: &dyn CrmSource,
    kind: EntityKind,
    columns: &[String],
    limit: usize,
    mut each: impl FnMut(Vec<RawRow>),
) -> Result<(), CrmError> {
    let mut after: Option<String> = None;
    loop {
        let page = crm
            .read_columns(kind, columns, after.as_deref(), limit)
            .await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.id.clone());
        each(page);
    }
}

pub async fn open(name: &str, config: &CrmConfig) -> Result<Box<dyn CrmSource>, CrmError> {
    let CrmConfig::Sql(sql_config) = config;
    if sql_config.demo_data {
        // Jobs run side by side in the daemon: one creates the demo CRM, the others wait.
        static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _creating = CREATING.lock().await;
        if let Some(path) = demo_to_create(sql_config) {
            let path = path.to_path_buf();
            tracing::info!(crm = name, path = %path.display(), "creating the demo CRM");
            tokio::task::spawn_blocking(move || {
                crate::demo::create_crm(&path, &crate::demo::generate(crate::demo::SEED))
            })
            .await
            .map_err(|e| CrmError::Unusable {
                crm: name.to_string(),
                problem: e.to_string(),
            })?
            .map_err(|e| CrmError::Unusable {
                crm: name.to_string(),
                problem: e.to_string(),
            })?;
        }
    }
    Ok(Box::new(sql::SqlCrm::open(name, sql_config).await?))
}
