//! The languages refsync speaks to people in: German (the default: the stewards are
//! German) and English. The review UI ([`crate::web::i18n`]) and the report's page each
//! keep their own labels.

use crate::domain::model::{
    Band, ChangeKind, ChangeStatus, Field, MatchStatus, MergeStatus, PassOutcome, Policy,
};
use crate::domain::score::Level;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    De,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    /// The language a tag such as `de`, `en-GB` or `EN` names.
    pub fn parse(s: &str) -> Option<Lang> {
        match s.get(..2)?.to_ascii_lowercase().as_str() {
            "de" => Some(Lang::De),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The text in this language, of a (German, English) pair.
    pub fn pick<'a>(self, de: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::De => de,
            Lang::En => en,
        }
    }
}

/// A value a person reads by a name in their language: every field, status, policy and
/// band. The raw id stays for tooltips, URLs and the API.
pub trait Label: Copy {
    /// (German, English).
    fn names(self) -> (&'static str, &'static str);

    fn label(self, lang: Lang) -> &'static str {
        let (de, en) = self.names();
        lang.pick(de, en)
    }
}

impl Label for Field {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Field::LegalName => ("Firmenname", "Legal name"),
            Field::LegalForm => ("Rechtsform", "Legal form"),
            Field::Street => ("Straße", "Street"),
            Field::HouseNumber => ("Hausnummer", "House number"),
            Field::Postcode => ("PLZ", "Postcode"),
            Field::City => ("Ort", "City"),
            Field::Country => ("Land", "Country"),
            Field::VatId => ("USt-IdNr.", "VAT id"),
            Field::Lei => ("LEI", "LEI"),
            Field::RegisterCourt => ("Registergericht", "Register court"),
            Field::RegisterNumber => ("Registernummer", "Register number"),
            Field::Website => ("Website", "Website"),
            Field::Phone => ("Telefon", "Phone"),
            Field::Email => ("E-Mail", "E-mail"),
            Field::IndustryCode => ("Branche", "Industry"),
            Field::Employees => ("Beschäftigte", "Employees"),
            Field::Status => ("Status", "Status"),
            Field::FirstName => ("Vorname", "First name"),
            Field::LastName => ("Nachname", "Last name"),
            Field::Salutation => ("Anrede", "Salutation"),
            Field::Title => ("Titel", "Title"),
            Field::Role => ("Funktion", "Role"),
            Field::OrganisationId => ("Organisation", "Organisation"),
            Field::OrganisationName => ("Organisationsname", "Organisation name"),
            Field::BirthDate => ("Geburtsdatum", "Birth date"),
            Field::OtherNames => ("weitere Namen", "Other names"),
            Field::PreviousNames => ("frühere Namen", "Previous names"),
            Field::LegalFormCode => ("Rechtsform-Code (ELF)", "Legal form code (ELF)"),
            Field::HqStreet => ("Sitz: Straße", "Head office: street"),
            Field::HqPostcode => ("Sitz: PLZ", "Head office: postcode"),
            Field::HqCity => ("Sitz: Ort", "Head office: city"),
            Field::HqCountry => ("Sitz: Land", "Head office: country"),
            Field::SuccessorLei => ("LEI des Nachfolgers", "Successor LEI"),
            Field::SuccessorName => ("Name des Nachfolgers", "Successor name"),
            Field::RegisterUpdated => ("Registerstand", "Register updated"),
            Field::RegisterScore => ("Trefferwert des Registers", "Register's score"),
        }
    }
}

impl Label for ChangeStatus {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            ChangeStatus::Proposed => ("vorgeschlagen", "proposed"),
            ChangeStatus::Approved => ("genehmigt", "approved"),
            ChangeStatus::Applied => ("übernommen", "applied"),
            ChangeStatus::Rejected => ("abgelehnt", "rejected"),
            ChangeStatus::Conflict => ("Konflikt", "conflict"),
            ChangeStatus::Superseded => ("ersetzt", "superseded"),
            ChangeStatus::Failed => ("fehlgeschlagen", "failed"),
            ChangeStatus::Reverted => ("rückgängig gemacht", "reverted"),
        }
    }
}

impl Label for Policy {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Policy::Ignore => ("ignorieren", "ignore"),
            Policy::FillEmpty => ("nur leere füllen", "fill empty"),
            Policy::Propose => ("vorschlagen", "propose"),
            Policy::Overwrite => ("überschreiben", "overwrite"),
            Policy::OverwritePlaceholder => ("Platzhalter überschreiben", "overwrite placeholders"),
        }
    }
}

impl Label for Band {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Band::Auto => ("sicher", "certain"),
            Band::Review => ("zu prüfen", "to review"),
            Band::Reject => ("unsicher", "doubtful"),
        }
    }
}

impl Label for MatchStatus {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            MatchStatus::InSync => ("stimmt überein", "in sync"),
            MatchStatus::Different => ("abweichend", "different"),
            MatchStatus::NotFound => ("nicht gefunden", "not found"),
            MatchStatus::Ambiguous => ("mehrdeutig", "ambiguous"),
            MatchStatus::LookupFailed => ("Abfrage fehlgeschlagen", "lookup failed"),
            MatchStatus::Inactive => ("im Register inaktiv", "inactive in the register"),
            MatchStatus::Skipped => ("übersprungen", "skipped"),
        }
    }
}

impl Label for MergeStatus {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            MergeStatus::Proposed => ("vorgeschlagen", "proposed"),
            MergeStatus::Approved => ("genehmigt", "approved"),
            MergeStatus::Applied => ("zusammengeführt", "merged"),
            MergeStatus::Rejected => ("abgelehnt", "rejected"),
            MergeStatus::Failed => ("fehlgeschlagen", "failed"),
            MergeStatus::Reverted => ("rückgängig gemacht", "reverted"),
            MergeStatus::Superseded => ("ersetzt", "superseded"),
        }
    }
}

impl Label for PassOutcome {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            PassOutcome::Running => ("läuft", "running"),
            PassOutcome::Succeeded => ("erfolgreich", "succeeded"),
            PassOutcome::Degraded => ("beeinträchtigt", "degraded"),
            PassOutcome::Failed => ("fehlgeschlagen", "failed"),
            PassOutcome::Interrupted => ("unterbrochen", "interrupted"),
        }
    }
}

impl Label for ChangeKind {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            ChangeKind::Field => ("Feldwert", "field value"),
            ChangeKind::Deactivate => ("deaktivieren", "deactivate"),
            ChangeKind::Relink => ("auf Nachfolger verweisen", "point to successor"),
            ChangeKind::MergeCandidate => ("mögliche Dublette", "possible duplicate"),
            ChangeKind::Revert => ("Rücknahme", "revert"),
            ChangeKind::Picklist => ("Auswahlliste", "pick list"),
            ChangeKind::NewRecord => ("neuer Datensatz", "new record"),
            ChangeKind::Duplicate => ("schon im CRM", "already in the CRM"),
            ChangeKind::Flag => ("Hinweis", "flag"),
        }
    }
}

impl Label for Level {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Level::Exact => ("gleich", "equal"),
            Level::Close => ("ähnlich", "close"),
            Level::Far => ("abweichend", "far apart"),
            Level::Missing => ("fehlt", "missing"),
        }
    }
}

/// The label of a field named by its id; a name that is no canonical field (`record` of a
/// whole-record change) reads as "Datensatz".
pub fn field_label(lang: Lang, name: &str) -> &str {
    match name.parse::<Field>() {
        Ok(field) => field.label(lang),
        Err(_) if name == "record" => lang.pick("ganzer Datensatz", "whole record"),
        Err(_) => name,
    }
}

/// A grade string (`name=A city=B lei=-`) in words: `Firmenname gleich, Ort ähnlich, LEI fehlt`.
/// A part it cannot read stays as it is.
pub fn grade_words(lang: Lang, grade: &str) -> String {
    grade
        .split_whitespace()
        .map(|part| {
            let Some((short, letter)) = part.split_once('=') else {
                return part.to_string();
            };
            let field = Field::ALL
                .iter()
                .find(|f| crate::domain::score::short_name(**f) == short);
            let level = [Level::Exact, Level::Close, Level::Far, Level::Missing]
                .into_iter()
                .find(|l| letter.starts_with(l.grade()));
            match (field, level) {
                (Some(f), Some(l)) => format!("{} {}", f.label(lang), l.label(lang)),
                _ => part.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A probability with at least two significant digits of its distance from certainty,
/// so 0.9996 and 0.99999 do not both read `1.00`: 0.87 → `0.87`, 0.9996 → `0.99960`.
/// Doubt below a millionth reads `> 0.999999`: more digits tell a steward nothing.
pub fn probability(p: f64) -> String {
    if !p.is_finite() {
        return "–".to_string();
    }
    let p = p.clamp(0.0, 1.0);
    let rest = 1.0 - p;
    if rest == 0.0 {
        return "1.00".to_string();
    }
    if rest < 5e-7 {
        return "> 0.999999".to_string();
    }
    // The first significant digit of 1 - p sits at decimal -floor(log10(rest)).
    let decimals = ((-rest.log10()).floor() as usize + 2).clamp(2, 6);
    format!("{p:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every value of a kind has a name in both languages, none reads as a raw id (German
    /// never equals it, no name has an underscore; English words may equal an id such as
    /// `proposed`), and no two values of a kind share a name (a steward must tell them apart).
    fn check<T: Label + std::fmt::Debug>(kind: &str, all: &[T], id: impl Fn(T) -> &'static str) {
        for lang in [Lang::De, Lang::En] {
            let mut seen = BTreeSet::new();
            for &value in all {
                let name = value.label(lang);
                assert!(
                    !name.trim().is_empty(),
                    "{kind} {value:?} has no {lang:?} label"
                );
                assert!(
                    !name.contains('_'),
                    "{kind} {value:?} reads as an id: {name}"
                );
                if lang == Lang::De {
                    assert_ne!(name, id(value), "{kind} {value:?} shows its raw id");
                }
                assert!(seen.insert(name), "{kind}: `{name}` twice in {lang:?}");
            }
        }
    }

    #[test]
    fn every_field_status_policy_band_and_match_status_has_a_label_in_both_languages() {
        check("field", Field::ALL, Field::as_str);
        check("change status", ChangeStatus::ALL, ChangeStatus::as_str);
        check("policy", Policy::ALL, Policy::as_str);
        check("band", Band::ALL, Band::as_str);
        check("match status", MatchStatus::ALL, MatchStatus::as_str);
        check("merge status", MergeStatus::ALL, MergeStatus::as_str);
        check("pass outcome", PassOutcome::ALL, PassOutcome::as_str);
        check("change kind", ChangeKind::ALL, ChangeKind::as_str);
    }

    #[test]
    fn german_is_the_default_and_english_differs_where_the_words_do() {
        assert_eq!(Lang::default(), Lang::De);
        for (id, de, en) in [
            ("legal_name", "Firmenname", "Legal name"),
            ("industry_code", "Branche", "Industry"),
            ("record", "ganzer Datensatz", "whole record"),
            ("no_such_field", "no_such_field", "no_such_field"),
        ] {
            assert_eq!(field_label(Lang::De, id), de);
            assert_eq!(field_label(Lang::En, id), en);
        }
        assert_eq!(ChangeStatus::Proposed.label(Lang::De), "vorgeschlagen");
    }

    #[test]
    fn grades_read_as_words() {
        for (grade, de, en) in [
            (
                "name=A city=B lei=-",
                "Firmenname gleich, Ort ähnlich, LEI fehlt",
                "Legal name equal, City close, LEI missing",
            ),
            ("postcode=C", "PLZ abweichend", "Postcode far apart"),
            ("", "", ""),
            ("odd x=A", "odd, x=A", "odd, x=A"),
        ] {
            assert_eq!(grade_words(Lang::De, grade), de, "{grade}");
            assert_eq!(grade_words(Lang::En, grade), en, "{grade}");
        }
    }

    #[test]
    fn probabilities_keep_two_significant_digits_of_their_doubt() {
        for (p, shown) in [
            (0.87, "0.87"),
            (0.5, "0.50"),
            (0.0, "0.00"),
            (0.95, "0.950"),
            (0.9996, "0.99960"),
            (0.999_987, "0.999987"),
            (0.999_999_99, "> 0.999999"),
            (1.0, "1.00"),
            (f64::NAN, "–"),
        ] {
            assert_eq!(probability(p), shown, "{p}");
        }
    }
}
