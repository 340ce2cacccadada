//! The matching engine over a register held in memory: prepared records, their blocking
//! index and term frequencies, a scorer whose parameters EM can fit, and the decision per
//! CRM record. Pure: the callers read files and run threads.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::blocking::{BlockIndex, BlockingSettings, Rule, RuleKeys};
use super::comparison::{self, default_comparisons, ComparisonSpec};
use super::decide::{decide, Decision, Thresholds};
use super::em::{self, EmReport};
use super::model::{EntityKind, Field};
use super::score::{gamma, FieldParams, Gamma, Model, Prepared, Scorer, TermFrequencies};

/// How a job scores: whether m/u are estimated (EM), pinned values, term frequencies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSettings {
    /// Estimate m, u and the prior from the data (EM) before matching.
    #[serde(default = "default_true")]
    pub estimate: bool,
    #[serde(default = "default_em_iterations")]
    pub em_max_iterations: usize,
    /// Candidate pairs EM learns from, at most (a sample keeps big runs fast).
    #[serde(default = "default_em_sample_pairs")]
    pub em_sample_pairs: usize,
    /// Weigh exact agreements on names and cities by how rare the value is.
    #[serde(default = "default_true")]
    pub term_frequency: bool,
    /// m and u pinned per compared field: `legal_name = { m = [..], u = [..] }` with
    /// probabilities for the levels exact, close, far. EM leaves these alone.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<Field, FieldParams>,
    /// The comparison model: which fields are compared and how
    /// (`{ field = "street", comparator = "street", close = 0.88 }`); empty means the
    /// defaults of the entity kind, which compare every field the kind can carry.
    #[serde(default)]
    pub comparisons: Vec<ComparisonSpec>,
}

fn default_true() -> bool {
    true
}

fn default_em_iterations() -> usize {
    100
}

fn default_em_sample_pairs() -> usize {
    200_000
}

impl Default for MatchSettings {
    fn default() -> Self {
        MatchSettings {
            estimate: true,
            em_max_iterations: default_em_iterations(),
            em_sample_pairs: default_em_sample_pairs(),
            term_frequency: true,
            fields: Default::default(),
            comparisons: Vec::new(),
        }
    }
}

impl MatchSettings {
    /// Checks what serde cannot; the error names the key below `matching` and the fix.
    pub fn validate(&self, kind: EntityKind) -> Result<(), (String, String)> {
        comparison::validate(kind, &self.comparisons).map_err(|e| (e.key, e.problem))?;
        for (field, params) in &self.fields {
            let key = format!("fields.{field}");
            for (name, probs) in [("m", params.m), ("u", params.u)] {
                let sum: f64 = probs.iter().sum();
                if probs.iter().any(|p| !(0.0..=1.0).contains(p)) || (sum - 1.0).abs() > 1e-6 {
                    return Err((
                        format!("{key}.{name}"),
                        format!("{probs:?} must be three probabilities (exact, close, far) that add up to 1"),
                    ));
                }
            }
            self.model(kind).map_err(|e| (key.clone(), e))?;
        }
        Ok(())
    }

    /// The comparisons in force: the configured ones, else the kind's defaults.
    pub fn comparisons(&self, kind: EntityKind) -> &[ComparisonSpec] {
        if self.comparisons.is_empty() {
            default_comparisons(kind)
        } else {
            &self.comparisons
        }
    }

    /// The starting model: the comparisons with built-in m and u and the pins applied.
    pub fn model(&self, kind: EntityKind) -> Result<Model, String> {
        let mut model = Model::with_comparisons(kind, self.comparisons(kind).to_vec());
        for (field, params) in &self.fields {
            model.pin(*field, *params)?;
        }
        Ok(model)
    }
}

/// A register in memory, ready to match against.
pub struct Linker {
    pub kind: EntityKind,
    pub rules: Vec<Rule>,
    pub max_block_size: usize,
    pub records: Vec<Prepared>,
    pub index: BlockIndex,
    pub scorer: Scorer,
}

/// One CRM record's outcome: the decision and how many candidates blocking gave.
pub struct Linked {
    pub decision: Decision,
    pub candidates: usize,
}

impl Linker {
    /// Indexes `records` under the settings' rules; the scorer starts from the settings'
    /// model (defaults plus pins) and the register's term frequencies.
    pub fn new(
        kind: EntityKind,
        blocking: &BlockingSettings,
        settings: &MatchSettings,
        records: Vec<Prepared>,
    ) -> Result<Linker, String> {
        let rules = blocking.rules(kind);
        let index = BlockIndex::build(&rules, &records);
        let mut scorer = Scorer::new(settings.model(kind)?);
        if settings.term_frequency {
            scorer.term_frequencies = Some(Arc::new(TermFrequencies::build(kind, &records)));
        }
        Ok(Linker {
            kind,
            rules,
            max_block_size: blocking.max_block_size,
            records,
            index,
            scorer,
        })
    }

    /// Register records sharing a block with `crm`.
    pub fn candidates(&self, crm: &Prepared) -> impl Iterator<Item = &Prepared> {
        self.index
            .candidates(&self.rules, crm, self.max_block_size)
            .into_iter()
            .filter_map(|i| self.records.get(i as usize))
    }

    /// The comparison vectors of `crm` against each of its candidates, with the rules it
    /// shares with each (see [`Sample::shared`]).
    pub fn record_gammas(&self, crm: &Prepared) -> Vec<(Gamma, u64)> {
        let keys = RuleKeys::of(&self.rules, crm);
        self.candidates(crm)
            .map(|c| {
                (
                    gamma(&self.scorer.model, crm, c),
                    keys.shared(&self.rules, c),
                )
            })
            .collect()
    }

    /// The candidate pairs of `crm_records` compared, at most `limit` (taken evenly across
    /// the records so a sample represents the whole file). `map` runs
    /// [`Linker::record_gammas`] over a chunk of records (the caller may spread it over
    /// threads); a self-linkage passes record numbers instead, whose candidates leave the
    /// record itself out.
    pub fn candidate_gammas<T>(
        &self,
        crm_records: &[T],
        limit: usize,
        map: impl Fn(&[&T]) -> Vec<Vec<(Gamma, u64)>>,
    ) -> Sample {
        let mut out = Sample::default();
        let step = (crm_records.len() / limit.max(1)).max(1);
        let chosen: Vec<&T> = crm_records.iter().step_by(step).collect();
        for chunk in chosen.chunks(GAMMA_CHUNK) {
            for pairs in map(chunk) {
                out.push(pairs);
                if out.gammas.len() >= limit {
                    return out;
                }
            }
        }
        out
    }

    /// Fits the scorer's model (see [`em::estimate`]): u counted on `random` (comparison
    /// vectors of CRM records paired with register records at random, see
    /// [`random_pairs`]), m per blocking rule and the share of records with a match by EM
    /// on the candidate pairs of `sample`.
    pub fn estimate(
        &mut self,
        random: &[Gamma],
        sample: &Sample,
        max_iterations: usize,
    ) -> EmReport {
        let random = em::RandomPairs {
            gammas: random,
            register_size: self.records.len(),
        };
        let sessions = em::Sessions {
            shared: &sample.shared,
            rules: &self.rules,
        };
        let (model, report) = em::estimate(
            &self.scorer.model,
            &sample.gammas,
            &sample.ends,
            Some(random),
            Some(sessions),
            max_iterations,
            1e-4,
        );
        self.scorer.model = model;
        report
    }

    /// Scores every candidate of `crm` and decides. Candidates are first ranked by weight
    /// alone (from `levels`, their comparison vectors, where EM already compared them);
    /// only those that can still matter get a full explanation.
    pub fn link(
        &self,
        crm: &Prepared,
        levels: Option<&[Gamma]>,
        thresholds: &Thresholds,
    ) -> Linked {
        let (scored, candidates) = self.scorer.rank(crm, self.candidates(crm), levels);
        Linked {
            decision: decide(scored, thresholds),
            candidates,
        }
    }
}

/// Candidate pairs compared for EM, record by record.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// The pairs' comparison vectors.
    pub gammas: Vec<Gamma>,
    /// Per pair, bit `r` set where both records have the same key under blocking rule `r`.
    pub shared: Vec<u64>,
    /// Where each record's pairs end.
    pub ends: Vec<usize>,
}

impl Sample {
    /// Adds one record's pairs.
    pub fn push(&mut self, pairs: Vec<(Gamma, u64)>) {
        for (gamma, shared) in pairs {
            self.gammas.push(gamma);
            self.shared.push(shared);
        }
        self.ends.push(self.gammas.len());
    }

    /// The comparison vectors of record `i`'s pairs.
    pub fn levels(&self, i: usize) -> &[Gamma] {
        let from = i.checked_sub(1).map_or(0, |p| self.ends[p]);
        &self.gammas[from..self.ends[i]]
    }
}

/// `n` pairs of a CRM record and a register record, both drawn at random (seeded: the same
/// pairs for the same data): non-matches all but by chance, for counting u.
pub fn random_gammas(
    model: &Model,
    crm_records: &[Prepared],
    register: &[Prepared],
    n: usize,
) -> Vec<Gamma> {
    random_pairs(crm_records.len(), register.len(), n)
        .into_iter()
        .map(|(c, r)| gamma(model, &crm_records[c], &register[r]))
        .collect()
}

/// `n` pairs of a CRM record number and a register record number below the given counts,
/// drawn at random with a fixed seed; none when either side is empty.
pub fn random_pairs(crm: usize, register: usize, n: usize) -> Vec<(usize, usize)> {
    if crm == 0 || register == 0 {
        return Vec::new();
    }
    let mut rng = fastrand::Rng::with_seed(0x5EED);
    (0..n)
        .map(|_| (rng.usize(..crm), rng.usize(..register)))
        .collect()
}

/// CRM records whose candidate pairs are compared at a time for EM: enough to share out
/// over threads, few enough not to compare far past the sample's limit.
const GAMMA_CHUNK: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::Record;

    #[test]
    fn pins_are_validated_with_the_key() {
        let mut s = MatchSettings::default();
        s.fields.insert(
            Field::LegalName,
            FieldParams {
                m: [0.9, 0.1, 0.1],
                u: [0.1, 0.1, 0.8],
            },
        );
        assert_eq!(
            s.validate(EntityKind::Organisation).unwrap_err().0,
            "fields.legal_name.m"
        );
        let mut s = MatchSettings::default();
        s.fields.insert(
            Field::Lei,
            FieldParams {
                m: [0.9, 0.0, 0.1],
                u: [0.1, 0.0, 0.9],
            },
        );
        assert!(s
            .validate(EntityKind::Contact)
            .unwrap_err()
            .1
            .contains("not compared"));
    }

    #[test]
    fn near_twins_are_ambiguous_not_matched() {
        let reg = |id: &str, name: &str| {
            Prepared::new(
                EntityKind::Organisation,
                &Record::new(id)
                    .with(Field::LegalName, name)
                    .with(Field::Street, "Hauptstraße 1")
                    .with(Field::Postcode, "80331")
                    .with(Field::City, "München"),
            )
        };
        let settings = MatchSettings {
            term_frequency: false,
            ..MatchSettings::default()
        };
        let linker = Linker::new(
            EntityKind::Organisation,
            &BlockingSettings::default(),
            &settings,
            vec![
                reg("r1", "Nord Bau GmbH"),
                reg("r2", "Nord Bau GmbH"),
                reg("r3", "Weber Holz KG"),
            ],
        )
        .unwrap();
        let crm = reg("c", "Nordbau GmbH");
        let linked = linker.link(&crm, None, &Thresholds::default());
        assert_eq!(linked.candidates, 3);
        match linked.decision {
            Decision::Ambiguous { candidates } => {
                let ids: Vec<&str> = candidates.iter().map(|c| c.register_id.as_str()).collect();
                assert_eq!(ids, ["r1", "r2"]);
            }
            other => panic!("expected ambiguous, got {other:?}"),
        }
        let clear = reg("c", "Weber Holz KG");
        assert!(
            matches!(linker.link(&clear, None, &Thresholds::default()).decision, Decision::Matched { ref best, .. } if best.register_id == "r3")
        );
    }
}
