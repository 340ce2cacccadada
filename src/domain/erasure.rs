//! What identifies an erased person, and the keyed hashes refsync keeps of it instead of
//! the values: enough to recognise the person when a CRM record or an imported row brings
//! them back, useless to anyone without the key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::model::{Field, Record};
use super::normalise::{comparable, comparable_person_name};

/// The fields that make a record personal: emptied when a CRM anonymises an erased person.
pub const PERSONAL_FIELDS: &[Field] = &[
    Field::Salutation,
    Field::Title,
    Field::FirstName,
    Field::LastName,
    Field::Role,
    Field::Email,
    Field::Phone,
    Field::Street,
    Field::HouseNumber,
    Field::Postcode,
    Field::City,
];

/// The identifying values of a record in comparable form, each with its kind:
/// e-mail, phone (E.164), full name with organisation or postcode. A name alone is not
/// used: it would suppress every namesake.
pub fn identifying_values(record: &Record) -> Vec<String> {
    let mut out = Vec::new();
    for field in [Field::Email, Field::Phone] {
        if let Some(v) = record.get(field) {
            out.push(format!("{field}:{}", comparable(field, v)));
        }
    }
    let name = [Field::FirstName, Field::LastName]
        .iter()
        .filter_map(|f| record.get(*f))
        .map(comparable_person_name)
        .collect::<Vec<_>>()
        .join(" ");
    if record.get(Field::LastName).is_some() {
        if let Some(org) = record.get(Field::OrganisationId) {
            out.push(format!("name+organisation:{name}|{}", org.trim()));
        }
        if let Some(postcode) = record.get(Field::Postcode) {
            let postcode = comparable(Field::Postcode, postcode);
            out.push(format!("name+postcode:{name}|{postcode}"));
        }
    }
    out
}

/// The CRM record itself, for a record the CRM kept in anonymised form.
pub fn record_key(crm: &str, record_id: &str) -> String {
    format!("record:{crm}|{record_id}")
}

/// HMAC-SHA256 of `value` under `key`, in hex.
pub fn keyed_hash(key: &[u8], value: &str) -> String {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(value.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        assert_eq!(
            keyed_hash(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn spellings_of_one_person_give_the_same_values() {
        let a = Record::new("1")
            .with(Field::Email, " Anna.Schmidt@Example.DE ")
            .with(Field::Phone, "0221 123456")
            .with(Field::FirstName, "Anna")
            .with(Field::LastName, "Schmidt")
            .with(Field::OrganisationId, "7");
        let b = Record::new("99")
            .with(Field::Email, "mailto:anna.schmidt@example.de")
            .with(Field::Phone, "+49 (0)221 123456")
            .with(Field::FirstName, "ANNA")
            .with(Field::LastName, "Schmidt ")
            .with(Field::OrganisationId, "7");
        assert_eq!(identifying_values(&a), identifying_values(&b));
        assert_eq!(
            identifying_values(&a),
            [
                "email:anna.schmidt@example.de",
                "phone:+49221123456",
                "name+organisation:anna schmidt|7"
            ]
        );
    }

    #[test]
    fn a_name_alone_identifies_nobody() {
        let r = Record::new("1")
            .with(Field::FirstName, "Anna")
            .with(Field::LastName, "Schmidt");
        assert!(identifying_values(&r).is_empty());
        let with_postcode = r.with(Field::Postcode, "50667");
        assert_eq!(
            identifying_values(&with_postcode),
            ["name+postcode:anna schmidt|50667"]
        );
    }
}
