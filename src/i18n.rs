//! The languages refsync speaks to people in: German (the default: the stewards are
//! German) and English. The review UI ([`crate::web::i18n`]) and the report's page each
//! keep their own labels.

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
