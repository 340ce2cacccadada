//! The page frame and small pieces every page shares, as maud templates: every value is
//! escaped by construction, so no page can forget it.

use std::fmt::Write;

use maud::{html, Markup, DOCTYPE};

use super::auth::Actor;
use super::i18n::Lang;
use crate::i18n::{field_label, Label};
use crate::store::users::Role;

/// A value that may be empty; `∅` for none.
pub fn opt(text: Option<&str>) -> Markup {
    html! {
        @match text {
            Some(t) => (t),
            None => span.none { "∅" },
        }
    }
}

/// A labelled value (field, status, policy, band) with its raw id as a tooltip.
pub fn labelled(lang: Lang, value: impl Label + AsId) -> Markup {
    html! { span title=(value.id()) { (value.label(lang)) } }
}

/// A field named by its id, in words, with the id as a tooltip.
pub fn field(lang: Lang, name: &str) -> Markup {
    html! { span.field title=(name) { (field_label(lang, name)) } }
}

/// The raw id of a labelled value, for its tooltip.
pub trait AsId {
    fn id(&self) -> &'static str;
}

macro_rules! as_id {
    ($($ty:ty),*) => { $(impl AsId for $ty { fn id(&self) -> &'static str { self.as_str() } })* };
}
as_id!(
    crate::domain::model::ChangeStatus,
    crate::domain::model::Policy,
    crate::domain::model::Band,
    crate::domain::model::MatchStatus,
    crate::domain::model::MergeStatus,
    crate::domain::model::PassOutcome,
    crate::domain::model::ChangeKind
);

/// Escapes a URL path segment (record ids may hold anything).
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The page of one record.
pub fn record_url(job: &str, record_id: &str) -> String {
    format!("/records/{}/{}", path_segment(job), path_segment(record_id))
}

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> Markup {
    html! { input type="hidden" name=(name) value=(value); }
}

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#222}
nav{background:#243b53;padding:.5em 1em}nav a,nav span{color:#fff;margin-right:1.2em;text-decoration:none}
nav form{display:inline}nav button{background:none;border:1px solid #fff;color:#fff;cursor:pointer}
main{padding:1em}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
tr.sel{background:#fff3c4}.diff{background:#ffe0e0}.same{color:#666}.none{color:#999}
.msg{background:#e3f9e5;padding:.5em;margin-bottom:1em}.err{background:#ffe0e0;padding:.5em}
form.inline{display:inline}.filters label{margin-right:.8em}.counts span{margin-right:1em}
progress{width:20em}
.card{border:1px solid #ccd;border-radius:4px;margin:.6em 0;padding:.4em .8em}.card.sel{border:2px solid #d9a400;background:#fffbea}
.card h2{font-size:1.1em;margin:.2em 0}.card .match{color:#444}.card table{margin:.3em 0}
del{background:#ffe0e0;text-decoration:line-through}ins{background:#e3f9e5;text-decoration:none}
.cols{display:flex;gap:1em;overflow-x:auto}.cols>div{flex:1;min-width:14em;border:1px solid #ccd;padding:.4em}";

/// A whole page: title, navigation for a logged-in actor, the body.
pub fn page(lang: Lang, title: &str, actor: Option<&Actor>, body: Markup) -> String {
    let other = if lang == Lang::De {
        ("en", "English")
    } else {
        ("de", "Deutsch")
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width";
                // No icon: the browser would otherwise ask for /favicon.ico on every visit.
                link rel="icon" href="data:,";
                title { (title) " – refsync" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                nav {
                    @if let Some(a) = actor {
                        a href="/queue" { (lang.t("queue")) }
                        a href="/duplicates" id="nav-duplicates" { (lang.t("duplicates")) }
                        a href="/passes" { (lang.t("passes")) }
                        a href="/audit" { (lang.t("audit")) }
                        a href="/report" id="nav-report" { (lang.t("report")) }
                        @if a.role >= Role::Admin {
                            a href="/admin/tune" id="nav-tune" { (lang.t("tuning")) }
                        }
                        span { (a.name) " (" (lang.t(a.role.as_str())) ")" }
                        form method="post" action="/logout" {
                            (hidden("csrf", a.csrf()))
                            button { (lang.t("logout")) }
                        }
                        a href={ "?lang=" (other.0) } id="nav-lang" { (other.1) }
                    } @else {
                        span { (lang.t("app")) }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_show_as_such_and_others_are_escaped() {
        assert_eq!(opt(None).into_string(), "<span class=\"none\">∅</span>");
        assert_eq!(opt(Some("<b>")).into_string(), "&lt;b&gt;");
        assert_eq!(
            hidden("x", "\"><script>").into_string(),
            "<input type=\"hidden\" name=\"x\" value=\"&quot;&gt;&lt;script&gt;\">"
        );
    }

    #[test]
    fn fields_read_as_words_with_the_id_as_tooltip() {
        assert_eq!(
            field(Lang::De, "legal_name").into_string(),
            "<span class=\"field\" title=\"legal_name\">Firmenname</span>"
        );
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("org-17"), "org-17");
        assert_eq!(path_segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(path_segment("ä"), "%C3%A4");
    }
}
