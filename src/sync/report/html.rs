//! The report as one self-contained HTML page: inline SVG bar charts, no scripts, print
//! CSS for A4, German labels by default. maud escapes every value by construction.

use maud::{html, Markup, PreEscaped, DOCTYPE};

pub use crate::i18n::Lang;

use crate::domain::model::Field;
use crate::i18n::Label;

use crate::domain::model::{MatchStatus, MergeStatus};
use crate::domain::picklist;
use crate::domain::report::{Dimension, Figure, Measure, Report, Section, Segment, DIMENSIONS};

/// The label of `key` (a section, measure, field, status, channel, ground or page word);
/// a key without one shows itself.
fn label(lang: Lang, key: &str) -> String {
    LABELS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map_or(key, |(_, de, en)| lang.pick(de, en))
        .to_string()
}

/// (key, German, English).
const LABELS: &[(&str, &str, &str)] = &[
    ("title", "Datenaudit", "Data audit"),
    ("job", "Job", "Job"),
    ("generated", "Erstellt", "Generated"),
    ("records", "Datensätze", "Records"),
    ("organisation", "Organisationen", "Organisations"),
    ("contact", "Kontakte", "Contacts"),
    (
        "crm_only",
        "Noch kein Abgleich mit dem Register: dieser Bericht zeigt nur die Seite des CRM. Nach `refsync run --once` kommen Aktualität, Abgleichstatus und Korrekturaufwand hinzu.",
        "No pass against the register yet: this report shows the CRM side only. After `refsync run --once` it adds currency, match status and correction cost.",
    ),
    ("completeness", "Vollständigkeit", "Completeness"),
    ("validity", "Gültigkeit", "Validity"),
    ("consistency", "Einheitlichkeit (Auswahllisten)", "Consistency (pick lists)"),
    ("currency", "Aktualität", "Currency"),
    ("match_status", "Abgleichstatus", "Match status"),
    ("reachability", "Erreichbarkeit (UWG §7)", "Reachability (UWG §7)"),
    ("duplicates", "Dubletten", "Duplicates"),
    ("in_cluster", "in einem Dublettencluster", "in a cluster of duplicates"),
    ("clusters", "Dublettencluster", "Clusters of duplicates"),
    ("cluster_count", "Anzahl (von den Datensätzen darin)", "count (of the records in them)"),
    ("merges", "Zusammenführungen", "Merges"),
    ("merge_status", "Status", "status"),
    ("cost", "Korrekturaufwand", "Correction cost"),
    ("segments", "Segmente", "Segments"),
    ("filled", "gefüllt", "filled"),
    ("placeholder", "Platzhalter (zählt als leer)", "placeholder (counts as empty)"),
    ("empty", "leer", "empty"),
    ("invalid", "ungültig", "invalid"),
    ("unknown_postcode", "PLZ gibt es nicht", "postcode does not exist"),
    ("postcode_other_city", "PLZ passt nicht zum Ort", "postcode does not fit the city"),
    ("in_list", "aus der Liste", "from the list"),
    ("free_text", "Freitext", "free text"),
    ("mapped_to", "abbildbar auf", "maps onto"),
    ("verified_within_30_days", "im Register bestätigt ≤ 30 Tage", "verified ≤ 30 days ago"),
    ("verified_within_90_days", "bestätigt vor 31–90 Tagen", "verified 31–90 days ago"),
    ("verified_within_365_days", "bestätigt vor 91–365 Tagen", "verified 91–365 days ago"),
    ("verified_longer", "bestätigt vor über einem Jahr", "verified over a year ago"),
    ("never_verified", "nie bestätigt", "never verified"),
    ("inactive", "im Register inaktiv", "inactive in the register"),
    ("modified_within_30_days", "im CRM geändert ≤ 30 Tage", "modified in the CRM ≤ 30 days ago"),
    ("modified_within_90_days", "geändert vor 31–90 Tagen", "modified 31–90 days ago"),
    ("modified_within_365_days", "geändert vor 91–365 Tagen", "modified 91–365 days ago"),
    ("modified_longer", "geändert vor über einem Jahr", "modified over a year ago"),
    ("modified_unknown", "Änderungsdatum unbekannt", "modification date unknown"),
    ("allowed", "erlaubt", "allowed"),
    ("refused", "nicht erlaubt", "not allowed"),
    ("not_checked", "noch nicht geprüft", "not checked yet"),
    ("letter", "Brief", "Letter"),
    ("phone", "Telefon", "Phone"),
    ("email", "E-Mail", "E-mail"),
    ("fax", "Fax", "Fax"),
    ("sms", "SMS", "SMS"),
    ("no_consent", "keine Einwilligung", "no consent"),
    ("consumer_without_opt_in", "Verbraucher ohne Opt-in", "consumer without opt-in"),
    ("opt_in_without_proof", "Opt-in ohne Double-Opt-in-Nachweis", "opt-in without double opt-in proof"),
    ("revoked", "widerrufen", "revoked"),
    ("erased", "gelöscht (Art. 17)", "erased (Art. 17)"),
    ("records_subject", "Datensätze", "Records"),
    ("industry", "Branche (WZ-Abschnitt)", "Industry (WZ section)"),
    ("region", "Bundesland (aus der PLZ)", "Bundesland (from the postcode)"),
    ("legal_form_dimension", "Rechtsform", "Legal form"),
    ("size", "Größe (Beschäftigte, EU-KMU-Klassen)", "Size (persons employed, EU SME classes)"),
    ("no_key", "ohne Angabe", "not given"),
    ("pass", "Lauf", "Pass"),
    ("started", "Beginn", "Started"),
    ("outcome", "Ergebnis", "Outcome"),
    ("read", "gelesen", "read"),
    ("automatic", "Änderungen automatisch übernommen (letzter Lauf)", "Changes applied automatically (last pass)"),
    ("for_review", "Änderungen warten auf Prüfung", "Changes waiting for review"),
    ("decisions", "gemessene Entscheidungen im Prüfprotokoll", "decisions measured in the audit log"),
    ("per_hour", "Entscheidungen pro Stunde", "decisions per hour"),
    ("review_hours", "Prüfaufwand in Stunden", "review time in hours"),
    ("unmeasured", "noch nicht messbar", "not measurable yet"),
    ("by_field", "Felder mit den meisten Vorschlägen (deren Regel spart am meisten)", "Fields with the most proposals (their policy would cut the most)"),
    ("field", "Feld", "Field"),
    ("policy", "Regel", "Policy"),
    ("proposals", "Vorschläge", "Proposals"),
    ("hours", "Stunden", "Hours"),
    ("segment", "Segment", "Segment"),
    ("filled_values", "gefüllte Werte", "filled values"),
    ("invalid_values", "ungültige Werte", "invalid values"),
    ("free_text_values", "Freitext", "free text"),
    ("verified_year", "bestätigt ≤ 1 Jahr", "verified ≤ 1 year"),
    ("in_sync_share", "stimmt überein", "in sync"),
    ("email_allowed", "E-Mail erlaubt", "e-mail allowed"),
];

const CSS: &str = "
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10pt; margin: 1.5em; color: #111; }
h1 { font-size: 16pt; margin-bottom: 0.2em; }
h2 { font-size: 12pt; margin-top: 1.4em; border-bottom: 1px solid #999; page-break-after: avoid; }
h3 { font-size: 10.5pt; page-break-after: avoid; }
table { border-collapse: collapse; margin: 0.4em 0; }
th, td { border: 1px solid #bbb; padding: 2px 6px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { border-left: 4px solid #c60; padding: 0.3em 0.8em; background: #fff4e5; }
svg { display: block; margin: 0.3em 0; max-width: 100%; height: auto; }
section { page-break-inside: avoid; }
@page { size: A4; margin: 15mm; }
@media print { body { margin: 0; } .note { background: none; } }
";

/// Chart geometry: label column, bar column, row height (px).
const LABEL_W: u32 = 330;
const BAR_W: u32 = 220;
const ROW_H: u32 = 18;

/// The whole page.
pub fn page(report: &Report, job: &str, lang: Lang) -> String {
    let l = |key: &str| label(lang, key);
    let markup = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                title { (l("title")) " – " (job) }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { (l("title")) " – " (job) }
                p {
                    (l(report.kind.as_str())) ": " (report.records) " " (l("records")) ". "
                    (l("generated")) ": " (report.generated_at.format("%Y-%m-%d %H:%M")) " UTC"
                }
                @if report.crm_only {
                    p.note { (l("crm_only")) }
                }
                @for section in [Section::Completeness, Section::Validity, Section::Consistency,
                                 Section::Currency, Section::MatchStatus, Section::Reachability, Section::Duplicates] {
                    @let figures: Vec<&Figure> = report.figures.iter()
                        .filter(|f| f.section == section && shown(f)).collect();
                    @if !figures.is_empty() {
                        section {
                            h2 { (l(section.as_str())) }
                            (chart(&figures, lang))
                            @if section == Section::MatchStatus {
                                (trend(report, lang))
                            }
                        }
                    }
                }
                @if let Some(cost) = &report.cost {
                    section {
                        h2 { (l("cost")) }
                        table {
                            tr { td { (l("automatic")) } td { (cost.automatic) } }
                            tr { td { (l("for_review")) } td { (cost.for_review) } }
                            tr { td { (l("decisions")) } td { (cost.decisions) } }
                            tr { td { (l("per_hour")) } td { (decimal(cost.decisions_per_hour, lang)) } }
                            tr { td { (l("review_hours")) } td { (decimal(cost.review_hours, lang)) } }
                        }
                        @if !cost.by_field.is_empty() {
                            h3 { (l("by_field")) }
                            table {
                                tr { th { (l("field")) } th { (l("policy")) } th { (l("proposals")) } th { (l("hours")) } }
                                @for load in &cost.by_field {
                                    tr {
                                        td { (subject_label(lang, &load.field)) }
                                        td { (load.policy.label(lang)) }
                                        td { (load.proposals) }
                                        td { (decimal(load.hours, lang)) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if !report.segments.is_empty() {
                    h2 { (l("segments")) }
                    @for dimension in DIMENSIONS {
                        @let segments: Vec<&Segment> = report.segments.iter()
                            .filter(|s| s.dimension == dimension).collect();
                        @if !segments.is_empty() {
                            (segment_table(&segments, dimension, lang))
                        }
                    }
                }
            }
        }
    };
    markup.into_string()
}

/// Whether a figure gets a bar: the complement "empty", and placeholders and refusals
/// that never occur, only make the chart longer (JSON and CSV carry them).
fn shown(f: &Figure) -> bool {
    match f.measure {
        Measure::Empty => false,
        Measure::Placeholder | Measure::Refused => f.count > 0,
        _ => true,
    }
}

/// A subject: canonical fields and match statuses by the labels the review UI shares,
/// anything else (a channel, `not_checked`) by this page's.
fn subject_label(lang: Lang, subject: &str) -> String {
    if let Ok(field) = subject.parse::<Field>() {
        return field.label(lang).to_string();
    }
    match subject.parse::<MatchStatus>() {
        Ok(status) => status.label(lang).to_string(),
        Err(_) => label(lang, subject),
    }
}

fn figure_label(f: &Figure, lang: Lang) -> String {
    let subject = match f.subject.as_str() {
        "records" => label(lang, "records_subject"),
        s => subject_label(lang, s),
    };
    let measure = match f.measure {
        // The status itself is the label.
        Measure::Records => return subject,
        m => label(lang, m.as_str()),
    };
    // A merge's status by the labels the review UI shares; a refusal's ground by this page's.
    let detail_label = |detail: &str| match detail.parse::<MergeStatus>() {
        Ok(status) if f.section == Section::Duplicates => status.label(lang).to_string(),
        _ => label(lang, detail),
    };
    match &f.detail {
        Some(detail) if f.measure == Measure::MappedTo => format!("{subject}: {measure} {detail}"),
        Some(detail) => format!("{subject}: {measure} – {}", detail_label(detail)),
        None => format!("{subject}: {measure}"),
    }
}

fn percent(share: f64, lang: Lang) -> String {
    let text = format!("{:.1} %", share * 100.0);
    match lang {
        Lang::De => text.replace('.', ","),
        Lang::En => text,
    }
}

fn decimal(v: Option<f64>, lang: Lang) -> String {
    match v {
        Some(v) => {
            let text = format!("{v:.1}");
            match lang {
                Lang::De => text.replace('.', ","),
                Lang::En => text,
            }
        }
        None => label(lang, "unmeasured"),
    }
}

/// One horizontal bar per figure: its share of its base.
fn chart(figures: &[&Figure], lang: Lang) -> Markup {
    let height = ROW_H * figures.len() as u32 + 4;
    let width = LABEL_W + BAR_W + 150;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
            viewBox=(format!("0 0 {width} {height}")) role="img" {
            @for (i, f) in figures.iter().enumerate() {
                @let y = ROW_H * i as u32 + 2;
                @let bar = (f.share() * BAR_W as f64).round() as u32;
                text x=(LABEL_W - 6) y=(y + 12) font-size="10" text-anchor="end" { (figure_label(f, lang)) }
                // Classes name the parts for the browser test, which measures them.
                rect.track x=(LABEL_W) y=(y + 2) width=(BAR_W) height=(ROW_H - 5) fill="#eee" {}
                rect.bar x=(LABEL_W) y=(y + 2) width=(bar) height=(ROW_H - 5) fill=(colour(f.measure)) {}
                text.value x=(LABEL_W + BAR_W + 6) y=(y + 12) font-size="10" {
                    (f.count) " / " (f.of) " (" (percent(f.share(), lang)) ")"
                }
            }
        }
    }
}

/// Good things blue, bad things red, the rest grey.
fn colour(measure: Measure) -> &'static str {
    use Measure::*;
    match measure {
        Filled | InList | Allowed | VerifiedWithin30Days | VerifiedWithin90Days
        | ModifiedWithin30Days | ModifiedWithin90Days => "#2b6cb0",
        Placeholder | Invalid | UnknownPostcode | PostcodeOtherCity | FreeText | NeverVerified
        | Inactive | Refused | InCluster => "#c53030",
        _ => "#718096",
    }
}

/// The last passes' status counts, newest first.
fn trend(report: &Report, lang: Lang) -> Markup {
    let l = |key: &str| label(lang, key);
    html! {
        @if !report.passes.is_empty() {
            table {
                tr {
                    th { (l("pass")) } th { (l("started")) } th { (l("outcome")) } th { (l("read")) }
                    @for status in MatchStatus::ALL { th { (status.label(lang)) } }
                }
                @for pass in &report.passes {
                    tr {
                        td { (pass.id) }
                        td { (pass.started_at.format("%Y-%m-%d %H:%M")) }
                        td { (pass.outcome.label(lang)) }
                        td { (pass.records_read) }
                        @for status in MatchStatus::ALL {
                            td { (pass.counts.get(status).copied().unwrap_or(0)) }
                        }
                    }
                }
            }
        }
    }
}

/// Sum of counts and bases of the figures of `section` with one of `measures`.
fn headline(
    figures: &[Figure],
    section: Section,
    measures: &[Measure],
    subject: Option<&str>,
) -> Option<(u64, u64)> {
    let picked: Vec<&Figure> = figures
        .iter()
        .filter(|f| f.section == section && measures.contains(&f.measure))
        .filter(|f| subject.is_none_or(|s| f.subject == s))
        .collect();
    (!picked.is_empty()).then(|| {
        let count = picked.iter().map(|f| f.count).sum();
        // Measures of one subject share a base; several subjects add theirs.
        let mut bases: Vec<(&str, u64)> =
            picked.iter().map(|f| (f.subject.as_str(), f.of)).collect();
        bases.dedup();
        (count, bases.iter().map(|(_, of)| of).sum())
    })
}

/// A segment's key as shown: a WZ section with its (German) title.
fn segment_name(segment: &Segment, lang: Lang) -> String {
    match (&segment.key, segment.dimension) {
        (None, _) => label(lang, "no_key"),
        (Some(key), Dimension::Industry) => match picklist::wz_title(key) {
            Some(title) => format!("{key} – {title}"),
            None => key.clone(),
        },
        (Some(key), _) => key.clone(),
    }
}

/// A dimension's segments with a headline figure per section (JSON and CSV carry all).
fn segment_table(segments: &[&Segment], dimension: Dimension, lang: Lang) -> Markup {
    let l = |key: &str| label(lang, key);
    let columns: [(&str, Section, &[Measure], Option<&str>); 6] = [
        (
            "filled_values",
            Section::Completeness,
            &[Measure::Filled],
            None,
        ),
        (
            "invalid_values",
            Section::Validity,
            &[
                Measure::Invalid,
                Measure::UnknownPostcode,
                Measure::PostcodeOtherCity,
            ],
            None,
        ),
        (
            "free_text_values",
            Section::Consistency,
            &[Measure::FreeText],
            None,
        ),
        (
            "verified_year",
            Section::Currency,
            &[
                Measure::VerifiedWithin30Days,
                Measure::VerifiedWithin90Days,
                Measure::VerifiedWithin365Days,
            ],
            None,
        ),
        (
            "in_sync_share",
            Section::MatchStatus,
            &[Measure::Records],
            Some("in_sync"),
        ),
        (
            "email_allowed",
            Section::Reachability,
            &[Measure::Allowed],
            Some("email"),
        ),
    ];
    let present: Vec<_> = columns
        .iter()
        .filter(|(_, section, measures, subject)| {
            segments
                .iter()
                .any(|s| headline(&s.figures, *section, measures, *subject).is_some())
        })
        .collect();
    let title = match dimension {
        Dimension::LegalForm => "legal_form_dimension",
        d => d.as_str(),
    };
    html! {
        section {
            h3 { (l(title)) }
            table {
                tr {
                    th { (l("segment")) } th { (l("records")) }
                    @for (key, ..) in &present { th { (l(key)) } }
                }
                @for s in segments {
                    tr {
                        td { (segment_name(s, lang)) }
                        td { (s.records) }
                        @for (_, section, measures, subject) in &present {
                            td {
                                @if let Some((count, of)) = headline(&s.figures, *section, measures, *subject) {
                                    (count) " / " (of)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::consent::Channel;
    use crate::domain::model::EntityKind;
    use crate::domain::report::REFUSALS;

    fn report(figures: Vec<Figure>) -> Report {
        Report {
            kind: EntityKind::Organisation,
            generated_at: chrono::NaiveDate::from_ymd_opt(2026, 6, 1)
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap(),
            records: 4,
            crm_only: true,
            figures,
            segments: Vec::new(),
            passes: Vec::new(),
            cost: None,
        }
    }

    #[test]
    fn every_word_the_report_uses_has_a_label_in_both_languages() {
        let mut keys: Vec<String> = Vec::new();
        keys.extend(Section::ALL.iter().map(|s| s.to_string()));
        keys.extend(Measure::ALL.iter().map(|m| m.to_string()));
        keys.extend(Channel::ALL.iter().map(|c| c.to_string()));
        keys.extend(REFUSALS.iter().map(|g| g.to_string()));
        keys.extend(["clusters", "merges", "not_checked"].map(String::from));
        // Fields, policies and match, merge and pass statuses: crate::i18n's labels, tested
        // there.
        for key in keys {
            assert!(
                LABELS.iter().any(|(k, _, _)| *k == key),
                "no label for `{key}`"
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (key, de, en) in LABELS {
            assert!(seen.insert(key), "`{key}` twice");
            assert!(!de.is_empty() && !en.is_empty(), "`{key}`");
        }
    }

    #[test]
    fn industry_segments_are_shown_with_the_title_of_their_wz_section() {
        let segment = |dimension, key: Option<&str>| Segment {
            dimension,
            key: key.map(str::to_string),
            records: 1,
            figures: Vec::new(),
        };
        let cases = [
            (
                Dimension::Industry,
                Some("J"),
                Lang::De,
                "J – Information und Kommunikation",
            ),
            (Dimension::Region, Some("Bayern"), Lang::En, "Bayern"),
            (Dimension::LegalForm, None, Lang::De, "ohne Angabe"),
            (Dimension::LegalForm, None, Lang::En, "not given"),
        ];
        for (dimension, key, lang, shown) in cases {
            assert_eq!(segment_name(&segment(dimension, key), lang), shown);
        }
    }

    #[test]
    fn values_are_escaped_and_shares_written_the_german_way() {
        let figure = Figure {
            section: Section::Consistency,
            subject: "legal_form".into(),
            measure: Measure::MappedTo,
            detail: Some("<b>GmbH & Co</b>".into()),
            count: 1,
            of: 3,
        };
        let page = page(&report(vec![figure]), "<script>job</script>", Lang::De);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;job&lt;/script&gt;"));
        assert!(page.contains("&lt;b&gt;GmbH &amp; Co&lt;/b&gt;"));
        assert!(page.contains("1 / 3 (33,3 %)"), "{page}");
        assert!(page.contains("nur die Seite des CRM"));
        let english = super::page(&report(Vec::new()), "job", Lang::En);
        assert!(english.contains("the CRM side only"));
    }
}
