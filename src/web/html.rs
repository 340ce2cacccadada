//! HTML from Rust strings: one escaping helper every value goes through, and the page frame.

use std::fmt::Write;

use super::auth::Actor;
use super::i18n::Lang;
use crate::store::users::Role;

pub use crate::html_escape::escape as esc;

/// A value that may be empty, escaped; `∅` for none.
pub fn opt(text: Option<&str>) -> String {
    text.map_or_else(|| "<span class=\"none\">∅</span>".to_string(), esc)
}

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

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        esc(name),
        esc(value)
    )
}

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#222}
nav{background:#243b53;padding:.5em 1em}nav a,nav span{color:#fff;margin-right:1.2em;text-decoration:none}
nav form{display:inline}nav button{background:none;border:1px solid #fff;color:#fff;cursor:pointer}
main{padding:1em}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
tr.sel{background:#fff3c4}.diff{background:#ffe0e0}.same{color:#666}.none{color:#999}
.msg{background:#e3f9e5;padding:.5em;margin-bottom:1em}.err{background:#ffe0e0;padding:.5em}
form.inline{display:inline}.filters label{margin-right:.8em}.counts span{margin-right:1em}
progress{width:20em}";

/// A whole page: title, navigation for a logged-in actor, the body.
pub fn page(lang: Lang, title: &str, actor: Option<&Actor>, body: &str) -> String {
    let nav = match actor {
        Some(a) => format!(
            "<nav><a href=\"/queue\">{}</a><a href=\"/passes\">{}</a><a href=\"/audit\">{}</a>\
             <a href=\"/report\" id=\"nav-report\">{}</a>{}\
             <span>{} ({})</span><form method=\"post\" action=\"/logout\">{}<button>{}</button></form>\
             <a href=\"?lang={}\">{}</a></nav>",
            lang.t("queue"),
            lang.t("passes"),
            lang.t("audit"),
            lang.t("report"),
            if a.role >= Role::Admin {
                format!("<a href=\"/admin/tune\" id=\"nav-tune\">{}</a>", lang.t("tuning"))
            } else {
                String::new()
            },
            esc(&a.name),
            a.role.as_str(),
            hidden("csrf", a.csrf()),
            lang.t("logout"),
            if lang == Lang::De { "en" } else { "de" },
            if lang == Lang::De { "English" } else { "Deutsch" },
        ),
        None => format!("<nav><span>{}</span></nav>", lang.t("app")),
    };
    format!(
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{} – refsync</title>\
         <style>{STYLE}</style></head><body>{nav}<main><h1>{}</h1>{body}</main></body></html>",
        lang.code(),
        esc(title),
        esc(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_show_as_such_and_others_are_escaped() {
        assert_eq!(opt(None), "<span class=\"none\">∅</span>");
        assert_eq!(opt(Some("<b>")), "&lt;b&gt;");
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("org-17"), "org-17");
        assert_eq!(path_segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(path_segment("ä"), "%C3%A4");
    }
}
