//! A firm's size class from the headcount a CRM keeps, as people type it: `12`, `1.250`,
//! `50-249`, `ca. 300`, `250+`, `über 500`, `bis 9`, or a vendor band such as HubSpot's
//! `25-50`. The classes are those of the EU's SME definition (Recommendation 2003/361/EC),
//! by headcount only: turnover and balance sheet are rarely in a CRM.

use serde::Serialize;

/// EU size class by headcount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SizeClass {
    /// Fewer than 10 persons employed.
    Micro,
    /// 10 to 49.
    Small,
    /// 50 to 249.
    Medium,
    /// 250 and more.
    Large,
}

impl SizeClass {
    pub const ALL: [SizeClass; 4] = [
        SizeClass::Micro,
        SizeClass::Small,
        SizeClass::Medium,
        SizeClass::Large,
    ];

    fn of(headcount: u64) -> SizeClass {
        match headcount {
            0..=9 => SizeClass::Micro,
            10..=49 => SizeClass::Small,
            50..=249 => SizeClass::Medium,
            _ => SizeClass::Large,
        }
    }

    /// The headcount range as a segment key: the same in every language.
    pub fn key(self) -> &'static str {
        match self {
            SizeClass::Micro => "<10",
            SizeClass::Small => "10-49",
            SizeClass::Medium => "50-249",
            SizeClass::Large => "250+",
        }
    }
}

/// Words before a number that make it a bound: `über 249` is 250 and more, `bis 9` is 9
/// and fewer, `unter 10` is 9 and fewer; compared on the lower-cased text.
const ABOVE: [&str; 5] = ["über", "mehr als", "more than", "over", ">"];
const UNDER: [&str; 4] = ["unter", "weniger als", "less than", "<"];

/// The size class of a headcount as typed; `None` when the text holds no headcount.
/// A range is classed by its middle (`25-50` → small, `100-500` → large), a bound by the
/// nearest headcount inside it (`> 249` → large, `< 10` → micro, `250+` → large).
pub fn size_class(raw: &str) -> Option<SizeClass> {
    let text = raw.trim().to_lowercase();
    let headcount = match headcounts(&text).as_slice() {
        [] => return None,
        [n] => {
            let before = &text[..text.find(|c: char| c.is_ascii_digit()).unwrap_or(0)];
            let said = |words: &[&str]| words.iter().any(|w| before.contains(w));
            // `bis 9`, `up to 49` and `250+` include their number, as a plain count does.
            if said(&ABOVE) {
                n.saturating_add(1)
            } else if said(&UNDER) {
                n.saturating_sub(1)
            } else {
                *n
            }
        }
        [low, high, ..] => low.saturating_add(*high) / 2,
    };
    Some(SizeClass::of(headcount))
}

/// The whole numbers in `text`, with German or English thousands separators read as such
/// (`1.250`, `1,250`, `1 250`): a separator followed by exactly three digits.
fn headcounts(text: &str) -> Vec<u64> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut value: u64 = 0;
        loop {
            while i < chars.len() && chars[i].is_ascii_digit() {
                let digit = u64::from(chars[i] as u8 - b'0');
                value = value.saturating_mul(10).saturating_add(digit);
                i += 1;
            }
            let grouped = i + 4 <= chars.len()
                && matches!(chars[i], '.' | ',' | ' ' | '\u{a0}')
                && chars[i + 1..i + 4].iter().all(char::is_ascii_digit)
                && chars.get(i + 4).is_none_or(|c| !c.is_ascii_digit());
            if !grouped {
                break;
            }
            i += 1;
        }
        out.push(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::SizeClass::*;
    use super::*;

    #[test]
    fn headcounts_as_people_type_them_fall_into_the_eu_classes() {
        let table: &[(&str, Option<SizeClass>)] = &[
            ("7", Some(Micro)),
            ("0", Some(Micro)),
            ("9", Some(Micro)),
            ("10", Some(Small)),
            ("49", Some(Small)),
            ("50", Some(Medium)),
            ("249", Some(Medium)),
            ("250", Some(Large)),
            ("1.250", Some(Large)),
            ("1,250", Some(Large)),
            ("1 250", Some(Large)),
            ("12000", Some(Large)),
            ("ca. 40", Some(Small)),
            ("ca. 40 Mitarbeiter", Some(Small)),
            ("10-49", Some(Small)),
            ("50 – 249", Some(Medium)),
            ("25-50", Some(Small)),
            ("100-500", Some(Large)),
            ("1-9", Some(Micro)),
            ("250+", Some(Large)),
            ("über 249", Some(Large)),
            ("mehr als 49", Some(Medium)),
            ("> 9", Some(Small)),
            ("<10", Some(Micro)),
            ("unter 50", Some(Small)),
            ("bis 9", Some(Micro)),
            ("up to 49", Some(Small)),
            ("k.A.", None),
            ("unbekannt", None),
            ("", None),
        ];
        for (raw, want) in table {
            assert_eq!(size_class(raw), *want, "{raw:?}");
        }
    }

    #[test]
    fn a_decimal_is_not_read_as_a_thousands_separator() {
        // `1.5` has one digit after the point: two numbers, a range of 1 to 5.
        assert_eq!(headcounts("1.5"), [1, 5]);
        assert_eq!(headcounts("1.2500"), [1, 2500]);
        assert_eq!(headcounts("2.000.000"), [2_000_000]);
    }

    #[test]
    fn every_class_has_its_own_key() {
        let keys: std::collections::BTreeSet<_> = SizeClass::ALL.iter().map(|c| c.key()).collect();
        assert_eq!(keys.len(), SizeClass::ALL.len());
    }

    proptest::proptest! {
        #[test]
        fn any_text_gives_a_class_or_none_and_never_panics(raw in ".{0,40}") {
            let _ = size_class(&raw);
        }

        #[test]
        fn a_plain_count_is_classed_by_its_value(n in 0u64..100_000) {
            proptest::prop_assert_eq!(size_class(&n.to_string()), Some(SizeClass::of(n)));
        }
    }
}
