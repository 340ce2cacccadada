//! The data-quality report (Datenaudit) of a job: how complete, valid, consistent and
//! current the CRM's records are, how the last passes matched them, who may be addressed
//! over which channel, and what a correction costs in steward time; broken down by
//! industry, region and legal form. Pure: the caller reads the CRM and the store.
//!
//! Every figure is a count of records (or values) out of a base, never a record's value;
//! mapping targets and segment keys are entries of controlled lists (WZ codes, legal
//! forms, ISO countries, salutations, Bundesländer). So no personal data reaches a report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;
use serde::Serialize;

use super::consent::{self, Channel, Consent, Ground};
use super::contact::is_valid_email;
use super::model::{
    snake_names, ChangeStatus, EntityKind, Field, MatchStatus, MergeStatus, PassOutcome, Policy,
    Record,
};
use super::normalise::{canonical_legal_form, e164};
use super::picklist;
use super::policy::Placeholders;
use super::postcode::{self, PostcodeCheck};
use super::size::{size_class, SizeClass};
use super::validate::{self, VatCheck};

/// The report's sections, in the order of the issue that asked for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    Completeness,
    Validity,
    Consistency,
    Currency,
    MatchStatus,
    Reachability,
    Duplicates,
    Cost,
}

/// What a figure counts.
// Serialised by its name below: serde's snake_case would write `within30_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub enum Measure {
    /// Values that are there and not a placeholder.
    Filled,
    /// Values such as `k.A.` or `-`: counted as empty.
    Placeholder,
    Empty,
    /// Values that fail their check (check digits, syntax).
    Invalid,
    /// German postcodes that do not exist.
    UnknownPostcode,
    /// German postcodes that exist, but not for the record's city.
    PostcodeOtherCity,
    /// Values already in the controlled list.
    InList,
    /// Values typed as free text where a controlled list belongs.
    FreeText,
    /// Free-text values refsync would map onto the list (`detail`: the target).
    MappedTo,
    VerifiedWithin30Days,
    VerifiedWithin90Days,
    VerifiedWithin365Days,
    VerifiedLonger,
    NeverVerified,
    /// The register says the entity is dissolved, inactive or merged.
    Inactive,
    ModifiedWithin30Days,
    ModifiedWithin90Days,
    ModifiedWithin365Days,
    ModifiedLonger,
    /// The CRM keeps no (readable) modification date.
    ModifiedUnknown,
    /// Records with this match status now (subject: the status).
    Records,
    /// Contacts that may be addressed over the channel (subject).
    Allowed,
    /// Contacts that may not (`detail`: why).
    Refused,
    /// Records in a cluster of duplicates.
    InCluster,
    /// Clusters of duplicates (of: the records in them).
    Clusters,
    /// Merges proposed for clusters (`detail`: their status).
    Merges,
}

snake_names!(Section {
    Completeness => "completeness",
    Validity => "validity",
    Consistency => "consistency",
    Currency => "currency",
    MatchStatus => "match_status",
    Reachability => "reachability",
    Duplicates => "duplicates",
    Cost => "cost",
});

snake_names!(Measure {
    Filled => "filled",
    Placeholder => "placeholder",
    Empty => "empty",
    Invalid => "invalid",
    UnknownPostcode => "unknown_postcode",
    PostcodeOtherCity => "postcode_other_city",
    InList => "in_list",
    FreeText => "free_text",
    MappedTo => "mapped_to",
    VerifiedWithin30Days => "verified_within_30_days",
    VerifiedWithin90Days => "verified_within_90_days",
    VerifiedWithin365Days => "verified_within_365_days",
    VerifiedLonger => "verified_longer",
    NeverVerified => "never_verified",
    Inactive => "inactive",
    ModifiedWithin30Days => "modified_within_30_days",
    ModifiedWithin90Days => "modified_within_90_days",
    ModifiedWithin365Days => "modified_within_365_days",
    ModifiedLonger => "modified_longer",
    ModifiedUnknown => "modified_unknown",
    Records => "records",
    Allowed => "allowed",
    Refused => "refused",
    InCluster => "in_cluster",
    Clusters => "cluster_count",
    Merges => "merge_status",
});

/// One figure: `count` out of `of`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figure {
    pub section: Section,
    /// What is counted: a canonical field, a match status (or `not_checked`), a channel,
    /// or `records`.
    pub subject: String,
    pub measure: Measure,
    /// The target of a mapping, or the ground of a refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub count: u64,
    /// The base: records of the segment, or values checked.
    pub of: u64,
}

impl Figure {
    /// `subject.measure[.detail]`: the figure's name in CSV rows.
    pub fn name(&self) -> String {
        let mut name = format!("{}.{}", self.subject, self.measure);
        if let Some(detail) = &self.detail {
            name.push('.');
            name.push_str(detail);
        }
        name
    }

    /// `count` as a share of `of` (0 when there is no base).
    pub fn share(&self) -> f64 {
        if self.of == 0 {
            0.0
        } else {
            self.count as f64 / self.of as f64
        }
    }
}

/// How records are grouped into segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// WZ 2008 section (`A`–`U`) of the industry code or of the free text mapped onto one.
    Industry,
    /// Bundesland of a German postcode.
    Region,
    /// The canonical legal form.
    LegalForm,
    /// The EU size class of the headcount (`<10`, `10-49`, `50-249`, `250+`).
    Size,
}

snake_names!(Dimension {
    Industry => "industry",
    Region => "region",
    LegalForm => "legal_form",
    Size => "size",
});

/// The per-record figures of one segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    pub dimension: Dimension,
    /// The segment's key (`J`, `Bayern`, `GmbH`); `None`: records without one.
    pub key: Option<String>,
    pub records: u64,
    pub figures: Vec<Figure>,
}

/// What the store says about one record after the last pass that checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusFact {
    pub status: MatchStatus,
    /// Last time the record was found in the register.
    pub verified_at: Option<NaiveDateTime>,
}

/// One pass and its match-status counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassFigures {
    pub id: i64,
    pub started_at: NaiveDateTime,
    pub outcome: PassOutcome,
    pub records_read: i64,
    pub counts: BTreeMap<MatchStatus, i64>,
}

/// One stored change, as the cost figures need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFact {
    pub pass_id: i64,
    pub field: String,
    pub policy: Policy,
    pub status: ChangeStatus,
    /// Decided by refsync itself (applied automatically), not by a person.
    pub by_system: bool,
}

/// Proposals waiting on one field, and the policy that sends them to review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldLoad {
    pub field: String,
    pub policy: Policy,
    pub proposals: u64,
    /// Steward hours they take at the measured rate.
    pub hours: Option<f64>,
}

/// What a correction costs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    /// Changes of the last pass refsync applied (or approved) by itself.
    pub automatic: u64,
    /// Changes that wait for a steward now.
    pub for_review: u64,
    /// Decisions of people in the audit log the rate was measured on.
    pub decisions: u64,
    /// Decisions per hour of review work (gaps over [`SESSION_GAP_MINUTES`] are breaks);
    /// `None` until there are two decisions in one sitting.
    pub decisions_per_hour: Option<f64>,
    /// Steward hours the waiting changes take at that rate.
    pub review_hours: Option<f64>,
    /// The fields with the most waiting proposals, most first: their policies would cut
    /// the review most.
    pub by_field: Vec<FieldLoad>,
}

/// A pause longer than this between two decisions ends a sitting.
pub const SESSION_GAP_MINUTES: i64 = 30;
/// Fields listed under "what would cut the review most".
pub const TOP_FIELDS: usize = 5;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub kind: EntityKind,
    pub generated_at: NaiveDateTime,
    pub records: u64,
    /// No pass has checked this job's records yet: the figures are the CRM's alone.
    pub crm_only: bool,
    pub figures: Vec<Figure>,
    pub segments: Vec<Segment>,
    /// The last passes, newest first (the first is "the last pass").
    pub passes: Vec<PassFigures>,
    /// `None` without a pass.
    pub cost: Option<Cost>,
}

/// Everything a report is computed from.
pub struct Inputs<'a> {
    pub kind: EntityKind,
    pub now: NaiveDateTime,
    /// The fields the CRM maps for this kind: completeness is measured on these.
    pub fields: &'a [Field],
    pub placeholders: &'a [String],
    /// By record id; records without one were never checked.
    pub statuses: &'a HashMap<String, StatusFact>,
    /// Newest first; empty: no pass yet.
    pub passes: &'a [PassFigures],
    pub changes: &'a [ChangeFact],
    /// Consent records by contact id.
    pub consents: &'a HashMap<String, Vec<Consent>>,
    /// Ids of erased contacts.
    pub erased: &'a HashSet<String>,
    /// When people decided (approved, rejected, confirmed a match, …), any order.
    pub decisions: &'a [NaiveDateTime],
    /// The modification time of a record, as the CRM writes it, read.
    pub modified_at: &'a (dyn Fn(&Record) -> Option<NaiveDateTime> + Sync),
    /// `None`: the job does not look for duplicates, so there is no such section (no
    /// duplicates found and none looked for are not the same).
    pub duplicates: Option<&'a Duplicates>,
}

/// What the store knows of a job's duplicates: the cluster of each record in one, and the
/// status of every merge proposed.
#[derive(Debug, Default)]
pub struct Duplicates {
    pub cluster_of: HashMap<String, String>,
    pub merges: Vec<MergeStatus>,
}

/// The report of `inputs` over records given batch by batch: a record is judged as it
/// comes and only its small [`Facts`] are kept, so a CRM of millions is never held whole.
pub struct Audit<'i, 'a> {
    ctx: Context<'i, 'a>,
    facts: Vec<Facts>,
}

impl<'i, 'a> Audit<'i, 'a> {
    pub fn new(inputs: &'i Inputs<'a>) -> Self {
        Audit {
            ctx: Context::new(inputs),
            facts: Vec::new(),
        }
    }

    pub fn add(&mut self, records: &[Record]) {
        self.facts.extend(records.iter().map(|r| self.ctx.facts(r)));
    }

    pub fn finish(self) -> Report {
        let Audit { ctx, facts } = self;
        let inputs = ctx.inputs;
        let crm_only = inputs.passes.is_empty();
        // Each record was judged once; the whole and every segment count the same facts.
        let all: Vec<&Facts> = facts.iter().collect();
        let mut figures = ctx.figures(&all, crm_only);
        if let Some(duplicates) = inputs.duplicates {
            figures.extend(merge_figures(&duplicates.merges));
        }
        let mut segments = Vec::new();
        for (d, dimension) in DIMENSIONS.iter().enumerate() {
            if !inputs.fields.contains(&dimension_field(*dimension)) {
                continue;
            }
            let mut groups: BTreeMap<Option<&str>, Vec<&Facts>> = BTreeMap::new();
            for f in &all {
                groups.entry(f.keys[d].as_deref()).or_default().push(f);
            }
            for (key, members) in groups {
                segments.push(Segment {
                    dimension: *dimension,
                    key: key.map(str::to_string),
                    records: members.len() as u64,
                    figures: ctx.figures(&members, crm_only),
                });
            }
        }
        Report {
            kind: inputs.kind,
            generated_at: inputs.now,
            records: facts.len() as u64,
            crm_only,
            figures,
            segments,
            passes: inputs.passes.to_vec(),
            cost: (!crm_only).then(|| cost(inputs)),
        }
    }
}

/// The merges of the job by status, of all merges proposed so far (whole job only: a merge
/// spans records of several segments).
fn merge_figures(merges: &[MergeStatus]) -> Vec<Figure> {
    let mut out = Figures(Vec::new());
    for status in MergeStatus::ALL {
        let count = merges.iter().filter(|m| *m == status).count() as u64;
        let detail = Some(status.as_str().to_string());
        out.add_detailed(
            Section::Duplicates,
            "merges",
            Measure::Merges,
            detail,
            count,
            merges.len() as u64,
        );
    }
    out.0
}

pub const DIMENSIONS: [Dimension; 4] = [
    Dimension::Industry,
    Dimension::Region,
    Dimension::LegalForm,
    Dimension::Size,
];

/// The field a dimension's key comes from; without it mapped there are no such segments.
fn dimension_field(dimension: Dimension) -> Field {
    match dimension {
        Dimension::Industry => Field::IndustryCode,
        Dimension::Region => Field::Postcode,
        Dimension::LegalForm => Field::LegalForm,
        Dimension::Size => Field::Employees,
    }
}

/// Whether a value cannot be right.
type Check = fn(&str) -> bool;

const CHECKS: [(Field, Check); 5] = [
    (Field::Lei, |v| validate::lei(v).is_none()),
    (Field::VatId, |v| {
        matches!(validate::vat_id(v), VatCheck::Invalid(_))
    }),
    (Field::RegisterNumber, |v| {
        validate::register_number(v).is_none()
    }),
    (Field::Email, |v| !is_valid_email(v)),
    (Field::Phone, |v| e164(v, "49").is_none()),
];

const VERIFIED: [Measure; 6] = [
    Measure::VerifiedWithin30Days,
    Measure::VerifiedWithin90Days,
    Measure::VerifiedWithin365Days,
    Measure::VerifiedLonger,
    Measure::NeverVerified,
    Measure::Inactive,
];

const MODIFIED: [Measure; 5] = [
    Measure::ModifiedWithin30Days,
    Measure::ModifiedWithin90Days,
    Measure::ModifiedWithin365Days,
    Measure::ModifiedLonger,
    Measure::ModifiedUnknown,
];

/// What one record contributes to the figures.
struct Facts {
    /// Per field of [`Inputs::fields`]: filled, placeholder or empty.
    fill: Vec<Measure>,
    /// Per check of [`Context::checks`]: `None` without a value, else whether it is invalid.
    invalid: Vec<Option<bool>>,
    /// `None` without a postcode.
    postcode: Option<PostcodeCheck>,
    /// Per field of [`Context::picks`]: `None` without a value, else whether it is in the
    /// list and what it would map onto.
    picks: Vec<Option<(bool, Option<String>)>>,
    verified: Measure,
    modified: Measure,
    status: Option<MatchStatus>,
    /// Per channel (contacts): allowed, and on what ground.
    reach: Vec<(Channel, bool, Ground)>,
    /// Per dimension of [`DIMENSIONS`].
    keys: [Option<String>; DIMENSIONS.len()],
    /// The record's cluster of duplicates, if it is in one.
    cluster: Option<String>,
}

/// What every record is judged against, prepared once.
struct Context<'i, 'a> {
    inputs: &'i Inputs<'a>,
    placeholders: Placeholders,
    checks: Vec<(Field, Check)>,
    picks: Vec<Field>,
}

impl<'i, 'a> Context<'i, 'a> {
    fn new(inputs: &'i Inputs<'a>) -> Self {
        let mapped = |f: &Field| inputs.fields.contains(f);
        Context {
            inputs,
            placeholders: Placeholders::new(inputs.placeholders),
            checks: CHECKS.iter().filter(|(f, _)| mapped(f)).copied().collect(),
            picks: picklist::fields(inputs.kind)
                .iter()
                .filter(|f| mapped(f))
                .copied()
                .collect(),
        }
    }

    /// The value of `field` unless it is blank or a placeholder.
    fn known<'r>(&self, record: &'r Record, field: Field) -> Option<&'r str> {
        record.get(field).filter(|v| !self.placeholders.matches(v))
    }

    fn facts(&self, record: &Record) -> Facts {
        let inputs = self.inputs;
        let known = |field| self.known(record, field);
        let fill = inputs
            .fields
            .iter()
            .map(|f| match record.get(*f) {
                Some(v) if self.placeholders.matches(v) => Measure::Placeholder,
                Some(_) => Measure::Filled,
                None => Measure::Empty,
            })
            .collect();
        let invalid = self
            .checks
            .iter()
            .map(|(field, invalid)| known(*field).map(invalid))
            .collect();
        let postcode = inputs
            .fields
            .contains(&Field::Postcode)
            .then(|| known(Field::Postcode))
            .flatten()
            .map(|plz| postcode::check(plz, known(Field::City), known(Field::Country)));
        let mappings = if self.picks.is_empty() {
            Vec::new()
        } else {
            picklist::mappings(inputs.kind, record)
        };
        let picks = self
            .picks
            .iter()
            .map(|field| {
                known(*field).map(|v| {
                    let to = mappings.iter().find(|m| m.field == *field);
                    (picklist::in_list(*field, v), to.map(|m| m.to.clone()))
                })
            })
            .collect();
        // The first four of `buckets` by age: within 30, 90, 365 days, or longer.
        let by_age = |at: NaiveDateTime, buckets: &[Measure]| match (inputs.now - at).num_days() {
            ..=30 => buckets[0],
            31..=90 => buckets[1],
            91..=365 => buckets[2],
            _ => buckets[3],
        };
        let state = inputs.statuses.get(&record.id);
        let verified = match state {
            Some(s) if s.status == MatchStatus::Inactive => Measure::Inactive,
            Some(StatusFact {
                verified_at: Some(at),
                ..
            }) => by_age(*at, &VERIFIED),
            _ => Measure::NeverVerified,
        };
        let modified = match (inputs.modified_at)(record) {
            Some(at) => by_age(at, &MODIFIED),
            None => Measure::ModifiedUnknown,
        };
        let reach = if inputs.kind != EntityKind::Contact {
            Vec::new()
        } else if inputs.erased.contains(&record.id) {
            consent::erased(inputs.now.date())
        } else {
            let (audience, _) = consent::audience_of(Some(record));
            let held = inputs
                .consents
                .get(&record.id)
                .map_or(&[][..], Vec::as_slice);
            consent::verdicts(audience, held, inputs.now)
        };
        let industry = known(Field::IndustryCode).and_then(|v| {
            picklist::wz_section(v).or_else(|| {
                let mapped = mappings.iter().find(|m| m.field == Field::IndustryCode)?;
                picklist::wz_section(&mapped.to)
            })
        });
        let region =
            known(Field::Postcode).and_then(|v| postcode::bundesland(v, known(Field::Country)));
        let legal_form = known(Field::LegalForm).and_then(canonical_legal_form);
        let size = known(Field::Employees)
            .and_then(size_class)
            .map(SizeClass::key);
        Facts {
            fill,
            invalid,
            postcode,
            picks,
            verified,
            modified,
            status: state.map(|s| s.status),
            reach: reach
                .into_iter()
                .map(|v| (v.channel, v.allowed, v.ground))
                .collect(),
            keys: [industry, region, legal_form, size].map(|k| k.map(str::to_string)),
            cluster: inputs
                .duplicates
                .and_then(|d| d.cluster_of.get(&record.id).cloned()),
        }
    }

    /// The figures 1–4, 6 (status now) and 7 of `records`.
    fn figures(&self, records: &[&Facts], crm_only: bool) -> Vec<Figure> {
        let n = records.len() as u64;
        let mut out = Figures(Vec::new());

        // 1. Completeness.
        for (i, field) in self.inputs.fields.iter().enumerate() {
            let fill = tally(records, |f| f.fill[i]);
            for measure in [Measure::Filled, Measure::Placeholder, Measure::Empty] {
                let count = fill.get(&measure).copied().unwrap_or(0);
                out.add(Section::Completeness, field.as_str(), measure, count, n);
            }
        }

        // 2. Validity: of the values there, those that cannot be right.
        for (i, (field, _)) in self.checks.iter().enumerate() {
            let checked = tally(records.iter().filter_map(|f| f.invalid[i]), |bad| bad);
            let bad = checked.get(&true).copied().unwrap_or(0);
            let values = checked.values().sum();
            out.add(
                Section::Validity,
                field.as_str(),
                Measure::Invalid,
                bad,
                values,
            );
        }
        if self.inputs.fields.contains(&Field::Postcode) {
            let verdicts = tally(records.iter().filter_map(|f| f.postcode), |c| c);
            let count = |c: PostcodeCheck| verdicts.get(&c).copied().unwrap_or(0);
            let german = verdicts.values().sum::<u64>() - count(PostcodeCheck::NotGerman);
            for (check, measure) in [
                (PostcodeCheck::Unknown, Measure::UnknownPostcode),
                (PostcodeCheck::OtherCity, Measure::PostcodeOtherCity),
            ] {
                let subject = Field::Postcode.as_str();
                out.add(Section::Validity, subject, measure, count(check), german);
            }
        }

        // 3. Consistency: free text where a pick list belongs, and what it would map onto.
        for (i, field) in self.picks.iter().enumerate() {
            let values: Vec<&(bool, Option<String>)> =
                records.iter().filter_map(|f| f.picks[i].as_ref()).collect();
            let total = values.len() as u64;
            let in_list = values.iter().filter(|(listed, _)| *listed).count() as u64;
            let section = Section::Consistency;
            let subject = field.as_str();
            out.add(section, subject, Measure::InList, in_list, total);
            out.add(section, subject, Measure::FreeText, total - in_list, total);
            let targets = tally(values.iter().filter_map(|(_, to)| to.as_ref()), |to| to);
            for (to, count) in targets {
                let detail = Some(to.clone());
                out.add_detailed(section, subject, Measure::MappedTo, detail, count, total);
            }
        }

        // 4. Currency: verified against the register, and the CRM's own modification dates.
        let mut ages: Vec<(&[Measure], BTreeMap<Measure, u64>)> = Vec::new();
        if !crm_only {
            ages.push((&VERIFIED, tally(records, |f| f.verified)));
        }
        ages.push((&MODIFIED, tally(records, |f| f.modified)));
        for (measures, counts) in ages {
            for measure in measures {
                let count = counts.get(measure).copied().unwrap_or(0);
                out.add(Section::Currency, "records", *measure, count, n);
            }
        }

        // 6. Match status of each record now (the pass counts are in `Report::passes`).
        if !crm_only {
            let statuses = tally(records, |f| f.status);
            let subjects = MatchStatus::ALL
                .iter()
                .map(|s| (Some(*s), s.as_str()))
                .chain([(None, NOT_CHECKED)]);
            for (status, subject) in subjects {
                let count = statuses.get(&status).copied().unwrap_or(0);
                out.add(Section::MatchStatus, subject, Measure::Records, count, n);
            }
        }

        // 7. Reachability per channel under UWG §7.
        if self.inputs.kind == EntityKind::Contact {
            let grounds = tally(records.iter().flat_map(|f| &f.reach), |v| *v);
            for &channel in Channel::ALL {
                let allowed: u64 = grounds
                    .iter()
                    .filter(|((c, ok, _), _)| *c == channel && *ok)
                    .map(|(_, n)| n)
                    .sum();
                let section = Section::Reachability;
                out.add(section, channel.as_str(), Measure::Allowed, allowed, n);
                for ground in REFUSALS {
                    let count = grounds
                        .get(&(channel, false, *ground))
                        .copied()
                        .unwrap_or(0);
                    let detail = Some(ground.as_str().to_string());
                    out.add_detailed(
                        section,
                        channel.as_str(),
                        Measure::Refused,
                        detail,
                        count,
                        n,
                    );
                }
            }
        }

        // 5. Duplicates: records in clusters, and how many clusters they make.
        if self.inputs.duplicates.is_some() {
            let clusters: HashSet<&str> = records
                .iter()
                .filter_map(|f| f.cluster.as_deref())
                .collect();
            let in_cluster = records.iter().filter(|f| f.cluster.is_some()).count() as u64;
            let section = Section::Duplicates;
            out.add(section, "records", Measure::InCluster, in_cluster, n);
            out.add(
                section,
                "clusters",
                Measure::Clusters,
                clusters.len() as u64,
                in_cluster,
            );
        }
        out.0
    }
}

/// Accumulates figures in a stable order.
struct Figures(Vec<Figure>);

impl Figures {
    fn add(&mut self, section: Section, subject: &str, measure: Measure, count: u64, of: u64) {
        self.add_detailed(section, subject, measure, None, count, of);
    }

    fn add_detailed(
        &mut self,
        section: Section,
        subject: &str,
        measure: Measure,
        detail: Option<String>,
        count: u64,
        of: u64,
    ) {
        self.0.push(Figure {
            section,
            subject: subject.to_string(),
            measure,
            detail,
            count,
            of,
        });
    }
}

/// Counts how many of `items` fall in each bucket, in the buckets' order.
fn tally<T, B: Ord>(
    items: impl IntoIterator<Item = T>,
    bucket: impl Fn(T) -> B,
) -> BTreeMap<B, u64> {
    let mut counts = BTreeMap::new();
    for item in items {
        *counts.entry(bucket(item)).or_insert(0) += 1;
    }
    counts
}

/// The subject of the records no pass has checked.
pub const NOT_CHECKED: &str = "not_checked";

/// The grounds on which a channel is closed, in the order the report lists them.
pub const REFUSALS: &[Ground] = &[
    Ground::NoConsent,
    Ground::ConsumerWithoutOptIn,
    Ground::OptInWithoutProof,
    Ground::Revoked,
    Ground::Erased,
];

/// 9. What a correction costs.
fn cost(inputs: &Inputs) -> Cost {
    let last = inputs.passes.first().map(|p| p.id);
    let automatic = inputs
        .changes
        .iter()
        .filter(|c| Some(c.pass_id) == last && c.by_system)
        .filter(|c| matches!(c.status, ChangeStatus::Applied | ChangeStatus::Approved))
        .count() as u64;
    let waiting: Vec<&ChangeFact> = inputs
        .changes
        .iter()
        .filter(|c| c.status == ChangeStatus::Proposed)
        .collect();
    let rate = decisions_per_hour(inputs.decisions);
    let hours = |n: u64| rate.map(|r| n as f64 / r);
    let mut by_field: Vec<FieldLoad> = tally(waiting.iter(), |c| (c.field.clone(), c.policy))
        .into_iter()
        .map(|((field, policy), proposals)| FieldLoad {
            field,
            policy,
            proposals,
            hours: hours(proposals),
        })
        .collect();
    by_field.sort_by(|a, b| b.proposals.cmp(&a.proposals).then(a.field.cmp(&b.field)));
    by_field.truncate(TOP_FIELDS);
    Cost {
        automatic,
        for_review: waiting.len() as u64,
        decisions: inputs.decisions.len() as u64,
        decisions_per_hour: rate,
        review_hours: hours(waiting.len() as u64),
        by_field,
    }
}

/// Decisions per hour of review work: the gaps between consecutive decisions of one
/// sitting (a gap over [`SESSION_GAP_MINUTES`] is a break, not work), summed; `None`
/// without such a gap.
pub fn decisions_per_hour(decisions: &[NaiveDateTime]) -> Option<f64> {
    let mut sorted = decisions.to_vec();
    sorted.sort();
    let gaps: Vec<i64> = sorted
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .filter(|ms| *ms <= SESSION_GAP_MINUTES * 60_000)
        .collect();
    let ms: i64 = gaps.iter().sum();
    (ms > 0).then(|| gaps.len() as f64 * 3_600_000.0 / ms as f64)
}

/// One CSV row: a figure of a segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub section: Section,
    pub figure: String,
    /// `all`, or `dimension=key` (`region=Bayern`; `region=` for records without one).
    pub segment: String,
    pub value: String,
    /// The base of a count; empty for figures that are no count.
    pub of: String,
}

impl Report {
    /// The report as rows: one per figure and segment, then the pass trend and the cost.
    pub fn rows(&self) -> Vec<Row> {
        let row = |f: &Figure, segment: String| Row {
            section: f.section,
            figure: f.name(),
            segment,
            value: f.count.to_string(),
            of: f.of.to_string(),
        };
        let mut rows: Vec<Row> = self.figures.iter().map(|f| row(f, "all".into())).collect();
        for s in &self.segments {
            let segment = format!("{}={}", s.dimension, s.key.as_deref().unwrap_or(""));
            rows.extend(s.figures.iter().map(|f| row(f, segment.clone())));
        }
        for pass in &self.passes {
            for (status, count) in &pass.counts {
                rows.push(Row {
                    section: Section::MatchStatus,
                    figure: format!("pass.{}.{status}", pass.id),
                    segment: "all".into(),
                    value: count.to_string(),
                    of: pass.records_read.to_string(),
                });
            }
        }
        if let Some(cost) = &self.cost {
            let plain = |figure: &str, value: String| Row {
                section: Section::Cost,
                figure: figure.to_string(),
                segment: "all".into(),
                value,
                of: String::new(),
            };
            let decimal = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.2}"));
            rows.push(plain("changes.automatic", cost.automatic.to_string()));
            rows.push(plain("changes.for_review", cost.for_review.to_string()));
            rows.push(plain("decisions.measured", cost.decisions.to_string()));
            rows.push(plain(
                "decisions.per_hour",
                decimal(cost.decisions_per_hour),
            ));
            rows.push(plain("review.hours", decimal(cost.review_hours)));
            for load in &cost.by_field {
                rows.push(plain(
                    &format!("proposals.{}.{}", load.field, load.policy),
                    load.proposals.to_string(),
                ));
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::consent::{ConsentStatus, DoubleOptIn};
    use chrono::{Duration, NaiveDate};

    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 6, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    /// Everything empty but `records`, `kind` and `fields`: a test sets what it needs.
    struct Given {
        kind: EntityKind,
        records: Vec<Record>,
        fields: Vec<Field>,
        statuses: HashMap<String, StatusFact>,
        passes: Vec<PassFigures>,
        changes: Vec<ChangeFact>,
        consents: HashMap<String, Vec<Consent>>,
        erased: HashSet<String>,
        decisions: Vec<NaiveDateTime>,
        duplicates: Option<Duplicates>,
    }

    fn given(kind: EntityKind, fields: &[Field], records: Vec<Record>) -> Given {
        Given {
            kind,
            records,
            fields: fields.to_vec(),
            statuses: HashMap::new(),
            passes: Vec::new(),
            changes: Vec::new(),
            consents: HashMap::new(),
            erased: HashSet::new(),
            decisions: Vec::new(),
            duplicates: None,
        }
    }

    fn a_pass(id: i64) -> PassFigures {
        PassFigures {
            id,
            started_at: now(),
            outcome: PassOutcome::Succeeded,
            records_read: 0,
            counts: BTreeMap::new(),
        }
    }

    impl Given {
        fn report(&self) -> Report {
            let placeholders: Vec<String> = crate::domain::policy::DEFAULT_PLACEHOLDERS
                .iter()
                .map(|s| s.to_string())
                .collect();
            // The tests write the modification time as `YYYY-MM-DD`.
            let modified_at = |r: &Record| {
                let at = r.modified.as_ref()?.at.as_deref()?;
                NaiveDate::parse_from_str(at, "%Y-%m-%d")
                    .ok()?
                    .and_hms_opt(0, 0, 0)
            };
            let inputs = Inputs {
                kind: self.kind,
                now: now(),
                fields: &self.fields,
                placeholders: &placeholders,
                statuses: &self.statuses,
                passes: &self.passes,
                changes: &self.changes,
                consents: &self.consents,
                erased: &self.erased,
                decisions: &self.decisions,
                modified_at: &modified_at,
                duplicates: self.duplicates.as_ref(),
            };
            // In batches of two, as a CRM is read: the figures may not depend on batches.
            let mut audit = Audit::new(&inputs);
            for batch in self.records.chunks(2) {
                audit.add(batch);
            }
            audit.finish()
        }
    }

    /// (count, of) of the figure `subject.measure[.detail]` over all records.
    fn figure(report: &Report, name: &str) -> (u64, u64) {
        let f = report
            .figures
            .iter()
            .find(|f| f.name() == name)
            .unwrap_or_else(|| panic!("no figure {name}"));
        (f.count, f.of)
    }

    fn org(id: &str, values: &[(Field, &str)]) -> Record {
        values
            .iter()
            .fold(Record::new(id), |r, (f, v)| r.with(*f, *v))
    }

    #[test]
    fn duplicates_count_records_in_clusters_clusters_and_merges_by_status() {
        let records: Vec<Record> = (1..=6).map(|i| org(&i.to_string(), &[])).collect();
        let mut g = given(EntityKind::Organisation, &[Field::City], records);
        g.duplicates = Some(Duplicates {
            // Two clusters over five records; one clustered record is no longer in the CRM.
            cluster_of: [("1", "a"), ("2", "a"), ("3", "b"), ("4", "b"), ("9", "b")]
                .into_iter()
                .map(|(r, c)| (r.to_string(), c.to_string()))
                .collect(),
            merges: vec![
                MergeStatus::Proposed,
                MergeStatus::Rejected,
                MergeStatus::Proposed,
            ],
        });
        let r = g.report();
        assert_eq!(figure(&r, "records.in_cluster"), (4, 6));
        assert_eq!(figure(&r, "clusters.cluster_count"), (2, 4));
        assert_eq!(figure(&r, "merges.merge_status.proposed"), (2, 3));
        assert_eq!(figure(&r, "merges.merge_status.rejected"), (1, 3));
        assert_eq!(figure(&r, "merges.merge_status.applied"), (0, 3));
    }

    #[test]
    fn a_job_that_does_not_look_for_duplicates_has_no_such_section_rather_than_zero() {
        let records = vec![org("1", &[]), org("2", &[])];
        let r = given(EntityKind::Organisation, &[Field::City], records).report();
        assert!(r.figures.iter().all(|f| f.section != Section::Duplicates));
        let mut g = given(
            EntityKind::Organisation,
            &[Field::City],
            vec![org("1", &[])],
        );
        g.duplicates = Some(Duplicates::default());
        assert_eq!(figure(&g.report(), "records.in_cluster"), (0, 1));
    }

    #[test]
    fn completeness_counts_placeholders_as_empty_but_apart() {
        let records = vec![
            org("1", &[(Field::City, "Köln")]),
            org("2", &[(Field::City, "k.A.")]),
            org("3", &[(Field::City, "-")]),
            org("4", &[(Field::City, "  ")]),
            org("5", &[]),
        ];
        let r = given(EntityKind::Organisation, &[Field::City], records).report();
        assert_eq!(figure(&r, "city.filled"), (1, 5));
        assert_eq!(figure(&r, "city.placeholder"), (2, 5));
        assert_eq!(figure(&r, "city.empty"), (2, 5));
    }

    #[test]
    fn validity_counts_bad_identifiers_addresses_and_numbers_among_the_values_there() {
        // (field, values, invalid among them)
        let cases: &[(Field, &[&str], u64)] = &[
            // The second LEI has a wrong check digit.
            (
                Field::Lei,
                &["529900T8BM49AURSDO55", "529900T8BM49AURSDO56"],
                1,
            ),
            (Field::VatId, &["DE136695976", "DE136695978", "k.A."], 1),
            (Field::RegisterNumber, &["HRB 7042", "7042", "HRA 12 B"], 1),
            (
                Field::Email,
                &["info@example.de", "info@example", "a b@example.de"],
                2,
            ),
            (Field::Phone, &["0221 123456", "123", "+49 30 200000-12"], 1),
        ];
        for (field, values, invalid) in cases {
            let records = values
                .iter()
                .enumerate()
                .map(|(i, v)| org(&i.to_string(), &[(*field, v)]))
                .collect();
            let r = given(EntityKind::Organisation, &[*field], records).report();
            let checked = values.iter().filter(|v| **v != "k.A.").count() as u64;
            assert_eq!(
                figure(&r, &format!("{field}.invalid")),
                (*invalid, checked),
                "{field}"
            );
        }
    }

    #[test]
    fn postcodes_that_do_not_exist_or_do_not_fit_the_city_are_counted_for_german_addresses() {
        let records = vec![
            org("1", &[(Field::Postcode, "80331"), (Field::City, "München")]),
            org("2", &[(Field::Postcode, "80331"), (Field::City, "Hamburg")]),
            org("3", &[(Field::Postcode, "00000"), (Field::City, "Berlin")]),
            org("4", &[(Field::Postcode, "1010"), (Field::Country, "AT")]),
        ];
        let fields = [Field::Postcode, Field::City, Field::Country];
        let r = given(EntityKind::Organisation, &fields, records).report();
        assert_eq!(figure(&r, "postcode.unknown_postcode"), (1, 3));
        assert_eq!(figure(&r, "postcode.postcode_other_city"), (1, 3));
    }

    #[test]
    fn free_text_where_a_pick_list_belongs_is_counted_with_its_mappings() {
        let records = vec![
            org("1", &[(Field::LegalForm, "GmbH"), (Field::Country, "DE")]),
            org(
                "2",
                &[
                    (Field::LegalForm, "Gesellschaft mit beschränkter Haftung"),
                    (Field::Country, "Deutschland"),
                ],
            ),
            org(
                "3",
                &[(Field::LegalForm, "gmbh"), (Field::Country, "Germany")],
            ),
            org(
                "4",
                &[
                    (Field::LegalForm, "Verein ohne Form"),
                    (Field::IndustryCode, "Bäckerei"),
                ],
            ),
            org("5", &[(Field::IndustryCode, "62.01")]),
        ];
        let fields = [Field::LegalForm, Field::Country, Field::IndustryCode];
        let r = given(EntityKind::Organisation, &fields, records).report();
        assert_eq!(figure(&r, "legal_form.in_list"), (1, 4));
        assert_eq!(figure(&r, "legal_form.free_text"), (3, 4));
        assert_eq!(figure(&r, "legal_form.mapped_to.GmbH"), (2, 4));
        assert_eq!(figure(&r, "country.free_text"), (2, 3));
        assert_eq!(figure(&r, "country.mapped_to.DE"), (2, 3));
        assert_eq!(figure(&r, "industry_code.free_text"), (1, 2));
        assert_eq!(figure(&r, "industry_code.mapped_to.10.71"), (1, 2));
    }

    #[test]
    fn currency_buckets_verification_and_modification_ages() {
        let modified = |id: &str, at: Option<&str>| Record {
            modified: Some(crate::domain::model::Modified {
                at: at.map(str::to_string),
                by: None,
            }),
            ..Record::new(id)
        };
        let records = vec![
            modified("fresh", Some("2026-05-20")),
            modified("quarter", Some("2026-04-01")),
            modified("year", Some("2025-09-01")),
            modified("old", Some("2020-01-01")),
            modified("never", None),
            Record::new("inactive"),
        ];
        let mut g = given(EntityKind::Organisation, &[], records);
        g.passes = vec![a_pass(1)];
        let verified = |status, days: Option<i64>| StatusFact {
            status,
            verified_at: days.map(|d| now() - Duration::days(d)),
        };
        g.statuses = [
            ("fresh", verified(MatchStatus::InSync, Some(3))),
            ("quarter", verified(MatchStatus::Different, Some(60))),
            ("year", verified(MatchStatus::InSync, Some(200))),
            ("old", verified(MatchStatus::NotFound, Some(800))),
            ("never", verified(MatchStatus::NotFound, None)),
            ("inactive", verified(MatchStatus::Inactive, Some(1))),
        ]
        .into_iter()
        .map(|(id, s)| (id.to_string(), s))
        .collect();
        let r = g.report();
        for (name, count) in [
            ("records.verified_within_30_days", 1),
            ("records.verified_within_90_days", 1),
            ("records.verified_within_365_days", 1),
            ("records.verified_longer", 1),
            ("records.never_verified", 1),
            ("records.inactive", 1),
            ("records.modified_within_30_days", 1),
            ("records.modified_within_90_days", 1),
            ("records.modified_within_365_days", 1),
            ("records.modified_longer", 1),
            ("records.modified_unknown", 2),
        ] {
            assert_eq!(figure(&r, name), (count, 6), "{name}");
        }
        assert_eq!(figure(&r, "not_found.records"), (2, 6));
        assert_eq!(figure(&r, "not_checked.records"), (0, 6));
    }

    #[test]
    fn without_a_pass_only_the_crm_side_is_reported() {
        let records = vec![org("1", &[(Field::City, "Köln")])];
        let r = given(EntityKind::Organisation, &[Field::City], records).report();
        assert!(r.crm_only);
        assert!(r.cost.is_none());
        assert!(r.figures.iter().all(|f| f.section != Section::MatchStatus));
        assert!(!r
            .figures
            .iter()
            .any(|f| f.measure == Measure::NeverVerified));
        assert_eq!(figure(&r, "records.modified_unknown"), (1, 1));
    }

    fn consent(channel: Channel, status: ConsentStatus) -> Consent {
        let at = now() - Duration::days(10);
        Consent {
            channel,
            status,
            at,
            source: "web form".into(),
            evidence: (channel == Channel::Email && status == ConsentStatus::OptIn).then(|| {
                DoubleOptIn {
                    requested_at: at - Duration::hours(1),
                    confirmed_at: at,
                    confirmed_text: "Ja".into(),
                }
            }),
        }
    }

    #[test]
    fn reachability_counts_contacts_per_channel_and_why_not() {
        let contact = |id: &str, business: bool| {
            let r = Record::new(id).with(Field::LastName, "x");
            if business {
                r.with(Field::OrganisationId, "7")
            } else {
                r
            }
        };
        let records = vec![
            contact("opted_in", false),
            contact("revoked", false),
            contact("consumer", false),
            contact("business", true),
            contact("erased", true),
        ];
        let mut g = given(EntityKind::Contact, &[Field::LastName], records);
        g.consents.insert(
            "opted_in".into(),
            vec![consent(Channel::Email, ConsentStatus::OptIn)],
        );
        g.consents.insert(
            "revoked".into(),
            vec![consent(Channel::Email, ConsentStatus::OptOut)],
        );
        g.erased.insert("erased".into());
        let r = g.report();
        // (figure, count) of 5 contacts
        for (name, count) in [
            ("email.allowed", 1),
            ("email.refused.revoked", 1),
            ("email.refused.consumer_without_opt_in", 1),
            ("email.refused.no_consent", 1),
            ("email.refused.erased", 1),
            ("letter.allowed", 4),
            ("letter.refused.erased", 1),
            ("phone.allowed", 0),
            ("phone.refused.consumer_without_opt_in", 3),
            ("phone.refused.no_consent", 1),
        ] {
            assert_eq!(figure(&r, name), (count, 5), "{name}");
        }
    }

    #[test]
    fn segments_break_the_figures_down_by_industry_region_legal_form_and_size() {
        let records = vec![
            org(
                "1",
                &[
                    (Field::IndustryCode, "62.01"),
                    (Field::Postcode, "80331"),
                    (Field::LegalForm, "GmbH"),
                    (Field::City, "München"),
                    (Field::Employees, "ca. 40"),
                ],
            ),
            org(
                "2",
                &[
                    (Field::IndustryCode, "Softwareentwicklung"),
                    (Field::Postcode, "20095"),
                    (Field::LegalForm, "gmbh"),
                    (Field::Employees, "10-49"),
                ],
            ),
            org(
                "3",
                &[
                    (Field::IndustryCode, "10.71"),
                    (Field::Postcode, "80331"),
                    (Field::LegalForm, "AG"),
                    (Field::Employees, "1.250"),
                ],
            ),
            org("4", &[(Field::Employees, "k.A.")]),
        ];
        let fields = [
            Field::IndustryCode,
            Field::Postcode,
            Field::LegalForm,
            Field::City,
            Field::Employees,
        ];
        let r = given(EntityKind::Organisation, &fields, records).report();
        let segment = |dimension, key: Option<&str>| {
            r.segments
                .iter()
                .find(|s| s.dimension == dimension && s.key.as_deref() == key)
                .unwrap_or_else(|| panic!("no segment {dimension} {key:?}"))
        };
        // (dimension, key, records)
        for (dimension, key, records) in [
            (Dimension::Industry, Some("J"), 2),
            (Dimension::Industry, Some("C"), 1),
            (Dimension::Industry, None, 1),
            (Dimension::Region, Some("Bayern"), 2),
            (Dimension::Region, Some("Hamburg"), 1),
            (Dimension::Region, None, 1),
            (Dimension::LegalForm, Some("GmbH"), 2),
            (Dimension::LegalForm, Some("AG"), 1),
            // A placeholder is no headcount.
            (Dimension::Size, Some("10-49"), 2),
            (Dimension::Size, Some("250+"), 1),
            (Dimension::Size, None, 1),
        ] {
            assert_eq!(
                segment(dimension, key).records,
                records,
                "{dimension} {key:?}"
            );
        }
        // A segment carries the same figures, counted on its records only.
        let bayern = segment(Dimension::Region, Some("Bayern"));
        let city = bayern
            .figures
            .iter()
            .find(|f| f.name() == "city.filled")
            .unwrap();
        assert_eq!((city.count, city.of), (1, 2));
    }

    #[test]
    fn the_decision_rate_leaves_out_breaks_between_sittings() {
        let at = |min: i64| now() + Duration::minutes(min);
        // (decision minutes, decisions per hour)
        let cases: &[(&[i64], Option<f64>)] = &[
            (&[], None),
            (&[0], None),
            // Three gaps of 2 minutes: 30 an hour.
            (&[0, 2, 4, 6], Some(30.0)),
            // The same sitting twice, a day apart: the break does not count.
            (&[0, 2, 4, 6, 1440, 1442, 1444, 1446], Some(30.0)),
            // Any order.
            (&[6, 0, 4, 2], Some(30.0)),
        ];
        for (minutes, want) in cases {
            let times: Vec<NaiveDateTime> = minutes.iter().map(|m| at(*m)).collect();
            assert_eq!(decisions_per_hour(&times), *want, "{minutes:?}");
        }
    }

    #[test]
    fn the_cost_counts_automatic_and_waiting_changes_and_the_fields_that_wait_most() {
        let change = |pass_id, field: &str, policy, status, by_system| ChangeFact {
            pass_id,
            field: field.into(),
            policy,
            status,
            by_system,
        };
        let mut g = given(EntityKind::Organisation, &[], vec![]);
        g.passes = vec![a_pass(2), a_pass(1)];
        g.changes = vec![
            change(2, "city", Policy::Overwrite, ChangeStatus::Applied, true),
            change(2, "lei", Policy::FillEmpty, ChangeStatus::Approved, true),
            // Approved by a person: not automatic.
            change(2, "lei", Policy::FillEmpty, ChangeStatus::Applied, false),
            // An earlier pass's automatic change is not the last pass's.
            change(1, "city", Policy::Overwrite, ChangeStatus::Applied, true),
            change(1, "street", Policy::Propose, ChangeStatus::Proposed, false),
            change(2, "street", Policy::Propose, ChangeStatus::Proposed, false),
            change(
                2,
                "legal_name",
                Policy::Propose,
                ChangeStatus::Proposed,
                false,
            ),
        ];
        // 30 decisions an hour: 3 waiting changes take 0.1 h.
        g.decisions = (0..4).map(|i| now() + Duration::minutes(2 * i)).collect();
        let cost = g.report().cost.expect("a pass ran");
        assert_eq!(cost.automatic, 2);
        assert_eq!(cost.for_review, 3);
        assert_eq!(cost.decisions, 4);
        assert_eq!(cost.decisions_per_hour, Some(30.0));
        assert!((cost.review_hours.unwrap() - 0.1).abs() < 1e-9);
        let loads: Vec<(&str, u64)> = cost
            .by_field
            .iter()
            .map(|l| (l.field.as_str(), l.proposals))
            .collect();
        assert_eq!(loads, [("street", 2), ("legal_name", 1)]);
    }

    #[test]
    fn measures_are_written_by_their_names() {
        for measure in Measure::ALL {
            let json = serde_json::to_value(measure).unwrap();
            assert_eq!(json, measure.as_str(), "{measure:?}");
        }
        assert_eq!(
            Measure::VerifiedWithin30Days.as_str(),
            "verified_within_30_days"
        );
    }

    #[test]
    fn rows_name_each_figure_and_segment_once() {
        let records = vec![org("1", &[(Field::LegalForm, "GmbH")])];
        let mut g = given(EntityKind::Organisation, &[Field::LegalForm], records);
        g.passes = vec![PassFigures {
            counts: [(MatchStatus::InSync, 1)].into_iter().collect(),
            records_read: 1,
            ..a_pass(7)
        }];
        let rows = g.report().rows();
        let keys: HashSet<(String, String)> = rows
            .iter()
            .map(|r| (r.figure.clone(), r.segment.clone()))
            .collect();
        assert_eq!(keys.len(), rows.len(), "a figure twice in one segment");
        let find = |figure: &str, segment: &str| {
            rows.iter()
                .find(|r| r.figure == figure && r.segment == segment)
                .map(|r| (r.value.as_str(), r.of.as_str()))
        };
        assert_eq!(find("legal_form.filled", "all"), Some(("1", "1")));
        assert_eq!(
            find("legal_form.filled", "legal_form=GmbH"),
            Some(("1", "1"))
        );
        assert_eq!(find("pass.7.in_sync", "all"), Some(("1", "1")));
        assert_eq!(find("changes.for_review", "all"), Some(("0", "")));
    }
}
