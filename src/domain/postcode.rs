//! German postcodes (PLZ): whether one exists, whether it fits the city, and its
//! Bundesland, from the OpenStreetMap-derived list in data/de-postcodes (data/SOURCES.md).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;

use super::normalise::{comparable_city, comparable_postcode, country_code};

const LIST: &str = include_str!("../../data/de-postcodes/plz_ort_bundesland.csv");

struct Entry {
    /// The places the postcode serves, as compared.
    places: Vec<String>,
    /// (Bundesland, rows naming it): a postcode on a state border has several.
    states: Vec<(&'static str, usize)>,
}

fn index() -> &'static HashMap<&'static str, Entry> {
    static INDEX: OnceLock<HashMap<&'static str, Entry>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index: HashMap<&'static str, Entry> = HashMap::new();
        // The file is ours and plain (no quoted commas): split, don't parse.
        for line in LIST.lines().skip(1) {
            let mut parts = line.split(',');
            let (Some(plz), Some(place), Some(state)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let entry = index.entry(plz).or_insert_with(|| Entry {
                places: Vec::new(),
                states: Vec::new(),
            });
            entry.places.push(comparable_city(place));
            match entry.states.iter_mut().find(|(s, _)| *s == state) {
                Some((_, n)) => *n += 1,
                None => entry.states.push((state, 1)),
            }
        }
        index
    })
}

/// What the postcode list says about a record's postcode and city.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PostcodeCheck {
    /// The postcode exists and serves the city (or no city is given).
    Fits,
    /// No German postcode is written so.
    Unknown,
    /// The postcode exists, but not for this city.
    OtherCity,
    /// Not a German address: the list cannot judge it.
    NotGerman,
}

/// The German postcode of `raw` in five digits, or `None` when the address is not German
/// (a country other than Germany is given).
fn german(raw: &str, country: Option<&str>) -> Option<String> {
    match country.map(|c| country_code(c).unwrap_or("?")) {
        Some(code) if code != "DE" => None,
        _ => Some(comparable_postcode(raw, Some("DE"))),
    }
}

/// Checks a postcode against the list; `city` is compared the way matching compares
/// cities (`Frankfurt a. M.` = `Frankfurt am Main`).
pub fn check(postcode: &str, city: Option<&str>, country: Option<&str>) -> PostcodeCheck {
    let Some(plz) = german(postcode, country) else {
        return PostcodeCheck::NotGerman;
    };
    let Some(entry) = index().get(plz.as_str()) else {
        return PostcodeCheck::Unknown;
    };
    match city {
        Some(city) if !entry.places.contains(&comparable_city(city)) => PostcodeCheck::OtherCity,
        _ => PostcodeCheck::Fits,
    }
}

/// The Bundesland of a German postcode: the state most of its rows name (a postcode on a
/// state border has rows in two).
pub fn bundesland(postcode: &str, country: Option<&str>) -> Option<&'static str> {
    let plz = german(postcode, country)?;
    index()
        .get(plz.as_str())?
        .states
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(state, _)| *state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes_are_judged_against_the_list() {
        use PostcodeCheck::*;
        // (postcode, city, country, verdict)
        let cases = [
            ("80331", Some("München"), None, Fits),
            ("80331", None, Some("Deutschland"), Fits),
            ("60311", Some("Frankfurt a. M."), Some("DE"), Fits),
            // A leading zero lost in a spreadsheet is put back.
            ("1067", Some("Dresden"), None, Fits),
            ("80331", Some("Hamburg"), None, OtherCity),
            ("00000", Some("Berlin"), None, Unknown),
            ("8033", Some("München"), None, Unknown),
            ("k.A.", None, None, Unknown),
            ("1010", Some("Wien"), Some("Österreich"), NotGerman),
        ];
        for (plz, city, country, want) in cases {
            assert_eq!(
                check(plz, city, country),
                want,
                "{plz} {city:?} {country:?}"
            );
        }
    }

    #[test]
    fn the_bundesland_comes_from_the_postcode() {
        let cases = [
            ("80331", None, Some("Bayern")),
            ("01067", None, Some("Sachsen")),
            ("20095", Some("DE"), Some("Hamburg")),
            ("10115", None, Some("Berlin")),
            ("00000", None, None),
            ("1010", Some("AT"), None),
        ];
        for (plz, country, want) in cases {
            assert_eq!(bundesland(plz, country), want, "{plz}");
        }
    }
}
