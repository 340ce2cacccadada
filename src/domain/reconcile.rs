//! The W3C Reconciliation API (0.2) over refsync's own matching, pure: a query (a name and
//! properties named by canonical field) becomes a record, and a scored candidate becomes a
//! result whose score is refsync's match probability and whose `match` flag is its auto band.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::decide::{decide, Decision, Thresholds};
use super::model::{Band, EntityKind, Field, Record};
use super::score::Scored;

/// The most queries one batch may hold.
pub const MAX_BATCH: usize = 100;
/// Candidates per query when the query names no `limit`.
pub const DEFAULT_LIMIT: usize = 5;
/// The most candidates a query may ask for.
pub const MAX_LIMIT: usize = 25;

/// One query of a batch, as the specification writes it (unknown keys such as OpenRefine's
/// `type_strict` are allowed by the specification and ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct Query {
    pub query: String,
    #[serde(rename = "type")]
    pub kind: Option<Value>,
    pub limit: Option<usize>,
    #[serde(default)]
    pub properties: Vec<PropertyValue>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PropertyValue {
    pub pid: String,
    pub v: Value,
}

/// The type id of an entity kind, as the manifest lists it.
pub fn type_id(kind: EntityKind) -> &'static str {
    kind.as_str()
}

/// A property value as text: a string, a number, a boolean, an entity's name or id, or the
/// first of a list.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => o
            .get("name")
            .or_else(|| o.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string),
        Value::Array(items) => items.iter().find_map(text_of),
        Value::Null => None,
    }
}

/// The record a query describes: its text is the name (for a contact `first … last`), its
/// properties are canonical fields. A property that is no canonical field, or a type other
/// than the job's kind, is refused by name.
pub fn record_of(kind: EntityKind, query: &Query) -> Result<Record, String> {
    if let Some(t) = &query.kind {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => return Err("`type` is neither a type id nor a list of them".into()),
        };
        if !types.is_empty() && !types.contains(&type_id(kind)) {
            return Err(format!(
                "this service reconciles type `{}` only, not {types:?}",
                type_id(kind)
            ));
        }
    }
    let mut record = Record::new("query");
    let text = query.query.trim();
    match kind {
        EntityKind::Organisation => {
            record.values.insert(Field::LegalName, text.to_string());
        }
        EntityKind::Contact => {
            let (first, last) = text.rsplit_once(' ').unwrap_or(("", text));
            record.values.insert(Field::LastName, last.to_string());
            if !first.trim().is_empty() {
                record
                    .values
                    .insert(Field::FirstName, first.trim().to_string());
            }
        }
    }
    for p in &query.properties {
        let field: Field = p
            .pid
            .parse()
            .map_err(|e: super::model::UnknownField| e.to_string())?;
        if let Some(v) = text_of(&p.v) {
            record.values.insert(field, v);
        }
    }
    if record.values.values().all(|v| v.trim().is_empty()) {
        return Err("a query needs a text or a property value".into());
    }
    Ok(record)
}

/// The field a bare name is searched in.
pub fn name_field(kind: EntityKind) -> Field {
    match kind {
        EntityKind::Organisation => Field::LegalName,
        EntityKind::Contact => Field::LastName,
    }
}

/// What a record is called in results and suggestions.
pub fn name_of(kind: EntityKind, record: &Record) -> String {
    match kind {
        EntityKind::Organisation => record.get(Field::LegalName).unwrap_or_default().to_string(),
        EntityKind::Contact => [Field::FirstName, Field::LastName]
            .iter()
            .filter_map(|f| record.get(*f))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A line that tells namesakes apart: the address, or a contact's organisation.
pub fn description_of(record: &Record) -> String {
    [
        Field::OrganisationName,
        Field::Street,
        Field::HouseNumber,
        Field::Postcode,
        Field::City,
    ]
    .iter()
    .filter_map(|f| record.get(*f))
    .collect::<Vec<_>>()
    .join(" ")
}

#[derive(Debug, Clone, Serialize)]
pub struct TypeRef {
    pub id: &'static str,
    pub name: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Feature {
    pub id: String,
    pub value: f64,
}

/// One candidate as the protocol shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub id: String,
    pub name: String,
    pub description: String,
    /// refsync's match probability, in percent.
    pub score: f64,
    /// The candidate is the job's automatic match: in the auto band and not ambiguous.
    #[serde(rename = "match")]
    pub matched: bool,
    #[serde(rename = "type")]
    pub types: Vec<TypeRef>,
    /// Each compared field's evidence in bits.
    pub features: Vec<Feature>,
}

/// The type of `kind` as results and the manifest name it.
pub fn type_ref(kind: EntityKind) -> TypeRef {
    TypeRef {
        id: type_id(kind),
        name: match kind {
            EntityKind::Organisation => "Organisation",
            EntityKind::Contact => "Contact",
        },
    }
}

/// The candidates of one query, most likely first, at most `limit`; `records` holds the
/// scored candidates' records by id.
pub fn results(
    kind: EntityKind,
    scored: Vec<Scored>,
    records: &BTreeMap<String, Record>,
    thresholds: &Thresholds,
    limit: usize,
) -> Vec<Candidate> {
    let automatic = match decide(scored.clone(), thresholds) {
        Decision::Matched {
            best,
            band: Band::Auto,
        } => Some(best.register_id),
        _ => None,
    };
    let mut scored = scored;
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.register_id.cmp(&b.register_id))
    });
    scored
        .into_iter()
        .filter_map(|s| {
            let record = records.get(&s.register_id)?;
            Some(Candidate {
                name: name_of(kind, record),
                description: description_of(record),
                score: (s.score * 10_000.0).round() / 100.0,
                matched: automatic.as_deref() == Some(s.register_id.as_str()),
                types: vec![type_ref(kind)],
                features: s
                    .comparisons
                    .iter()
                    .filter(|c| c.contribution != 0.0)
                    .map(|c| Feature {
                        id: c.field.as_str().to_string(),
                        value: c.contribution,
                    })
                    .collect(),
                id: s.register_id,
            })
        })
        .take(limit)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::score::{Model, Prepared, Scorer};
    use serde_json::json;

    fn query(v: Value) -> Query {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_query_becomes_a_record_of_the_jobs_kind() {
        let q = query(
            json!({ "query": "Alpha GmbH", "type": "organisation", "type_strict": "should",
            "properties": [{ "pid": "city", "v": "München" }, { "pid": "postcode", "v": 80331 },
                           { "pid": "lei", "v": { "id": "X", "name": "5299ZGT9YKCI99S2NC82" } }] }),
        );
        let r = record_of(EntityKind::Organisation, &q).unwrap();
        assert_eq!(r.get(Field::LegalName), Some("Alpha GmbH"));
        assert_eq!(r.get(Field::City), Some("München"));
        assert_eq!(r.get(Field::Postcode), Some("80331"));
        assert_eq!(r.get(Field::Lei), Some("5299ZGT9YKCI99S2NC82"));
        let c = record_of(
            EntityKind::Contact,
            &query(json!({ "query": "Anna Maria Schulz" })),
        )
        .unwrap();
        assert_eq!(c.get(Field::FirstName), Some("Anna Maria"));
        assert_eq!(c.get(Field::LastName), Some("Schulz"));
    }

    #[test]
    fn unknown_properties_other_types_and_empty_queries_are_refused_by_name() {
        let cases = [
            (
                json!({ "query": "x", "properties": [{ "pid": "P17", "v": "DE" }] }),
                "`P17`",
            ),
            (
                json!({ "query": "x", "type": "Q43229" }),
                "`organisation` only",
            ),
            (json!({ "query": " " }), "needs a text"),
        ];
        for (q, says) in cases {
            let e = record_of(EntityKind::Organisation, &query(q.clone())).unwrap_err();
            assert!(e.contains(says), "{q}: {e}");
        }
    }

    #[test]
    fn only_an_unambiguous_candidate_in_the_auto_band_is_a_match() {
        let scorer = Scorer::new(Model::default_for(EntityKind::Organisation));
        let thresholds = Thresholds {
            auto_apply_min: 0.92,
            review_min: 0.75,
            ambiguity_margin: 0.03,
        };
        let alpha = |id: &str| {
            Record::new(id)
                .with(Field::LegalName, "Alpha Maschinenbau GmbH")
                .with(Field::Street, "Hauptstraße")
                .with(Field::HouseNumber, "12")
                .with(Field::Postcode, "80331")
                .with(Field::City, "München")
        };
        let other = Record::new("B").with(Field::LegalName, "Beta Logistik AG");
        let q = Prepared::new(EntityKind::Organisation, &alpha("q"));
        let score = |records: &[Record]| {
            let prepared: Vec<Prepared> = records
                .iter()
                .map(|r| Prepared::new(EntityKind::Organisation, r))
                .collect();
            let (scored, _) = scorer.rank(&q, prepared.iter(), None);
            let by_id = records.iter().map(|r| (r.id.clone(), r.clone())).collect();
            results(EntityKind::Organisation, scored, &by_id, &thresholds, 5)
        };
        let one = score(&[alpha("A"), other.clone()]);
        assert_eq!(one[0].id, "A");
        assert!(one[0].matched && !one[1].matched, "{one:?}");
        assert!(one[0].score > 92.0 && one[0].score <= 100.0);
        assert_eq!(one[0].name, "Alpha Maschinenbau GmbH");
        assert_eq!(one[0].description, "Hauptstraße 12 80331 München");
        let two = score(&[alpha("A"), alpha("A2"), other]);
        assert!(
            two.iter().all(|c| !c.matched),
            "two alike: ambiguous, {two:?}"
        );
        assert_eq!(score(&[alpha("A"), alpha("A2")]).len(), 2);
    }
}
