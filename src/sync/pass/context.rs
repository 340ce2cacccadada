//! What a pass opens once, before its first batch: the job's plan, its CRM and register, the
//! scorer and the erasure check. `import` opens the same.

use std::sync::{Arc, OnceLock};

use crate::config::{Config, JobConfig};
use crate::crm::CrmSource;
use crate::domain::blocking::Rule;
use crate::domain::evaluate::Plan;
use crate::domain::inputs::Basis;
use crate::domain::model::Record;
use crate::domain::score::{Prepared, Scorer};
use crate::register::index::{PreparedRecords, RecordIndex};
use crate::register::Register;
use crate::store::Store;
use crate::sync::erase::SuppressionCheck;
use crate::sync::{scorer_for, SyncError};

pub(crate) struct PassContext<'a> {
    pub job_name: &'a str,
    pub job: &'a JobConfig,
    pub plan: Plan,
    /// Shared with the pass's writer, which applies one batch while the next is scored.
    pub crm: Arc<dyn CrmSource>,
    pub register: Box<dyn Register>,
    /// The blocking rules that find the register's candidates (EM learns per rule).
    pub rules: Vec<Rule>,
    /// The job's model as configured (pinned or built-in m/u); a pass may fit it by EM.
    pub scorer: Scorer,
    /// An erased person never comes back: their records are skipped before any lookup.
    pub suppression: SuppressionCheck,
    /// The register's records prepared as the job compares them, where it holds them in an
    /// index: made on first use, kept for the pass.
    prepared: OnceLock<PreparedRecords>,
    /// The job's and its register's settings, in text: part of the pass's [`Basis`].
    settings: String,
    /// Set once the model is settled; `None` until then and where every record is scored.
    pub basis: Option<Basis>,
}

impl<'a> PassContext<'a> {
    pub async fn open(
        config: &'a Config,
        store: &Store,
        job_name: &'a str,
    ) -> Result<PassContext<'a>, SyncError> {
        let no_job = || SyncError::NoSuchJob(job_name.to_string());
        let job = config.job.get(job_name).ok_or_else(no_job)?;
        let crm_config = config.crm.get(&job.crm).ok_or_else(no_job)?;
        let register_config = config.register.get(&job.register).ok_or_else(no_job)?;
        let mapping = crm_config.mapping(job.entity).ok_or_else(|| {
            SyncError::Refused(format!(
                "[crm.{}] has no mapping for {} records",
                job.crm, job.entity
            ))
        })?;
        let plan = job.plan(mapping);
        let register =
            crate::register::open(&job.register, register_config, Some(store.clone())).await?;
        let crm = Arc::from(crate::crm::open(&job.crm, crm_config).await?);
        let scorer = scorer_for(job_name, job, register.as_ref())?;
        let rules = register_config.blocking().rules(job.entity);
        let suppression = SuppressionCheck::open(config, store, job.entity).await?;
        let settings = format!("{job:?} {register_config:?}");
        Ok(PassContext {
            job_name,
            job,
            plan,
            crm,
            register,
            rules,
            scorer,
            suppression,
            prepared: OnceLock::new(),
            settings,
            basis: None,
        })
    }

    /// The register record at `position` of the register's index, made whole as the job
    /// compares and diffs it.
    pub fn held(&self, position: u32) -> Option<Record> {
        let mut record = self.register.index()?.record_at(position)?;
        self.plan.minimise(std::slice::from_mut(&mut record));
        Some(record)
    }

    /// The register record at `position` of the register's index, prepared as the job
    /// compares it (minimised as [`PassContext::held`] makes it whole).
    pub fn prepared_at(&self, position: u32) -> Option<Prepared> {
        let index = self.register.index()?;
        let id = index.id_at(position)?;
        let all = self.prepared.get_or_init(|| prepare(index, &self.plan));
        all.get(position as usize, id)
            .or_else(|| Some(Prepared::new(self.plan.entity, &self.held(position)?)))
    }

    /// Keeps the register's records prepared ahead of their first use (see
    /// [`prepare_register`]).
    pub fn keep_prepared(&mut self, prepared: Option<PreparedRecords>) {
        if let Some(prepared) = prepared {
            // Set only here, before any batch is scored.
            let _ = self.prepared.set(prepared);
        }
    }

    /// What every outcome of the pass depends on besides its record, once its model is
    /// settled; `None` where the register or VIES may answer differently from one pass to
    /// the next, and every record is scored.
    pub fn settled_basis(&self) -> Option<Basis> {
        if self.job.vies.is_some() {
            return None;
        }
        let register = self.register.content()?.to_string();
        let model = serde_json::to_string(&self.scorer.model).ok()?;
        let (plan, rules) = (format!("{:?}", self.plan), format!("{:?}", self.rules));
        Some(Basis::of(&[
            env!("CARGO_PKG_VERSION"),
            &self.settings,
            &plan,
            &rules,
            &model,
            &register,
        ]))
    }
}

/// The records of `register`'s index prepared as `plan`'s job compares them; `None` where
/// the register holds no index. A free function, so that a pass can prepare them while its
/// scorer is being fitted (which borrows the pass's scorer mutably).
pub(crate) fn prepare_register(register: &dyn Register, plan: &Plan) -> Option<PreparedRecords> {
    register.index().map(|index| prepare(index, plan))
}

fn prepare(index: &RecordIndex, plan: &Plan) -> PreparedRecords {
    index.prepare_all(plan.entity, &|field| plan.keeps(field))
}
