//! German register courts: names, XJustiz codes and GLEIF registration authority codes,
//! shared by the GLEIF API and Golden Copy registers.

use std::collections::{BTreeMap, HashMap};

/// XJustiz court codes and names (data/SOURCES.md).
const COURTS_CSV: &str =
    include_str!("../../data/registergerichte_handelsregister_de_2021-08-13.csv");
/// Court code → GLEIF RA code pairs confirmed by real records (data/SOURCES.md).
const RA_CSV: &str = include_str!("../../data/gleif_ra_de_courts.csv");

/// German register courts: names, XJustiz codes and GLEIF RA codes, both ways.
pub struct Courts {
    /// folded court name or code → court code
    pub code_of: HashMap<String, String>,
    pub name_of: HashMap<String, String>,
    pub ra_of: HashMap<String, String>,
    pub code_of_ra: HashMap<String, String>,
}

/// A court name or code as compared: `Amtsgericht Fürth` → `fuerth`.
pub fn fold(s: &str) -> String {
    crate::domain::normalise::normalise_court(s)
}

impl Courts {
    pub fn load(extra: &BTreeMap<String, String>) -> Courts {
        let mut courts = Courts {
            code_of: HashMap::new(),
            name_of: HashMap::new(),
            ra_of: HashMap::new(),
            code_of_ra: HashMap::new(),
        };
        for line in COURTS_CSV.lines().skip(1) {
            let mut cols = line.split(',');
            if let (Some(code), Some(name)) = (cols.next(), cols.next()) {
                courts.code_of.insert(fold(code), code.to_string());
                courts.code_of.insert(fold(name), code.to_string());
                courts.name_of.insert(code.to_string(), name.to_string());
            }
        }
        let shipped = RA_CSV.lines().skip(1).filter_map(|l| {
            let mut cols = l.split(',');
            Some((cols.next()?.to_string(), cols.next()?.to_string()))
        });
        let configured = extra.iter().filter_map(|(court, ra)| {
            let code = courts.code_of.get(&fold(court)).cloned()?;
            Some((code, ra.clone()))
        });
        for (code, ra) in shipped.chain(configured).collect::<Vec<_>>() {
            courts.code_of_ra.insert(ra.clone(), code.clone());
            courts.ra_of.insert(code, ra);
        }
        courts
    }

    pub fn code(&self, court: &str) -> Option<&String> {
        self.code_of.get(&fold(court))
    }
}

impl Courts {
    /// The court's name for a GLEIF RA code, where the pair is known.
    pub fn name_of_ra(&self, ra: &str) -> Option<&String> {
        self.name_of.get(self.code_of_ra.get(ra)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn courts_map_names_and_codes_to_ra_codes() {
        let courts = Courts::load(&BTreeMap::from([(
            "Charlottenburg (Berlin)".to_string(),
            "RA000999".to_string(),
        )]));
        let frankfurt = courts.code("Amtsgericht Frankfurt am Main").unwrap();
        assert_eq!(
            courts.ra_of.get(frankfurt).map(String::as_str),
            Some("RA000242")
        );
        assert_eq!(
            courts
                .code("Fürth")
                .and_then(|c| courts.ra_of.get(c))
                .map(String::as_str),
            Some("RA000247")
        );
        assert_eq!(
            courts
                .code("F1103")
                .and_then(|c| courts.ra_of.get(c))
                .map(String::as_str),
            Some("RA000999")
        );
        assert!(courts.code("Gotham City").is_none());
    }
}
