//! Normalisers: total functions from raw CRM or register text to comparable forms.
//! Every one of them never panics and is idempotent (applying it to its own output
//! changes nothing); the tables and property tests below hold them to that.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::model::Field;

/// Lower case, German letters folded (ä→ae, ö→oe, ü→ue, ß→ss, other accents dropped),
/// punctuation to blanks, `&`/`+` to `und`, blanks collapsed.
pub fn fold_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    // A blank is written only before the next kept character: no leading, trailing or
    // doubled blanks.
    let mut pending_blank = false;
    let mut push = |out: &mut String, piece: &str| {
        for c in piece.chars() {
            if c == ' ' {
                pending_blank = !out.is_empty();
            } else {
                if pending_blank {
                    out.push(' ');
                    pending_blank = false;
                }
                out.push(c);
            }
        }
    };
    for c in s.chars() {
        // Most text is ASCII: letters and digits go straight through.
        if c.is_ascii_alphanumeric() {
            let mut buf = [0u8; 1];
            push(&mut out, c.to_ascii_lowercase().encode_utf8(&mut buf));
            continue;
        }
        for c in c.to_lowercase() {
            let piece: &str = match c {
                'ä' | 'æ' => "ae",
                'ö' | 'ø' | 'œ' | 'ő' => "oe",
                'ü' | 'ű' => "ue",
                'ß' => "ss",
                'á' | 'à' | 'â' | 'ã' | 'å' | 'ą' | 'ă' => "a",
                'é' | 'è' | 'ê' | 'ë' | 'ę' | 'ě' => "e",
                'í' | 'ì' | 'î' | 'ï' | 'ı' => "i",
                'ó' | 'ò' | 'ô' | 'õ' => "o",
                'ú' | 'ù' | 'û' | 'ů' => "u",
                'ç' | 'č' | 'ć' => "c",
                'ñ' | 'ń' | 'ň' => "n",
                'š' | 'ś' | 'ş' => "s",
                'ž' | 'ź' | 'ż' => "z",
                'ł' => "l",
                'ř' => "r",
                'ý' | 'ÿ' => "y",
                'ď' => "d",
                'ť' => "t",
                '&' | '+' => " und ",
                c if c.is_alphanumeric() => {
                    let mut buf = [0u8; 4];
                    push(&mut out, c.encode_utf8(&mut buf));
                    continue;
                }
                _ => " ",
            };
            push(&mut out, piece);
        }
    }
    out
}

/// A looser form of already folded text in which `Müller`, `Mueller` and `MULLER` agree:
/// the umlaut spellings `ae`/`oe`/`ue` lose their `e`. Used for matching, never for writing.
pub fn loose(folded: &str) -> String {
    let mut out = String::with_capacity(folded.len());
    for c in folded.chars() {
        // `que` (Jacques) and `eue` (neue) keep their e: there it is not an umlaut spelling.
        let after_vowel =
            out.ends_with(['a', 'o', 'u']) && !out.ends_with("qu") && !out.ends_with("eu");
        if c == 'e' && after_vowel {
            continue;
        }
        out.push(c);
    }
    out
}

/// One known legal form: its canonical spelling and its ISO 20275 ELF codes by country.
struct LegalForm {
    canonical: &'static str,
    /// (ISO 3166 country, ELF code). Only codes seen on real GLEIF records are listed, so a
    /// form without an entry for a country gets no code rather than a guessed one.
    elf: &'static [(&'static str, &'static str)],
    /// Folded spellings that mean this form.
    spellings: &'static [&'static str],
}

const KG_ELF: &[(&str, &str)] = &[("DE", "8Z6G")];

const LEGAL_FORMS: &[LegalForm] = &[
    LegalForm {
        canonical: "GmbH & Co. KGaA",
        elf: &[],
        spellings: &["gmbh und co kgaa", "gmbh u co kgaa"],
    },
    LegalForm {
        canonical: "GmbH & Co. KG",
        elf: KG_ELF,
        spellings: &[
            "gmbh und co kg",
            "gmbh u co kg",
            "gmbh co kg",
            "gmbh und compagnie kg",
            "gmbh und co kommanditgesellschaft",
            "mbh und co kg",
        ],
    },
    LegalForm {
        canonical: "UG (haftungsbeschränkt) & Co. KG",
        elf: KG_ELF,
        spellings: &["ug haftungsbeschraenkt und co kg", "ug und co kg"],
    },
    LegalForm {
        canonical: "AG & Co. KG",
        elf: KG_ELF,
        spellings: &["ag und co kg", "ag u co kg"],
    },
    LegalForm {
        canonical: "SE & Co. KG",
        elf: KG_ELF,
        spellings: &["se und co kg", "se u co kg"],
    },
    LegalForm {
        canonical: "GmbH",
        elf: &[("DE", "2HBR"), ("AT", "AXSB")],
        spellings: &[
            "gmbh",
            "g m b h",
            "gesellschaft mit beschraenkter haftung",
            "ges m b h",
            "gesmbh",
        ],
    },
    LegalForm {
        // The ELF list files the UG as a variant of the GmbH (same code).
        canonical: "UG (haftungsbeschränkt)",
        elf: &[("DE", "2HBR")],
        spellings: &[
            "ug haftungsbeschraenkt",
            "ug haftungsbeschrankt",
            "unternehmergesellschaft haftungsbeschraenkt",
            "ug hb",
            "ug",
        ],
    },
    LegalForm {
        canonical: "PartG mbB",
        elf: &[],
        spellings: &["partg mbb", "partnerschaftsgesellschaft mbb"],
    },
    LegalForm {
        canonical: "mbH",
        elf: &[("DE", "2HBR")],
        spellings: &["mbh", "m b h"],
    },
    LegalForm {
        canonical: "KGaA",
        elf: &[],
        spellings: &["kgaa", "kommanditgesellschaft auf aktien"],
    },
    LegalForm {
        canonical: "AG",
        elf: &[("DE", "6QQB")],
        spellings: &["ag", "aktiengesellschaft"],
    },
    LegalForm {
        canonical: "SE",
        elf: &[("DE", "SGST")],
        spellings: &["se", "societas europaea"],
    },
    LegalForm {
        canonical: "KG",
        elf: KG_ELF,
        spellings: &["kg", "kommanditgesellschaft"],
    },
    LegalForm {
        canonical: "OHG",
        elf: &[],
        spellings: &["ohg", "offene handelsgesellschaft"],
    },
    LegalForm {
        canonical: "e.K.",
        elf: &[],
        spellings: &["e k", "ek", "e kfm", "e kfr", "eingetragener kaufmann"],
    },
    LegalForm {
        canonical: "e.V.",
        elf: &[],
        spellings: &["e v", "ev", "eingetragener verein"],
    },
    LegalForm {
        canonical: "eG",
        elf: &[],
        spellings: &["e g", "eg", "eingetragene genossenschaft"],
    },
    LegalForm {
        canonical: "GbR",
        elf: &[],
        spellings: &["gbr", "gesellschaft buergerlichen rechts"],
    },
    LegalForm {
        canonical: "PartG",
        elf: &[],
        spellings: &["partg", "partnerschaftsgesellschaft"],
    },
    LegalForm {
        canonical: "Ltd",
        elf: &[("GB", "H0PO")],
        spellings: &["ltd", "limited"],
    },
    LegalForm {
        canonical: "plc",
        elf: &[("GB", "B6ES")],
        spellings: &["plc", "public limited company"],
    },
    LegalForm {
        canonical: "LLC",
        elf: &[],
        spellings: &["llc", "l l c"],
    },
    LegalForm {
        canonical: "Inc.",
        elf: &[],
        spellings: &["inc", "incorporated"],
    },
    LegalForm {
        canonical: "S.à r.l.",
        elf: &[],
        spellings: &["s a r l", "sarl", "s ar l"],
    },
    LegalForm {
        canonical: "S.A.",
        elf: &[("LU", "5GGB"), ("PL", "FJ0E")],
        spellings: &["s a", "sa", "spolka akcyjna"],
    },
    LegalForm {
        canonical: "B.V.",
        elf: &[("NL", "54M6")],
        spellings: &["b v", "bv", "besloten vennootschap"],
    },
    LegalForm {
        canonical: "N.V.",
        elf: &[],
        spellings: &["n v", "nv", "naamloze vennootschap"],
    },
    LegalForm {
        canonical: "C.V.",
        elf: &[("NL", "CODH")],
        spellings: &["c v", "cv", "commanditaire vennootschap"],
    },
    LegalForm {
        canonical: "S.p.A.",
        elf: &[],
        spellings: &["s p a", "spa", "societa per azioni"],
    },
    LegalForm {
        canonical: "S.r.l.",
        elf: &[("IT", "OV32")],
        spellings: &["s r l", "srl", "societa a responsabilita limitata"],
    },
    LegalForm {
        canonical: "sp. z o.o.",
        elf: &[("PL", "O7XB")],
        spellings: &[
            "sp z o o",
            "sp z oo",
            "spolka z ograniczona odpowiedzialnoscia",
        ],
    },
    LegalForm {
        canonical: "s.r.o.",
        elf: &[],
        spellings: &["s r o", "sro", "spol s r o"],
    },
    LegalForm {
        canonical: "AB",
        elf: &[("SE", "XJHM")],
        spellings: &["ab", "aktiebolag"],
    },
    LegalForm {
        canonical: "A/S",
        elf: &[],
        spellings: &["a s", "aktieselskab"],
    },
    LegalForm {
        canonical: "Oy",
        elf: &[("FI", "DKUW")],
        spellings: &["oy", "osakeyhtioe"],
    },
];

/// The legal form a folded name ends with, as (index into [`LEGAL_FORMS`], folded length
/// of the spelling). The longest spelling wins, so `gmbh und co kg` beats `kg`.
fn trailing_legal_form(folded: &str) -> Option<(usize, usize)> {
    static BY_SPELLING: LazyLock<(HashMap<&'static str, usize>, usize)> = LazyLock::new(|| {
        let mut map = HashMap::new();
        let mut most_words = 1;
        for (i, form) in LEGAL_FORMS.iter().enumerate() {
            for spelling in form.spellings {
                map.entry(*spelling).or_insert(i);
                most_words = most_words.max(spelling.split(' ').count());
            }
        }
        (map, most_words)
    });
    let (map, most_words) = &*BY_SPELLING;
    // Try the last n words, longest first: a handful of lookups instead of a scan.
    let starts: Vec<usize> = std::iter::once(0)
        .chain(folded.match_indices(' ').map(|(i, _)| i + 1))
        .collect();
    starts
        .iter()
        .rev()
        .take(*most_words)
        .rev()
        .find_map(|&start| {
            map.get(&folded[start..])
                .map(|&i| (i, folded.len() - start))
        })
}

/// Splits a trailing legal form off an organisation name: `("mueller maschinenbau", Some("GmbH"))`.
/// The name part is folded; the legal form is in its canonical spelling.
pub fn split_legal_form(name: &str) -> (String, Option<&'static str>) {
    let folded = fold_text(name);
    match trailing_legal_form(&folded) {
        Some((i, len)) => {
            let core = folded[..folded.len() - len].trim_end().to_string();
            (core, Some(LEGAL_FORMS[i].canonical))
        }
        None => (folded, None),
    }
}

/// The canonical spelling of a legal form written any common way or as its ELF code, if
/// refsync knows it.
pub fn canonical_legal_form(raw: &str) -> Option<&'static str> {
    static BY_SPELLING: LazyLock<HashMap<String, &'static str>> = LazyLock::new(|| {
        let mut map = HashMap::new();
        for form in LEGAL_FORMS {
            map.insert(fold_text(form.canonical), form.canonical);
            for spelling in form.spellings {
                map.insert((*spelling).to_string(), form.canonical);
            }
        }
        // GLEIF gives legal forms as ELF codes: a code means the first plain form (not a
        // `& Co.` one) that carries it, so 2HBR is GmbH and 8Z6G is KG.
        for form in LEGAL_FORMS.iter().filter(|f| !f.canonical.contains('&')) {
            for (_, code) in form.elf {
                map.entry(code.to_ascii_lowercase())
                    .or_insert(form.canonical);
            }
        }
        map
    });
    BY_SPELLING.get(&fold_text(raw)).copied()
}

/// The ISO 20275 ELF code of a canonical legal form in `country` (ISO 3166 alpha-2;
/// Germany when unknown, the common case for this CRM).
pub fn elf_code(canonical: &str, country: Option<&str>) -> Option<&'static str> {
    let country = country.and_then(country_code).unwrap_or("DE");
    LEGAL_FORMS
        .iter()
        .find(|form| form.canonical == canonical)?
        .elf
        .iter()
        .find(|(c, _)| *c == country)
        .map(|(_, code)| *code)
}

/// Words that say nothing about which organisation is meant.
const NOISE_WORDS: &[&str] = &["und", "and", "der", "die", "das", "the", "et"];

/// An organisation name as matching compares it: legal form removed, noise words dropped,
/// umlaut spellings loosened. `Müller & Söhne GmbH` → `muller sohne`.
pub fn name_core(name: &str) -> String {
    let mut current = fold_text(name);
    // Stripping a form or a noise word can expose another (`Meier Ag AG`); a few rounds
    // reach the fixed point, which keeps the function idempotent. The text is folded once:
    // folding is idempotent, so the rounds work on folded text.
    for _ in 0..8 {
        let core = match trailing_legal_form(&current) {
            Some((_, len)) => current[..current.len() - len].trim_end(),
            None => current.as_str(),
        };
        let mut kept = String::with_capacity(core.len());
        for t in core
            .split(' ')
            .filter(|t| !t.is_empty() && !NOISE_WORDS.contains(t))
        {
            if !kept.is_empty() {
                kept.push(' ');
            }
            kept.push_str(t);
        }
        let next = loose(&kept);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// An organisation name without its trailing legal form, in the spelling it was written
/// in (`Müller Maschinenbau Gesellschaft mit beschränkter Haftung` → `Müller Maschinenbau`);
/// `None` when it ends in none.
pub fn without_legal_form(name: &str) -> Option<String> {
    let words: Vec<&str> = name.split_whitespace().collect();
    // The longest tail that is a legal form, keeping at least one word of the name.
    (1..words.len())
        .rev()
        .take(6)
        .find(|&k| canonical_legal_form(&words[words.len() - k..].join(" ")).is_some())
        .map(|k| {
            words[..words.len() - k]
                .join(" ")
                .trim_end_matches([',', '-', '&'])
                .trim_end()
                .to_string()
        })
        .filter(|n| !n.is_empty())
}

/// The name with umlauts written the other way: `ae`/`oe`/`ue` as `ä`/`ö`/`ü` where the
/// name has no umlaut, else `ä`/`ö`/`ü`/`ß` as `ae`/`oe`/`ue`/`ss`. `None` if nothing changes.
pub fn umlauts_respelled(name: &str) -> Option<String> {
    let out = if name.contains(['ä', 'ö', 'ü', 'Ä', 'Ö', 'Ü', 'ß']) {
        let mut out = String::with_capacity(name.len() + 4);
        for c in name.chars() {
            match c {
                'ä' => out.push_str("ae"),
                'ö' => out.push_str("oe"),
                'ü' => out.push_str("ue"),
                'Ä' => out.push_str("Ae"),
                'Ö' => out.push_str("Oe"),
                'Ü' => out.push_str("Ue"),
                'ß' => out.push_str("ss"),
                c => out.push(c),
            }
        }
        out
    } else {
        let mut out = String::with_capacity(name.len());
        let mut chars = name.chars().peekable();
        while let Some(c) = chars.next() {
            let umlaut = match (c, chars.peek()) {
                ('a', Some('e')) => Some('ä'),
                ('o', Some('e')) => Some('ö'),
                // `que`, `eue` (Neue), `aue` (Bauer) are not umlauts.
                ('u', Some('e')) if !out.ends_with(['q', 'e', 'a', 'Q', 'E', 'A']) => Some('ü'),
                ('A', Some('e')) => Some('Ä'),
                ('O', Some('e')) => Some('Ö'),
                ('U', Some('e')) => Some('Ü'),
                _ => None,
            };
            match umlaut {
                Some(u) => {
                    chars.next();
                    out.push(u);
                }
                None => out.push(c),
            }
        }
        out
    };
    (out != name).then_some(out)
}

/// The forms in which a name is asked of a search that needs every word to occur, most
/// exact first: as typed, with umlauts respelled, without the legal form, then shorter
/// prefixes of words. Each differs from those before it.
pub fn name_query_forms(name: &str) -> Vec<String> {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Vec::new();
    }
    let respelled = umlauts_respelled(&name);
    let mut bases = vec![name.clone()];
    bases.extend(respelled.clone());
    // `Weiss` for `Weiß`: a search that folds accents still tells ß from ss.
    let unfolded = respelled
        .as_deref()
        .filter(|r| r.contains(['ä', 'ö', 'ü', 'Ä', 'Ö', 'Ü']));
    let sharp = unfolded.unwrap_or(&name);
    if sharp.contains("ss") && !sharp.contains('ß') {
        bases.push(sharp.replace("ss", "ß"));
    }
    let mut forms = bases.clone();
    let stripped: Vec<String> = bases.iter().filter_map(|b| without_legal_form(b)).collect();
    forms.extend(stripped.iter().cloned());
    let core = stripped.first().cloned().unwrap_or(name);
    let words: Vec<&str> = core.split(' ').collect();
    if words.len() >= 3 {
        forms.push(words[..2].join(" "));
    }
    if words.len() >= 2 && words[0].chars().count() >= 4 {
        forms.push(words[0].to_string());
    }
    let mut seen = std::collections::HashSet::new();
    forms.retain(|f| seen.insert(f.to_lowercase()));
    forms
}

/// ISO 3166 alpha-2 code of a country written as a code or a common German/English name.
pub fn country_code(raw: &str) -> Option<&'static str> {
    const COUNTRIES: &[(&str, &[&str])] = &[
        ("DE", &["de", "deu", "d", "deutschland", "germany", "brd"]),
        ("AT", &["at", "aut", "a", "oesterreich", "austria"]),
        ("CH", &["ch", "che", "schweiz", "switzerland", "suisse"]),
        (
            "NL",
            &["nl", "nld", "niederlande", "netherlands", "holland"],
        ),
        ("BE", &["be", "bel", "belgien", "belgium"]),
        ("LU", &["lu", "lux", "luxemburg", "luxembourg"]),
        ("FR", &["fr", "fra", "frankreich", "france"]),
        ("IT", &["it", "ita", "italien", "italy"]),
        ("ES", &["es", "esp", "spanien", "spain"]),
        ("PL", &["pl", "pol", "polen", "poland"]),
        (
            "CZ",
            &["cz", "cze", "tschechien", "czechia", "czech republic"],
        ),
        ("DK", &["dk", "dnk", "daenemark", "denmark"]),
        ("SE", &["se", "swe", "schweden", "sweden"]),
        ("FI", &["fi", "fin", "finnland", "finland"]),
        (
            "GB",
            &[
                "gb",
                "uk",
                "gbr",
                "grossbritannien",
                "united kingdom",
                "england",
            ],
        ),
        ("IE", &["ie", "irl", "irland", "ireland"]),
        ("US", &["us", "usa", "vereinigte staaten", "united states"]),
    ];
    let folded = fold_text(raw);
    COUNTRIES
        .iter()
        .find(|(code, names)| {
            names.contains(&folded.as_str()) || code.eq_ignore_ascii_case(&folded)
        })
        .map(|(code, _)| *code)
}

/// Upper case letters and digits only: the shape identifiers are compared in.
pub fn compact_id(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// ISO 17442 LEI: 20 characters, check digits by ISO 7064 MOD 97-10.
pub fn is_valid_lei(raw: &str) -> bool {
    let lei = compact_id(raw);
    lei.len() == 20 && mod97(&lei) == Some(1)
}

/// The remainder mod 97 of the number formed by replacing letters with 10..35.
pub fn mod97(s: &str) -> Option<u32> {
    let mut rem: u32 = 0;
    for c in s.chars() {
        let v = c.to_digit(36)?;
        if v >= 10 {
            rem = (rem * 100 + v) % 97;
        } else {
            rem = (rem * 10 + v) % 97;
        }
    }
    Some(rem)
}

/// A VAT id in compact form (`DE123456789`); Greece's `GR` prefix is written `EL`.
pub fn compact_vat(raw: &str) -> String {
    let c = compact_id(raw);
    match c.strip_prefix("GR") {
        Some(rest) => format!("EL{rest}"),
        None => c,
    }
}

/// Whether a VAT id has the shape its EU country prescribes (and, for Germany, the right
/// check digit). Shapes: `9` a digit, `A` a letter or digit, `L` a letter.
pub fn is_plausible_vat(raw: &str) -> bool {
    const SHAPES: &[(&str, &[&str])] = &[
        ("AT", &["U99999999"]),
        ("BE", &["9999999999"]),
        ("BG", &["999999999", "9999999999"]),
        ("CY", &["99999999L"]),
        ("CZ", &["99999999", "999999999", "9999999999"]),
        ("DK", &["99999999"]),
        ("EE", &["999999999"]),
        ("EL", &["999999999"]),
        ("ES", &["A9999999A"]),
        ("FI", &["99999999"]),
        ("FR", &["AA999999999"]),
        ("HR", &["99999999999"]),
        ("HU", &["99999999"]),
        ("IE", &["9A99999L", "9999999LL", "9999999L"]),
        ("IT", &["99999999999"]),
        ("LT", &["999999999", "999999999999"]),
        ("LU", &["99999999"]),
        ("LV", &["99999999999"]),
        ("MT", &["99999999"]),
        ("NL", &["999999999B99"]),
        ("PL", &["9999999999"]),
        ("PT", &["999999999"]),
        (
            "RO",
            &[
                "99",
                "999",
                "9999",
                "99999",
                "999999",
                "9999999",
                "99999999",
                "999999999",
                "9999999999",
            ],
        ),
        ("SE", &["999999999901"]),
        ("SI", &["99999999"]),
        ("SK", &["9999999999"]),
    ];
    let c = compact_vat(raw);
    if c.starts_with("DE") {
        return is_valid_de_vat(&c);
    }
    let (Some(country), Some(body)) = (c.get(..2), c.get(2..)) else {
        return false;
    };
    let Some((_, shapes)) = SHAPES.iter().find(|(cc, _)| *cc == country) else {
        return false;
    };
    shapes.iter().any(|shape| {
        shape.len() == body.len()
            && shape.bytes().zip(body.bytes()).all(|(s, b)| match s {
                b'9' => b.is_ascii_digit(),
                b'L' => b.is_ascii_uppercase(),
                b'A' => b.is_ascii_alphanumeric(),
                other => other == b,
            })
    })
}

/// German USt-IdNr: `DE` + 9 digits, first not 0, last a check digit by ISO 7064 MOD 11,10.
pub fn is_valid_de_vat(raw: &str) -> bool {
    let c = compact_vat(raw);
    let Some(digits) = c.strip_prefix("DE") else {
        return false;
    };
    if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return false;
    }
    let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    de_vat_check_digit(&d[..8]) == d[8]
}

/// ISO 7064 MOD 11,10 check digit over the first eight digits of a German USt-IdNr.
pub fn de_vat_check_digit(digits: &[u32]) -> u32 {
    let mut product = 10;
    for &digit in digits {
        let mut sum = (digit + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    (11 - product) % 10
}

const REGISTER_KINDS: &[&str] = &["HRA", "HRB", "GNR", "PR", "VR", "GSR"];

/// A Handelsregister number: `HRB 12345 B` from `hrb12345b`, `HR B 12345`, `HRB-Nr. 12345`.
pub fn normalise_register_number(raw: &str) -> Option<String> {
    let compact = compact_id(raw);
    let (kind, rest) = REGISTER_KINDS
        .iter()
        .find_map(|k| compact.strip_prefix(k).map(|rest| (*k, rest)))?;
    let rest = rest.strip_prefix("NR").unwrap_or(rest);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let suffix: String = rest[digits.len()..]
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let kind = match kind {
        "GNR" => "GnR",
        "GSR" => "GsR",
        k => k,
    };
    let trimmed = digits.trim_start_matches('0');
    let number = if trimmed.is_empty() { "0" } else { trimmed };
    Some(if suffix.is_empty() {
        format!("{kind} {number}")
    } else {
        format!("{kind} {number} {suffix}")
    })
}

/// A register entry parsed from free text such as `Amtsgericht München HRB 12345` or
/// `HRB 12345 B, AG Charlottenburg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterEntry {
    /// Normalised as [`normalise_register_number`] does: `HRB 12345`.
    pub number: String,
    /// The court as [`normalise_court`] writes it, if the text names one.
    pub court: Option<String>,
}

/// Finds a register type and number anywhere in free text, and the court around it.
pub fn parse_register(raw: &str) -> Option<RegisterEntry> {
    let words: Vec<&str> = raw
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    for start in 0..words.len() {
        let upper = words[start].to_uppercase();
        let head: String = upper.chars().filter(|c| *c != '.' && *c != '-').collect();
        // `HR B` written with a blank: the kind letter is the next word.
        let is_kind = REGISTER_KINDS.iter().any(|k| head.starts_with(k)) || head == "HR";
        if !is_kind {
            continue;
        }
        for len in (1..=4).rev() {
            let Some(span) = words.get(start..start + len) else {
                continue;
            };
            // The suffix letter (`B` for Berlin) only counts when it is a single letter.
            let text = span.join(" ");
            if len > 1
                && span
                    .last()
                    .is_some_and(|w| w.len() > 1 && !w.chars().all(|c| c.is_ascii_digit()))
            {
                continue;
            }
            if let Some(number) = normalise_register_number(&text) {
                let before = words[..start].join(" ");
                let after = words[start + len..].join(" ");
                let court = [before, after]
                    .into_iter()
                    .map(|t| normalise_court(&t))
                    .find(|c| !c.is_empty());
                return Some(RegisterEntry { number, court });
            }
        }
    }
    None
}

/// A register court as a folded place name: `Amtsgericht München` and `AG Muenchen` → `muenchen`.
pub fn normalise_court(raw: &str) -> String {
    const NOISE: &[&str] = &[
        "amtsgericht",
        "ag",
        "registergericht",
        "handelsregister",
        "hr",
        "beim",
        "am",
        "in",
    ];
    let folded = fold_text(raw);
    let mut words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    while words.first().is_some_and(|w| NOISE.contains(w)) {
        words.remove(0);
    }
    while words.last().is_some_and(|w| NOISE.contains(w)) {
        words.pop();
    }
    words.join(" ")
}

/// A phone number in E.164 (`+49891234567`), or `None` when there are too few digits to be
/// one. Numbers without a country prefix take `default_country` (e.g. `49`); a national
/// trunk `(0)` after the country code is dropped.
pub fn e164(raw: &str, default_country: &str) -> Option<String> {
    let trimmed = raw.trim();
    let without_trunk = trimmed.replace("(0)", "");
    let digits: String = without_trunk.chars().filter(char::is_ascii_digit).collect();
    let international = if without_trunk.trim_start().starts_with('+') {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("{default_country}{rest}")
    } else {
        return None;
    };
    (8..=15)
        .contains(&international.len())
        .then(|| format!("+{international}"))
}

/// The comparable form of a phone number: E.164 when it parses, else its digits.
pub fn comparable_phone(raw: &str) -> String {
    e164(raw, "49").unwrap_or_else(|| {
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if raw.trim_start().starts_with('+') && !digits.is_empty() {
            format!("+{digits}")
        } else {
            digits
        }
    })
}

/// A website as host and path: scheme, `www.` and trailing slash dropped, lower case.
pub fn comparable_website(raw: &str) -> String {
    let edge = |c: char| c == '/' || c.is_whitespace();
    let lower = raw.to_lowercase();
    let mut rest = lower.trim_matches(edge);
    loop {
        let next = rest
            .strip_prefix("https://")
            .or_else(|| rest.strip_prefix("http://"))
            .or_else(|| rest.strip_prefix("www."));
        match next {
            Some(n) => rest = n.trim_matches(edge),
            None => break,
        }
    }
    rest.to_string()
}

/// The host of a website, for matching: `https://www.Example.de/kontakt` → `example.de`.
pub fn website_host(raw: &str) -> String {
    let site = comparable_website(raw);
    let host = site.split(['/', '?', '#', ':']).next().unwrap_or_default();
    comparable_website(host)
}

/// An e-mail address as compared: trimmed, lower case, without `mailto:` or angle brackets.
pub fn comparable_email(raw: &str) -> String {
    let lower = raw.trim().to_lowercase();
    let mut s = lower.as_str();
    loop {
        let next = s
            .strip_prefix("mailto:")
            .map(str::trim)
            .or_else(|| s.strip_prefix('<').and_then(|t| t.strip_suffix('>')));
        match next {
            Some(n) => s = n,
            None => break,
        }
    }
    s.trim().to_string()
}

/// Street names with the usual abbreviations written out and the blanks removed, so that
/// `Berliner Str.`, `Berliner Straße` and `Berlinerstrasse` agree: `berlinerstrasse`.
pub fn comparable_street(raw: &str) -> String {
    // Abbreviations are written out per word (`Str. des 17. Juni`) and once more at the
    // end of the joined form, so that the result read again stays as it is.
    let expand = |out: &mut String, t: &str| match t {
        "str" => out.push_str("strasse"),
        "pl" => out.push_str("platz"),
        t if t.ends_with("str") && t.len() > 3 => {
            out.push_str(t);
            out.push_str("asse");
        }
        t if t.ends_with("pl") && t.len() > 4 => {
            out.push_str(t);
            out.push_str("atz");
        }
        t => out.push_str(t),
    };
    let mut joined = String::with_capacity(raw.len() + 8);
    for token in fold_text(raw).split(' ') {
        expand(&mut joined, token);
    }
    let mut out = String::with_capacity(joined.len() + 5);
    expand(&mut out, &joined);
    out
}

/// A house number as compared: `12 a`, `12A` → `12a`; `12 - 14`, `12/14` → `12-14`.
pub fn comparable_house_number(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars().flat_map(char::to_lowercase) {
        match c {
            c if c.is_ascii_alphanumeric() => out.push(c),
            '-' | '/' | '–' if !out.is_empty() && !out.ends_with('-') => out.push('-'),
            _ => {}
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Splits a house number off the end of a street line: `Hauptstr. 12 a` →
/// (`Hauptstr.`, `12a`), `Am Markt 3-5` → (`Am Markt`, `3-5`). Returns the street as
/// given (trimmed) and the comparable house number, if there is one.
pub fn split_house_number(raw: &str) -> (String, Option<String>) {
    let trimmed = raw.trim();
    let words: Vec<&str> = trimmed.split_whitespace().collect();
    // Walk back over a trailing single letter (`12 a`) and ranges (`12 - 14`).
    let mut start = words.len();
    while start > 0 {
        let w = words[start - 1];
        let is_number = w.chars().next().is_some_and(|c| c.is_ascii_digit());
        let is_joiner = matches!(w, "-" | "/" | "–");
        let is_letter = w.len() == 1 && w.chars().all(|c| c.is_ascii_alphabetic());
        if is_number || is_joiner || (is_letter && start == words.len()) {
            start -= 1;
        } else {
            break;
        }
    }
    if start == words.len()
        || !words[start..]
            .iter()
            .any(|w| w.starts_with(|c: char| c.is_ascii_digit()))
    {
        // `Hauptstr.12` written without a blank.
        if let Some(at) = trimmed.find(|c: char| c.is_ascii_digit()) {
            let (street, number) = trimmed.split_at(at);
            if !street.trim().is_empty() && street.ends_with('.') {
                let n = comparable_house_number(number);
                return (street.trim().to_string(), (!n.is_empty()).then_some(n));
            }
        }
        return (trimmed.to_string(), None);
    }
    if start == 0 {
        return (String::new(), Some(comparable_house_number(trimmed)));
    }
    let number = comparable_house_number(&words[start..].join(" "));
    (
        words[..start].join(" "),
        (!number.is_empty()).then_some(number),
    )
}

/// A postcode in its country's shape: German ones as five digits (a leading zero lost in a
/// spreadsheet is put back), Dutch ones as `1234AB`, others compact; `D-80331` → `80331`.
pub fn comparable_postcode(raw: &str, country: Option<&str>) -> String {
    let compact = compact_id(raw);
    let country = country.and_then(country_code).unwrap_or("DE");
    // A country letter in front (`D-80331`, `DE-80331`, `A-1010`) is not part of the code.
    let body = ["DE", "D", "A", "AT", "CH", "NL", "L", "LU", "B", "BE"]
        .iter()
        .find_map(|p| {
            compact
                .strip_prefix(p)
                .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .unwrap_or(&compact);
    match country {
        "DE" if body.len() == 4 && body.bytes().all(|b| b.is_ascii_digit()) => format!("0{body}"),
        _ => body.to_string(),
    }
}

/// A city as compared: folded, `a. M.`/`a.M.` written `am main`, `St.` as `sankt`.
pub fn comparable_city(raw: &str) -> String {
    let folded = fold_text(raw);
    let words: Vec<&str> = folded.split(' ').collect();
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        match (words[i], words.get(i + 1)) {
            ("a", Some(&"m")) => {
                out.extend(["am", "main"]);
                i += 2;
                continue;
            }
            ("st", _) if i == 0 => out.push("sankt"),
            (w, _) => out.push(w),
        }
        i += 1;
    }
    out.join(" ")
}

/// Salutations and academic titles that are not part of a person's name.
const SALUTATIONS: &[&str] = &[
    "herr", "herrn", "frau", "hr", "fr", "mr", "mrs", "ms", "miss",
];
const TITLES: &[&str] = &[
    "dr", "prof", "dipl", "ing", "med", "rer", "nat", "phil", "jur", "pol", "oec", "habil", "mba",
    "dent", "vet", "kfm", "mag", "h", "c",
];

/// A person's name split into its parts; every part folded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonName {
    pub salutation: Option<String>,
    pub title: Option<String>,
    pub first: String,
    pub last: String,
}

/// Parses `Frau Prof. Dr. Anna-Lena Müller-Lüdenscheidt` or `Müller, Anna` into parts.
pub fn split_person_name(raw: &str) -> PersonName {
    let (last_first, rest) = match raw.split_once(',') {
        Some((last, first)) => (Some(last), first),
        None => (None, raw),
    };
    let mut salutation = None;
    let mut titles: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    // Words split at blanks only, so `Müller-Lüdenscheidt` stays one (double) name.
    for word in rest.split_whitespace() {
        let w = fold_text(word);
        if w.is_empty() {
            continue;
        }
        if names.is_empty() && SALUTATIONS.contains(&w.as_str()) {
            salutation = Some(w);
        } else if names.is_empty() && w.split(' ').all(|p| TITLES.contains(&p)) {
            titles.push(w);
        } else {
            names.push(w);
        }
    }
    let (first, last) = match last_first {
        Some(last) => (names.join(" "), fold_text(last)),
        None => match names.split_last() {
            Some((last, first)) => (first.join(" "), last.clone()),
            None => (String::new(), String::new()),
        },
    };
    // `Hans Peter von Müller`: particles belong to the last name.
    let (first, last) = match first.rsplit_once(' ') {
        Some((f, particle)) if ["von", "van", "de", "zu", "vom", "zur"].contains(&particle) => {
            (f.to_string(), format!("{particle} {last}"))
        }
        _ => (first, last),
    };
    PersonName {
        salutation,
        title: (!titles.is_empty()).then(|| titles.join(" ")),
        first,
        last,
    }
}

/// A first or last name as compared: folded, loosened, titles dropped, hyphens as blanks
/// (`Hans-Peter` = `Hans Peter`).
pub fn comparable_person_name(raw: &str) -> String {
    let mut current = fold_text(raw);
    // Loosening can turn a name into a title (`Pöl` → `pol`): repeat to the fixed point.
    for _ in 0..8 {
        let kept: Vec<&str> = current
            .split(' ')
            .filter(|w| !w.is_empty() && !TITLES.contains(w) && !SALUTATIONS.contains(w))
            .collect();
        let next = loose(&kept.join(" "));
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// Kölner Phonetik (Postel 1969): a digit code under which German names that sound alike
/// agree (`Meyer`, `Maier`, `Mayr` → `67`). Used for blocking.
pub fn koelner_phonetik(raw: &str) -> String {
    let folded: Vec<char> = fold_text(raw)
        .chars()
        .filter(char::is_ascii_alphabetic)
        .collect();
    let mut codes = String::with_capacity(folded.len());
    for (i, &c) in folded.iter().enumerate() {
        let prev = if i > 0 { folded[i - 1] } else { ' ' };
        let next = folded.get(i + 1).copied().unwrap_or(' ');
        let code = match c {
            'a' | 'e' | 'i' | 'j' | 'o' | 'u' | 'y' => '0',
            'h' => continue,
            'b' => '1',
            'p' => {
                if next == 'h' {
                    '3'
                } else {
                    '1'
                }
            }
            'd' | 't' => {
                if matches!(next, 'c' | 's' | 'z') {
                    '8'
                } else {
                    '2'
                }
            }
            'f' | 'v' | 'w' => '3',
            'g' | 'k' | 'q' => '4',
            'c' => {
                let hard = if i == 0 {
                    matches!(next, 'a' | 'h' | 'k' | 'l' | 'o' | 'q' | 'r' | 'u' | 'x')
                } else {
                    matches!(next, 'a' | 'h' | 'k' | 'o' | 'q' | 'u' | 'x')
                        && !matches!(prev, 's' | 'z')
                };
                if hard {
                    '4'
                } else {
                    '8'
                }
            }
            'x' => {
                if matches!(prev, 'c' | 'k' | 'q') {
                    '8'
                } else {
                    codes.push('4');
                    '8'
                }
            }
            'l' => '5',
            'm' | 'n' => '6',
            'r' => '7',
            's' | 'z' => '8',
            _ => continue,
        };
        codes.push(code);
    }
    // Collapse repeats, then drop every 0 but a leading one.
    let mut out = String::with_capacity(codes.len());
    let mut last = None;
    for c in codes.chars() {
        if Some(c) != last {
            if c != '0' || out.is_empty() {
                out.push(c);
            }
            last = Some(c);
        }
    }
    out
}

/// A date of birth as `YYYY-MM-DD`, or `YYYY` where only the year is known. Reads ISO
/// (`1956-04-09`), compact (`19560409`), German (`9.4.1956`, `09.04.1956`) and slashed
/// day-first (`09/04/1956`) dates; `None` for anything else, and for a day or month that
/// no calendar has (a record with such a date is compared as if it had none).
pub fn parse_birth_date(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (year, month, day) = if let Some((d, rest)) = raw.split_once(['.', '/']) {
        let (m, y) = rest.split_once(['.', '/'])?;
        (y.trim(), m.trim(), d.trim())
    } else if let Some((y, rest)) = raw.split_once('-') {
        let (m, d) = rest.split_once('-')?;
        // `1956-04-09T00:00:00` from a database export: the time is not part of it.
        let d = d.split(['T', ' ']).next()?;
        (y, m, d)
    } else if raw.len() == 8 && digits(raw) {
        (&raw[..4], &raw[4..6], &raw[6..])
    } else if raw.len() == 4 && digits(raw) {
        return (raw.starts_with("19") || raw.starts_with("20")).then(|| raw.to_string());
    } else {
        return None;
    };
    if ![year, month, day].iter().all(|p| digits(p)) || year.len() != 4 {
        return None;
    }
    let (y, m, d): (u32, u32, u32) = (year.parse().ok()?, month.parse().ok()?, day.parse().ok()?);
    let valid = (1..=12).contains(&m) && (1..=days_in_month(y, m)).contains(&d);
    (valid && (1800..=2100).contains(&y)).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

/// Days in month `m` (1–12) of year `y`, leap years counted.
pub fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// The form in which two values of `field` are compared: equal forms mean no change.
pub fn comparable(field: Field, raw: &str) -> String {
    match field {
        Field::VatId => compact_vat(raw),
        Field::Lei | Field::IndustryCode => compact_id(raw),
        Field::Postcode => comparable_postcode(raw, None),
        Field::RegisterNumber => normalise_register_number(raw).unwrap_or_else(|| compact_id(raw)),
        Field::RegisterCourt => normalise_court(raw),
        Field::Phone => comparable_phone(raw),
        Field::Website => comparable_website(raw),
        Field::Email => comparable_email(raw),
        Field::Street => comparable_street(raw),
        Field::HouseNumber => comparable_house_number(raw),
        Field::City => comparable_city(raw),
        Field::BirthDate => parse_birth_date(raw).unwrap_or_else(|| raw.trim().to_string()),
        Field::Country => country_code(raw).map_or_else(|| fold_text(raw), str::to_string),
        Field::LegalForm => canonical_legal_form(raw)
            .map(str::to_string)
            .unwrap_or_else(|| fold_text(raw)),
        _ => fold_text(raw),
    }
}

#[cfg(test)]
mod tests;
