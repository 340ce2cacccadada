//! UI labels in German (the default: the stewards are German) and English. The language
//! comes from `?lang=`, then the `refsync_lang` cookie, then `Accept-Language`.

use axum::http::header;
use axum::http::request::Parts;

use super::auth::cookie;

pub const LANG_COOKIE: &str = "refsync_lang";

use crate::i18n::Label;
pub use crate::i18n::Lang;
use crate::store::audit::AuditAction;

impl Lang {
    /// The language a request asks for, and whether `?lang=` chose it (then the cookie is
    /// set so the choice sticks).
    pub fn of(parts: &Parts) -> (Lang, bool) {
        let asked = parts.uri.query().and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "lang")
                .and_then(|(_, v)| Lang::parse(v))
        });
        if let Some(lang) = asked {
            return (lang, true);
        }
        if let Some(lang) = cookie(parts, LANG_COOKIE).and_then(Lang::parse) {
            return (lang, false);
        }
        let accepted = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|first| Lang::parse(first.trim()));
        (accepted.unwrap_or(Lang::De), false)
    }

    /// The label for `key`; an unknown key shows itself, so a missing label is visible.
    pub fn t(self, key: &'static str) -> &'static str {
        LABELS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or(key, |(_, de, en)| self.pick(de, en))
    }
}

impl Label for AuditAction {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            AuditAction::Applied => ("übernommen", "applied"),
            AuditAction::Conflict => ("Konflikt", "conflict"),
            AuditAction::ApplyFailed => ("Schreiben fehlgeschlagen", "write failed"),
            AuditAction::Reverted => ("rückgängig gemacht", "reverted"),
            AuditAction::Approved => ("genehmigt", "approved"),
            AuditAction::Rejected => ("abgelehnt", "rejected"),
            AuditAction::EditedAndApproved => ("geändert und genehmigt", "edited and approved"),
            AuditAction::FlaggedWrong => ("Registerwert falsch", "register value wrong"),
            AuditAction::MatchConfirmed => ("Zuordnung bestätigt", "match confirmed"),
            AuditAction::MatchRejected => ("Zuordnung verworfen", "match rejected"),
            AuditAction::ConsentRecorded => ("Einwilligung erfasst", "consent recorded"),
            AuditAction::Erased => ("gelöscht", "erased"),
            AuditAction::Retention => ("pseudonymisiert (Frist)", "pseudonymised (retention)"),
            AuditAction::MergeApproved => ("Zusammenführung genehmigt", "merge approved"),
            AuditAction::MergeRejected => ("Zusammenführung abgelehnt", "merge rejected"),
            AuditAction::MergeSplit => ("Cluster geteilt", "cluster split"),
            AuditAction::MergeApplied => ("zusammengeführt", "merged"),
            AuditAction::MergeFailed => ("Zusammenführung fehlgeschlagen", "merge failed"),
        }
    }
}

/// (key, German, English).
const LABELS: &[(&str, &str, &str)] = &[
    ("app", "refsync – Prüfpult", "refsync – steward's desk"),
    (
        "consent",
        "Werbeeinwilligung (UWG §7)",
        "Advertising consent (UWG §7)",
    ),
    ("audience", "Kontakt", "Contact"),
    ("business", "geschäftlich", "business"),
    ("consumer", "Verbraucher", "consumer"),
    ("channel", "Kanal", "Channel"),
    ("verdict", "Werbung", "Advertising"),
    ("reason", "Begründung", "Reason"),
    ("allowed", "erlaubt", "allowed"),
    ("not_allowed", "nicht erlaubt", "not allowed"),
    ("revoke", "Widerruf erfassen", "Record revocation"),
    ("letter", "Brief", "Letter"),
    ("tuning", "Schwellen abstimmen", "Tune thresholds"),
    ("report", "Datenaudit", "Data audit"),
    ("target_precision", "Ziel-Präzision", "Target precision"),
    ("target_recall", "Ziel-Trefferquote", "Target recall"),
    ("threshold", "Schwelle", "Threshold"),
    ("precision", "Präzision", "Precision"),
    ("recall", "Trefferquote", "Recall"),
    ("above", "entschieden darüber", "decided above"),
    ("wrong_above", "davon falsch", "of them wrong"),
    ("right_below", "richtige darunter", "right ones below"),
    ("current", "Jetzt", "Current"),
    ("suggested", "Vorschlag", "Suggested"),
    (
        "decided_pairs",
        "{n} entschiedene Zuordnungen: {right} richtig, {wrong} falsch.",
        "{n} decided matches: {right} right, {wrong} wrong.",
    ),
    (
        "precision_unreachable",
        "Keine Schwelle erreicht die Ziel-Präzision; auto_apply_min bleibt.",
        "No threshold reaches the target precision; auto_apply_min stays.",
    ),
    (
        "recall_unreachable",
        "Keine Schwelle hält die Ziel-Trefferquote; review_min bleibt.",
        "No threshold keeps the target recall; review_min stays.",
    ),
    ("queue_effect", "Wirkung auf die Prüfliste", "Effect on the review queue"),
    (
        "shift_auto",
        "{n} bisher geprüfte Zuordnungen wären automatisch übernommen worden ({right} richtig, {wrong} falsch).",
        "{n} matches reviewed so far would have been applied automatically ({right} right, {wrong} wrong).",
    ),
    (
        "shift_rejected",
        "{n} bisher geprüfte Zuordnungen wären gleich verworfen worden ({right} richtig, {wrong} falsch).",
        "{n} matches reviewed so far would have been rejected outright ({right} right, {wrong} wrong).",
    ),
    (
        "shift_added",
        "{n} Zuordnungen kämen neu in die Prüfliste ({right} richtig, {wrong} falsch).",
        "{n} matches would be added to the review queue ({right} right, {wrong} wrong).",
    ),
    (
        "apply_suggestion",
        "Den Vorschlag übernimmt man in der Konfiguration:",
        "To apply the suggestion, put it in the configuration:",
    ),
    ("curve", "Präzision und Trefferquote je Schwelle", "Precision and recall per threshold"),
    ("phone", "Telefon", "Phone"),
    ("email", "E-Mail", "E-mail"),
    ("fax", "Fax", "Fax"),
    ("sms", "SMS", "SMS"),
    ("login", "Anmelden", "Log in"),
    ("logout", "Abmelden", "Log out"),
    ("user", "Benutzer", "User"),
    ("password", "Passwort", "Password"),
    (
        "login_failed",
        "Benutzer oder Passwort falsch.",
        "Wrong user name or password.",
    ),
    (
        "too_many",
        "Zu viele Fehlversuche. Bitte später erneut versuchen.",
        "Too many failed attempts. Please try again later.",
    ),
    ("queue", "Prüfliste", "Review queue"),
    ("passes", "Läufe", "Passes"),
    ("audit", "Protokoll", "Audit log"),
    ("status", "Status", "Status"),
    ("job", "Job", "Job"),
    ("field", "Feld", "Field"),
    ("pass", "Lauf", "Pass"),
    ("record", "Datensatz", "Record"),
    ("search", "Suche", "Search"),
    ("min_score", "Wahrsch. ab", "Probability from"),
    ("max_score", "bis", "to"),
    ("sort", "Sortierung", "Sort"),
    ("filter", "Filtern", "Filter"),
    ("all", "alle", "all"),
    ("old", "Bisher", "Current"),
    ("new", "Vorschlag", "Proposed"),
    ("score", "Wahrscheinlichkeit", "Probability"),
    ("actions", "Aktionen", "Actions"),
    ("approve", "Übernehmen", "Approve"),
    ("reject", "Ablehnen", "Reject"),
    ("wrong", "Registerwert falsch", "Register value wrong"),
    ("edit_approve", "Ändern und übernehmen", "Edit and approve"),
    (
        "bulk",
        "Alle gefilterten vorgeschlagenen Änderungen",
        "All filtered proposed changes",
    ),
    ("confirm", "Bestätigen", "Confirm"),
    ("cancel", "Abbrechen", "Cancel"),
    (
        "confirm_bulk",
        "Wirklich {n} Änderungen entscheiden:",
        "Really decide {n} changes:",
    ),
    (
        "confirm_undo",
        "Lauf {pass} rückgängig machen: {n} übernommene Änderungen werden zurückgesetzt.",
        "Undo pass {pass}: {n} applied changes will be restored.",
    ),
    (
        "decided",
        "{n} Änderung(en) entschieden.",
        "{n} change(s) decided.",
    ),
    (
        "refused",
        "{n} nicht entschieden (Status erlaubt es nicht).",
        "{n} left undecided (their status does not allow it).",
    ),
    ("progress", "Fortschritt", "Progress"),
    ("of", "von", "of"),
    ("shown", "angezeigt", "shown"),
    ("next", "Weiter", "Next"),
    ("prev", "Zurück", "Previous"),
    (
        "shortcuts",
        "Tasten: a = ganzen Datensatz übernehmen, r = ablehnen, j/n = nächster, k = voriger, o/Enter = öffnen",
        "Keys: a = approve the whole record, r = reject it, j/n = next, k = previous, o/Enter = open",
    ),
    ("approve_card", "Alles übernehmen", "Approve all"),
    ("reject_card", "Alles ablehnen", "Reject all"),
    ("order_most", "meiste Änderungen", "most changes"),
    ("order_doubt", "unsicherste zuerst", "lowest confidence first"),
    ("order_oldest", "älteste zuerst", "oldest first"),
    ("state_flagged_wrong", "Registerwert als falsch markiert", "register value flagged wrong"),
    ("state_reviewed", "schon abgelehnt", "rejected before"),
    ("state_left_alone", "bleibt (Regel)", "left alone (policy)"),
    ("records_shown", "Datensätze angezeigt", "records shown"),
    ("crm", "CRM", "CRM"),
    ("register", "Register", "Register"),
    (
        "explanation",
        "Begründung des Treffers",
        "Match explanation",
    ),
    ("grade", "Bewertung", "Grade"),
    ("level", "Stufe", "Level"),
    ("weight", "Gewicht", "Weight"),
    ("candidates", "Weitere Kandidaten", "Other candidates"),
    (
        "live_candidates",
        "Kandidaten live neu abgleichen",
        "Re-match candidates live",
    ),
    ("changes", "Änderungen", "Changes"),
    ("history", "Verlauf", "History"),
    ("when", "Zeit", "When"),
    ("actor", "Wer", "Who"),
    ("action", "Aktion", "Action"),
    ("started", "Beginn", "Started"),
    ("read", "gelesen", "read"),
    ("proposed", "vorgeschlagen", "proposed"),
    ("applied", "übernommen", "applied"),
    (
        "undo_pass",
        "Diesen Lauf rückgängig machen",
        "Undo this pass",
    ),
    (
        "undone",
        "{n} Rücknahme(n) angelegt, {a} geschrieben, {c} Konflikte.",
        "{n} revert(s) created, {a} written, {c} conflicts.",
    ),
    ("export", "Export", "Export"),
    (
        "forbidden",
        "Ihre Rolle erlaubt das nicht.",
        "Your role does not allow this.",
    ),
    ("error", "Fehler", "Error"),
    ("decision", "Entscheidung", "Decision"),
    (
        "no_changes",
        "Keine Änderungen für diesen Filter.",
        "No changes for this filter.",
    ),
    ("values", "Werte im Vergleich", "Values side by side"),
    ("change", "Änderung", "Change"),
    ("viewer", "Lesen", "viewer"),
    ("steward", "Prüfen", "steward"),
    ("admin", "Verwaltung", "admin"),
    ("duplicates", "Dubletten", "Duplicates"),
    ("match_verdict", "Ist das dieselbe Firma/Person?", "Is this the same entity?"),
    (
        "no_verdict",
        "Noch kein Urteil zu dieser Zuordnung.",
        "No verdict on this match yet.",
    ),
    ("verdict_confirmed", "bestätigt", "confirmed"),
    ("verdict_rejected", "verworfen", "rejected"),
    ("confirm_match", "Ja, richtig zugeordnet", "Yes, the right match"),
    ("reject_match", "Nein, falsch zugeordnet", "No, the wrong match"),
    ("this_one", "Dieser ist es", "This is the one"),
    (
        "need_verdict",
        "Zuordnungen ohne Urteil, die unsichersten zuerst",
        "Matches without a verdict, least certain first",
    ),
    ("none_waiting", "Keine.", "None."),
    (
        "no_merges",
        "Keine Zusammenführungen für diesen Filter.",
        "No merges for this filter.",
    ),
    ("survivor", "bleibt", "survivor"),
    ("records", "Datensätze", "Records"),
    ("weakest_link", "schwächste Verbindung", "weakest link"),
    ("look_closer", "genauer prüfen", "look closer"),
    ("merge_title", "Dubletten: {name}", "Duplicates: {name}"),
    ("golden", "Ergebnis", "Golden record"),
    ("kept_from", "aus {record}", "from {record}"),
    ("rule_survivor", "vom bleibenden Datensatz", "from the survivor"),
    ("rule_most_recent", "zuletzt geändert", "most recent"),
    ("rule_register_verified", "im Register bestätigt", "verified in the register"),
    ("rule_longest", "am ausführlichsten", "longest"),
    ("rule_non_placeholder", "kein Platzhalter", "not a placeholder"),
    ("approve_merge", "Zusammenführen", "Merge"),
    ("split_out", "Nicht dieselbe Firma/Person", "Not the same entity"),
    ("split", "Abtrennen", "Split out"),
    ("revert_merge", "Zusammenführung rückgängig machen", "Revert the merge"),
    ("merge_reverted", "Zusammenführung rückgängig gemacht.", "Merge reverted."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut req = Request::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn language_comes_from_query_then_cookie_then_accept_language_else_german() {
        type Headers = &'static [(&'static str, &'static str)];
        let cases: &[(&str, Headers, Lang, bool)] = &[
            ("/queue", &[], Lang::De, false),
            ("/queue?lang=en", &[], Lang::En, true),
            (
                "/queue?lang=de",
                &[("cookie", "refsync_lang=en")],
                Lang::De,
                true,
            ),
            (
                "/queue",
                &[("cookie", "a=b; refsync_lang=en")],
                Lang::En,
                false,
            ),
            (
                "/queue",
                &[("accept-language", "en-GB,en;q=0.9,de;q=0.5")],
                Lang::En,
                false,
            ),
            (
                "/queue",
                &[("accept-language", "fr-FR,en;q=0.5")],
                Lang::De,
                false,
            ),
            ("/queue?lang=xx", &[], Lang::De, false),
        ];
        for (uri, headers, lang, chosen) in cases {
            assert_eq!(
                Lang::of(&parts(uri, headers)),
                (*lang, *chosen),
                "{uri} {headers:?}"
            );
        }
    }

    #[test]
    fn every_audit_action_reads_as_words_in_both_languages() {
        for lang in [Lang::De, Lang::En] {
            let mut seen = std::collections::BTreeSet::new();
            for a in AuditAction::ALL {
                let name = a.label(lang);
                assert!(!name.is_empty() && !name.contains('_'), "{a:?}: {name}");
                assert!(seen.insert(name), "`{name}` twice");
            }
        }
    }

    #[test]
    fn every_label_has_both_languages_and_keys_are_unique() {
        let mut keys: Vec<_> = LABELS.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), before, "duplicate label keys");
        for (key, de, en) in LABELS {
            assert!(!de.is_empty() && !en.is_empty(), "{key}");
        }
        assert_eq!(Lang::De.t("approve"), "Übernehmen");
        assert_eq!(Lang::En.t("approve"), "Approve");
    }
}
