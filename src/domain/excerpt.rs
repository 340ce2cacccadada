//! How much of an input a message may quote, and how big one value may be: a 50 MB header
//! line must not become a 50 MB error, nor a 50 MB cell a proposed value.

use std::borrow::Cow;

/// At most this many bytes of any input stand in a message.
pub const MAX_QUOTED_BYTES: usize = 200;

/// The default limit of one field's value in imported files and file registers.
pub const MAX_FIELD_BYTES: usize = 4096;

/// `input` as a message may quote it: whole when short, else its first
/// [`MAX_QUOTED_BYTES`] (cut at a character) and how long it was.
pub fn quoted(input: &str) -> Cow<'_, str> {
    if input.len() <= MAX_QUOTED_BYTES {
        return Cow::Borrowed(input);
    }
    let mut end = MAX_QUOTED_BYTES;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes in all)", &input[..end], input.len()))
}

/// The first of `values` (name, value) over `limit` bytes, as a problem to report.
pub fn oversized<'a>(
    values: impl IntoIterator<Item = (&'a str, &'a str)>,
    limit: usize,
) -> Option<String> {
    values
        .into_iter()
        .find(|(_, v)| v.len() > limit)
        .map(|(name, v)| {
            format!(
                "`{}` holds {} bytes, over the limit of {limit} per field",
                quoted(name),
                v.len()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_input_is_quoted_whole_and_long_input_cut_with_its_length() {
        for (input, expected) in [
            ("Müller GmbH", "Müller GmbH".to_string()),
            (&"a".repeat(200), "a".repeat(200)),
            (
                &"a".repeat(201),
                format!("{}… (201 bytes in all)", "a".repeat(200)),
            ),
            // 'ü' is two bytes: the cut falls before it rather than inside it.
            (
                &format!("{}ü", "a".repeat(199)),
                format!("{}… (201 bytes in all)", "a".repeat(199)),
            ),
        ] {
            assert_eq!(quoted(input), expected);
        }
    }

    #[test]
    fn the_first_value_over_the_limit_is_named() {
        let cells = [("Firma", "Mayer"), ("Notiz", "xxxxxx"), ("Ort", "yyyyyyy")];
        assert_eq!(
            oversized(cells, 5).as_deref(),
            Some("`Notiz` holds 6 bytes, over the limit of 5 per field")
        );
        assert_eq!(oversized(cells, 7), None);
    }

    proptest! {
        #[test]
        fn a_quote_is_never_much_longer_than_the_limit(input in ".{0,600}") {
            let q = quoted(&input);
            prop_assert!(q.len() <= MAX_QUOTED_BYTES + 40);
            prop_assert!(input.starts_with(q.split('…').next().unwrap()));
        }
    }
}
