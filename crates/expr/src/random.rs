//! `Guid()` and `RandomString(...)` over the caller's source of randomness ([`RandomSource`]): the crate draws no
//! randomness of its own, so tests pass a seeded source and servers a cryptographic one (`RandomString` makes
//! passwords).

/// Where evaluation takes its randomness from: uniformly distributed 64-bit numbers.
pub trait RandomSource {
    fn next_u64(&mut self) -> u64;
}

impl<F: FnMut() -> u64> RandomSource for F {
    fn next_u64(&mut self) -> u64 {
        self()
    }
}

/// A number in `0..n` (`n > 0`). Multiply-shift keeps the bias below 2^-57 for the small `n` used here and needs no
/// retry loop.
fn below(random: &mut dyn RandomSource, n: usize) -> usize {
    ((u128::from(random.next_u64()) * n as u128) >> 64) as usize
}

/// A random (version 4) GUID in lower case: `00aa00aa-bb11-4c22-9d33-44ee44ee44ee`.
pub(crate) fn guid(random: &mut dyn RandomSource) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&random.next_u64().to_be_bytes());
    bytes[8..].copy_from_slice(&random.next_u64().to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The longest string `RandomString` makes (Microsoft's limit).
pub const MAX_RANDOM_STRING: i64 = 256;

/// The special characters of Windows' password complexity rules.
const SPECIAL: &str = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/";

/// What `RandomString` is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub length: i64,
    pub numbers: i64,
    pub special: i64,
    pub capital: i64,
    pub lower: i64,
    pub avoid: &'a str,
}

/// A random string of `length` characters with at least the requested numbers, special characters, capitals and
/// lower-case letters, none of the characters to avoid, in random order. Errors say which request cannot be met.
pub(crate) fn random_string(request: Request<'_>, random: &mut dyn RandomSource) -> Result<String, String> {
    let Request { length, numbers, special, capital, lower, avoid } = request;
    if !(0..=MAX_RANDOM_STRING).contains(&length) {
        return Err(format!("Length is {length}; it must be between 0 and {MAX_RANDOM_STRING}"));
    }
    let minimums = [numbers, special, capital, lower];
    if minimums.iter().any(|m| *m < 0) {
        return Err("the minimums cannot be negative".to_string());
    }
    // Each minimum is at most Length (256) here, so their sum cannot overflow.
    let required: i64 = minimums.iter().map(|m| (*m).min(length + 1)).sum();
    if required > length {
        return Err(format!("the minimums add up to {required}, more than Length ({length})"));
    }
    let class = |chars: &str| -> Vec<char> { chars.chars().filter(|c| !avoid.contains(*c)).collect() };
    let classes = [
        ("numbers", class("0123456789")),
        ("special characters", class(SPECIAL)),
        ("capitals", class("ABCDEFGHIJKLMNOPQRSTUVWXYZ")),
        ("lower-case letters", class("abcdefghijklmnopqrstuvwxyz")),
    ];
    let mut out: Vec<char> = Vec::with_capacity(length as usize);
    for ((name, chars), minimum) in classes.iter().zip(minimums) {
        if minimum > 0 && chars.is_empty() {
            return Err(format!("CharactersToAvoid excludes every one of the {name}"));
        }
        for _ in 0..minimum {
            out.push(chars[below(random, chars.len())]);
        }
    }
    let pool: Vec<char> = classes.iter().flat_map(|(_, chars)| chars.iter().copied()).collect();
    if pool.is_empty() && out.len() < length as usize {
        return Err("CharactersToAvoid excludes every character".to_string());
    }
    while out.len() < length as usize {
        out.push(pool[below(random, pool.len())]);
    }
    // Fisher-Yates, so that the required characters are not all at the front.
    for i in (1..out.len()).rev() {
        out.swap(i, below(random, i + 1));
    }
    Ok(out.into_iter().collect())
}
