//! String algorithms of the string functions: case mapping with cultures (`ToLower`, `ToUpper`), proper case
//! (`PCase`), Microsoft's diacritics table (`NormalizeDiacritics`), words (`Word`) and searching (`InStr`).
//!
//! Case maps one character to one character, as .NET does (`ß` stays `ß` in upper case), so that positions in a
//! string and in its case-folded copy agree. Positions count Unicode scalar values; .NET counts UTF-16 code units,
//! which differ only for characters outside the Basic Multilingual Plane.

use std::collections::HashMap;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

/// The culture a case mapping follows: the invariant one, or Turkish/Azeri dotted and dotless i.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Culture {
    Invariant,
    Turkic,
}

impl Culture {
    /// Reads an RFC 4646 culture name (`en-US`, `tr-TR`, `ja-JP`; empty for the invariant culture).
    pub(crate) fn parse(name: &str) -> Result<Culture, String> {
        let name = name.trim();
        let mut parts = name.split(['-', '_']);
        let language = parts.next().unwrap_or_default();
        let well_formed = (name.is_empty() || (2..=3).contains(&language.len()))
            && language.chars().all(|c| c.is_ascii_alphabetic())
            && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !well_formed {
            return Err(format!("`{name}` is not a culture name: write languagecode2-country/regioncode2, like en-US"));
        }
        Ok(match language.to_ascii_lowercase().as_str() {
            "tr" | "az" => Culture::Turkic,
            _ => Culture::Invariant,
        })
    }
}

fn lower_char(c: char, culture: Culture) -> char {
    match (culture, c) {
        (Culture::Turkic, 'I') => 'ı',
        (Culture::Turkic, 'İ') => 'i',
        _ => single(c.to_lowercase()).unwrap_or(c),
    }
}

fn upper_char(c: char, culture: Culture) -> char {
    match (culture, c) {
        (Culture::Turkic, 'i') => 'İ',
        (Culture::Turkic, 'ı') => 'I',
        _ => single(c.to_uppercase()).unwrap_or(c),
    }
}

/// The mapping's only character, when it maps to one.
fn single(mut mapped: impl Iterator<Item = char>) -> Option<char> {
    let first = mapped.next()?;
    mapped.next().is_none().then_some(first)
}

pub(crate) fn to_lower(s: &str, culture: Culture) -> String {
    s.chars().map(|c| lower_char(c, culture)).collect()
}

pub(crate) fn to_upper(s: &str, culture: Culture) -> String {
    s.chars().map(|c| upper_char(c, culture)).collect()
}

/// Combining marks of the Latin-script blocks (they belong to the letter before them, as in .NET).
fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// `PCase`: the first letter of each word upper case, every other letter lower case. Words are separated by the
/// characters of `separators`, or, without it, by what .NET's `ToTitleCase` treats as separators: white space,
/// control and format characters, punctuation and symbols (anything that is neither a letter, a digit nor a mark).
pub(crate) fn proper_case(s: &str, separators: Option<&str>) -> String {
    let is_separator = |c: char| match separators {
        Some(set) => set.contains(c),
        None => !c.is_alphanumeric() && !is_combining_mark(c),
    };
    let mut at_start = true;
    s.chars()
        .map(|c| {
            if is_separator(c) {
                at_start = true;
                c
            } else if c.is_alphabetic() {
                let mapped =
                    if at_start { upper_char(c, Culture::Invariant) } else { lower_char(c, Culture::Invariant) };
                at_start = false;
                mapped
            } else {
                at_start = false;
                c
            }
        })
        .collect()
}

/// `Word`: the `number`th (1-based) word of `s`, words being the non-empty runs between characters of
/// `delimiters`; empty when there is no such word.
pub(crate) fn word(s: &str, number: i64, delimiters: &str) -> String {
    let Some(index) = number.checked_sub(1).and_then(|i| usize::try_from(i).ok()) else { return String::new() };
    s.split(|c| delimiters.contains(c)).filter(|w| !w.is_empty()).nth(index).unwrap_or_default().to_string()
}

/// `InStr`'s `compareType`: whether it asks for a case-insensitive search (`vbTextCompare` or 1) rather than a
/// binary one (`vbBinaryCompare` or 0).
pub(crate) fn ignores_case(compare_type: &str) -> Result<bool, String> {
    match compare_type.trim().to_ascii_lowercase().as_str() {
        "vbbinarycompare" | "0" => Ok(false),
        "vbtextcompare" | "1" => Ok(true),
        _ => Err(format!("`{compare_type}` is neither vbBinaryCompare nor vbTextCompare")),
    }
}

/// `InStr`: the 1-based character position of the first `needle` in `haystack` at or after `start` (1-based), 0 when
/// there is none; `ignore_case` for `vbTextCompare`.
pub(crate) fn find(haystack: &str, needle: &str, start: usize, ignore_case: bool) -> i64 {
    if haystack.is_empty() {
        return 0;
    }
    let fold = |s: &str| if ignore_case { to_lower(s, Culture::Invariant) } else { s.to_string() };
    let (haystack, needle) = (fold(haystack), fold(needle));
    let Some((offset, _)) = haystack.char_indices().nth(start - 1).or_else(|| {
        // Starting just past the end still finds an empty needle (VBA returns `start` then).
        (haystack.chars().count() + 1 == start).then_some((haystack.len(), ' '))
    }) else {
        return 0;
    };
    match haystack[offset..].find(&needle) {
        Some(found) => (start + haystack[offset..offset + found].chars().count()) as i64,
        None => 0,
    }
}

/// Microsoft's `NormalizeDiacritics` table, one row per replacement: the characters (or character sequences) with
/// diacritics, separated by spaces, and what replaces them. Taken as documented: `œ̄` is there and `œ` is not.
const DIACRITICS: &[(&str, &str)] = &[
    ("ä à â ã å á ą ă ā ā\u{301} ā\u{300} ā\u{302} ā\u{303} ǟ ā\u{308} ǡ a\u{331} å\u{304}", "a"),
    ("Ä À Â Ã Å Á Ą Ă Ā Ā\u{301} Ā\u{300} Ā\u{302} Ā\u{303} Ǟ Ā\u{308} Ǡ A\u{331} Å\u{304}", "A"),
    ("æ ǣ", "ae"),
    ("Æ Ǣ", "AE"),
    ("ç č ć c\u{304} c\u{331}", "c"),
    ("Ç Č Ć C\u{304} C\u{331}", "C"),
    ("ď d\u{304} ḏ", "d"),
    ("Ď D\u{304} Ḏ", "D"),
    ("ë è é ê ę ě ė ē ḗ ḕ ē\u{302} ē\u{303} ê\u{304} e\u{331} ë\u{304} e\u{30A}\u{304}", "e"),
    ("Ë È É Ê Ę Ě Ė Ē Ḗ Ḕ Ē\u{302} Ē\u{303} Ê\u{304} E\u{331} Ë\u{304} E\u{30A}\u{304}", "E"),
    ("ğ ḡ g\u{331}", "g"),
    ("Ğ Ḡ G\u{331}", "G"),
    ("ï î ì í ı ī ī\u{301} ī\u{300} ī\u{302} ī\u{303} i\u{331}", "i"),
    ("Ï Î Ì Í İ Ī Ī\u{301} Ī\u{300} Ī\u{302} Ī\u{303} I\u{331}", "I"),
    ("ľ ł l\u{304} ḹ ḻ", "l"),
    ("Ł Ľ L\u{304} Ḹ Ḻ", "L"),
    ("ñ ń ň n\u{304} ṉ", "n"),
    ("Ñ Ń Ň N\u{304} Ṉ", "N"),
    ("ö ò ő õ ô ó ō ṓ ṑ ō\u{302} ō\u{303} ȫ ō\u{308} ǭ ȭ ȱ o\u{331}", "o"),
    ("Ö Ò Ő Õ Ô Ó Ō Ṓ Ṑ Ō\u{302} Ō\u{303} Ȫ Ō\u{308} Ǭ Ȭ Ȱ O\u{331}", "O"),
    ("ø ø\u{304} œ\u{304}", "oe"),
    ("Ø Ø\u{304} Œ\u{304}", "OE"),
    ("ř r\u{304} ṟ ṝ", "r"),
    ("Ř R\u{304} Ṟ Ṝ", "R"),
    ("ß", "ss"),
    ("š ś ș ş s\u{304} s\u{331}", "s"),
    ("Š Ś Ș Ş S\u{304} S\u{331}", "S"),
    ("ť ț t\u{304} ṯ", "t"),
    ("Ť Ț T\u{304} Ṯ", "T"),
    ("ü ù û ú ů ű ū ū\u{301} ū\u{300} ū\u{302} ū\u{303} u\u{307}\u{304} ǖ ṻ ṳ\u{304} u\u{331}", "u"),
    ("Ü Ù Û Ú Ů Ű Ū Ū\u{301} Ū\u{300} Ū\u{302} Ū\u{303} U\u{307}\u{304} Ǖ Ṻ Ṳ\u{304} U\u{331}", "U"),
    ("ÿ ý ȳ ȳ\u{301} ȳ\u{300} ȳ\u{303} y\u{331}", "y"),
    ("Ÿ Ý Ȳ Ȳ\u{301} Ȳ\u{300} Ȳ\u{303} Y\u{331}", "Y"),
    ("ź ž ż z\u{304} ẕ", "z"),
    ("Ź Ž Ż Z\u{304} Ẕ", "Z"),
];

/// The table keyed by sequence (in NFC), and its longest key in characters.
fn diacritics() -> &'static (HashMap<String, &'static str>, usize) {
    static TABLE: OnceLock<(HashMap<String, &'static str>, usize)> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = HashMap::new();
        for (keys, replacement) in DIACRITICS {
            for key in keys.split(' ') {
                table.insert(key.nfc().collect::<String>(), *replacement);
            }
        }
        let longest = table.keys().map(|k| k.chars().count()).max().unwrap_or(1);
        (table, longest)
    })
}

/// The table's rows, for tests: each sequence with its replacement.
pub fn diacritics_table() -> impl Iterator<Item = (&'static str, &'static str)> {
    DIACRITICS.iter().flat_map(|(keys, replacement)| keys.split(' ').map(move |key| (key, *replacement)))
}

/// `NormalizeDiacritics`: the text (in NFC) with every sequence of the table replaced, longest sequences first; any
/// other character unchanged.
pub(crate) fn normalize_diacritics(s: &str) -> String {
    let (table, longest) = diacritics();
    let chars: Vec<char> = s.nfc().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let hit = (1..=(*longest).min(chars.len() - i)).rev().find_map(|n| {
            let key: String = chars[i..i + n].iter().collect();
            table.get(&key).map(|replacement| (n, *replacement))
        });
        match hit {
            Some((n, replacement)) => {
                out.push_str(replacement);
                i += n;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}
