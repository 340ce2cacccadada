//! The one HTML escaping every page refsync renders goes through: the review UI and the
//! access-request document.

/// Text made safe for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_in_text_and_attributes_is_neutralised() {
        for (raw, escaped) in [
            ("Müller & Söhne", "Müller &amp; Söhne"),
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("\" onmouseover=\"x", "&quot; onmouseover=&quot;x"),
            ("it's", "it&#39;s"),
            ("Müller", "Müller"),
            ("", ""),
        ] {
            assert_eq!(escape(raw), escaped);
        }
    }
}
