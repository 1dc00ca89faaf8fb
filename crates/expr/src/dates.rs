//! Dates as Microsoft's engine treats them: .NET custom and standard date format strings (`FormatDateTime`), the
//! date strings `CDate` reads, VBA's `DateAdd`/`DateDiff` intervals, and Active Directory FILETIME numbers
//! (`DateFromNum`/`NumFromDate`). Every date is kept in UTC, as Microsoft's (UTC) servers convert parsed offsets;
//! names and patterns are en-US's, the culture of Microsoft's documented outputs (`3/16/2020 7:00:00 AM`).

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The format of a date shown as a string: `Now()`, `CDate`, `DateAdd` (`3/23/2012 7:00:00 AM`).
pub(crate) const DEFAULT_FORMAT: &str = "M/d/yyyy h:mm:ss tt";

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// `t` as `M/d/yyyy h:mm:ss tt`.
pub(crate) fn default_text(t: OffsetDateTime) -> String {
    match Format::parse(DEFAULT_FORMAT) {
        Ok(format) => format.write(t),
        // The constant format always tokenizes; keep RFC 3339 as the answer should it ever not.
        Err(_) => t.to_string(),
    }
}

/// .NET DateTime's range: years 1 to 9999.
fn in_range(t: OffsetDateTime) -> Result<OffsetDateTime, String> {
    if (1..=9999).contains(&t.year()) { Ok(t) } else { Err("the date falls outside years 1 to 9999".to_string()) }
}

fn utc(date: Date, time: Time, offset_seconds: i32) -> Result<OffsetDateTime, String> {
    let offset =
        UtcOffset::from_whole_seconds(offset_seconds).map_err(|_| "the UTC offset is out of range".to_string())?;
    let local = PrimitiveDateTime::new(date, time).assume_offset(offset);
    in_range(local.checked_to_offset(UtcOffset::UTC).ok_or("the date falls outside years 1 to 9999")?)
}

fn date(year: i32, month: u8, day: u8) -> Result<Date, String> {
    let month = Month::try_from(month).map_err(|_| format!("there is no month {month}"))?;
    Date::from_calendar_date(year, month, day)
        .map_err(|_| format!("{} {day}, {year} does not exist", MONTHS[month as usize - 1]))
}

fn clock(hour: u8, minute: u8, second: u8, nanos: u32) -> Result<Time, String> {
    Time::from_hms_nano(hour, minute, second, nanos)
        .map_err(|_| format!("{hour}:{minute:02}:{second:02} is not a time of day"))
}

/// A cursor over the characters of a date string.
struct Scan<'a> {
    chars: &'a [char],
    pos: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        self.pos += usize::from(hit);
        hit
    }

    fn eat_ignore_case(&mut self, word: &str) -> bool {
        let n = word.chars().count();
        let Some(slice) = self.chars.get(self.pos..self.pos + n) else { return false };
        let hit = slice.iter().zip(word.chars()).all(|(a, b)| a.to_lowercase().eq(b.to_lowercase()));
        self.pos += if hit { n } else { 0 };
        hit
    }

    /// Between `min` and `max` ASCII digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.pos;
        let mut value: u32 = 0;
        while self.pos - start < max
            && let Some(d) = self.peek().and_then(|c| c.to_digit(10))
        {
            // More digits than a u32 holds (`yyyyyyyyyyyy`) read as no match rather than overflow.
            value = value.checked_mul(10)?.checked_add(d)?;
            self.pos += 1;
        }
        (self.pos - start >= min).then_some(value)
    }

    fn skip_white(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.chars.len()
    }

    /// `+hh:mm`, `+hhmm`, `+h` or `-...`: seconds east of UTC.
    fn offset(&mut self) -> Option<i32> {
        let sign = match self.peek()? {
            '+' => 1,
            '-' | '\u{2212}' => -1,
            _ => return None,
        };
        let start = self.pos;
        self.pos += 1;
        let Some(hours) = self.digits(1, 2) else {
            self.pos = start;
            return None;
        };
        let minutes = if self.eat(':') { self.digits(2, 2) } else { self.digits(2, 2).or(Some(0)) };
        match minutes {
            Some(minutes) if hours <= 14 && minutes <= 59 => Some(sign * (hours * 3600 + minutes * 60) as i32),
            _ => {
                self.pos = start;
                None
            }
        }
    }

    /// `hh:mm[:ss[.fffffff]]`
    fn time(&mut self) -> Option<(u8, u8, u8, u32)> {
        let hour = self.digits(1, 2)?;
        if !self.eat(':') {
            return None;
        }
        let minute = self.digits(2, 2)?;
        let (second, nanos) = if self.eat(':') {
            let second = self.digits(2, 2)?;
            let nanos = if self.peek() == Some('.') || self.peek() == Some(',') {
                self.pos += 1;
                self.fraction(1, 9)?
            } else {
                0
            };
            (second, nanos)
        } else {
            (0, 0)
        };
        Some((hour as u8, minute as u8, second as u8, nanos))
    }

    /// Fraction digits, as nanoseconds; digits beyond nine are read and dropped.
    fn fraction(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.pos;
        let mut nanos: u32 = 0;
        let mut scale = 100_000_000;
        while self.pos - start < max
            && let Some(d) = self.peek().and_then(|c| c.to_digit(10))
        {
            nanos += d * scale;
            scale /= 10;
            self.pos += 1;
        }
        (self.pos - start >= min).then_some(nanos)
    }
}

/// Reads a date string as `CDate` does: ISO 8601 dates and times with an optional offset
/// (`2009-06-15T01:45:30-07:00`, `2020-03-16-07:00`, `2021-08-24`, `2021-12-31 23:59:59-08:00`) or US dates
/// (`8/25/2021 5:41:18 PM`, `6/30/2021`). Without an offset the time is UTC.
pub(crate) fn parse_loose(text: &str) -> Result<OffsetDateTime, String> {
    let chars: Vec<char> = text.trim().chars().collect();
    let mut scan = Scan { chars: &chars, pos: 0 };
    let parsed = iso(&mut scan).or_else(|| {
        scan.pos = 0;
        us(&mut scan)
    });
    match parsed {
        Some(Ok(t)) if scan.done() => Ok(t),
        Some(Err(e)) => Err(e),
        _ => Err(format!(
            "`{text}` is not a date and time: write ISO 8601 (2021-06-30T08:00:00+08:00, 2021-06-30) or M/d/yyyy h:mm:ss tt"
        )),
    }
}

fn zone(scan: &mut Scan<'_>) -> i32 {
    scan.skip_white();
    if scan.eat('Z') || scan.eat('z') { 0 } else { scan.offset().unwrap_or(0) }
}

fn iso(scan: &mut Scan<'_>) -> Option<Result<OffsetDateTime, String>> {
    let year = scan.digits(4, 4)?;
    let month = scan.eat('-').then(|| scan.digits(1, 2)).flatten()?;
    let day = scan.eat('-').then(|| scan.digits(1, 2)).flatten()?;
    let separated = scan.peek().is_some_and(|c| c == 'T' || c == 't' || c == ' ')
        && scan.chars.get(scan.pos + 1).is_some_and(char::is_ascii_digit);
    let (hour, minute, second, nanos) = if separated {
        scan.pos += 1;
        scan.time()?
    } else {
        (0, 0, 0, 0)
    };
    let offset = zone(scan);
    Some(date(year as i32, month as u8, day as u8).and_then(|d| utc(d, clock(hour, minute, second, nanos)?, offset)))
}

fn us(scan: &mut Scan<'_>) -> Option<Result<OffsetDateTime, String>> {
    let month = scan.digits(1, 2)?;
    let day = scan.eat('/').then(|| scan.digits(1, 2)).flatten()?;
    let year = scan.eat('/').then(|| scan.digits(4, 4)).flatten()?;
    let (mut hour, minute, second, nanos) = if scan.peek() == Some(' ') {
        scan.skip_white();
        scan.time()?
    } else {
        (0, 0, 0, 0)
    };
    scan.skip_white();
    if scan.eat_ignore_case("PM") {
        if !(1..=12).contains(&hour) {
            return Some(Err(format!("{hour} PM is not an hour")));
        }
        hour = hour % 12 + 12;
    } else if scan.eat_ignore_case("AM") {
        if !(1..=12).contains(&hour) {
            return Some(Err(format!("{hour} AM is not an hour")));
        }
        hour %= 12;
    }
    let offset = zone(scan);
    Some(date(year as i32, month as u8, day as u8).and_then(|d| utc(d, clock(hour, minute, second, nanos)?, offset)))
}

/// One element of a .NET date format string.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Year(usize),
    Month(usize),
    Day(usize),
    Hour12(usize),
    Hour24(usize),
    Minute(usize),
    Second(usize),
    /// `f` (always `digits` digits) or `F` (trailing zeros dropped).
    Fraction {
        digits: usize,
        optional: bool,
    },
    AmPm(usize),
    Offset(usize),
    /// `K`: the time zone; `Z` for UTC.
    Kind,
    /// A literal `Z`: written as is; when parsing, it marks the time as UTC (as .NET does).
    Zulu,
    Era,
    Literal(char),
}

/// A .NET date format string, custom (`yyyyMMddHHmmss.fZ`) or standard (`o`, `s`, `u`, `d`, `G`, ...).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Format(Vec<Token>);

/// en-US's standard formats (`DateTimeFormatInfo` of en-US) and the culture-independent ones.
fn standard(specifier: char) -> Option<&'static str> {
    Some(match specifier {
        'd' => "M/d/yyyy",
        'D' => "dddd, MMMM d, yyyy",
        'f' => "dddd, MMMM d, yyyy h:mm tt",
        'F' => "dddd, MMMM d, yyyy h:mm:ss tt",
        'g' => "M/d/yyyy h:mm tt",
        'G' => "M/d/yyyy h:mm:ss tt",
        'm' | 'M' => "MMMM d",
        'o' | 'O' => "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
        'r' | 'R' => "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
        's' => "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
        't' => "h:mm tt",
        'T' => "h:mm:ss tt",
        'u' => "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
        'y' | 'Y' => "MMMM yyyy",
        _ => return None,
    })
}

impl Format {
    /// Reads a format string with .NET's rules: a single character is a standard format; otherwise runs of
    /// `y M d h H m s f F t z` are specifiers, `K` the zone, `g` the era, `'...'`/`"..."` and `\c` literals, `%c` a
    /// lone specifier, anything else itself.
    pub(crate) fn parse(format: &str) -> Result<Format, String> {
        let chars: Vec<char> = format.chars().collect();
        if let [single] = chars[..] {
            let pattern = standard(single).ok_or_else(|| format!("`{single}` is not a standard date format"))?;
            return Format::parse(pattern);
        }
        if chars.is_empty() {
            return Err("the date format is empty".to_string());
        }
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let run = chars[i..].iter().take_while(|&&d| d == c).count();
            let token = match c {
                'y' => Token::Year(run),
                'M' => Token::Month(run),
                'd' => Token::Day(run),
                'h' => Token::Hour12(run),
                'H' => Token::Hour24(run),
                'm' => Token::Minute(run),
                's' => Token::Second(run),
                'f' | 'F' if run > 7 => {
                    return Err(format!("`{}` has more than 7 fraction digits", c.to_string().repeat(run)));
                }
                'f' => Token::Fraction { digits: run, optional: false },
                'F' => Token::Fraction { digits: run, optional: true },
                't' => Token::AmPm(run),
                'z' => Token::Offset(run),
                'g' => Token::Era,
                _ => {
                    i += 1;
                    match c {
                        'K' => tokens.push(Token::Kind),
                        'Z' => tokens.push(Token::Zulu),
                        '\'' | '"' => {
                            loop {
                                match chars.get(i) {
                                    None => return Err(format!("the date format has an unclosed {c}")),
                                    Some(&q) if q == c => break,
                                    Some('\\') => {
                                        i += 1;
                                        let escaped = chars.get(i).ok_or("the date format ends with `\\`")?;
                                        tokens.push(Token::Literal(*escaped));
                                    }
                                    Some(&l) => tokens.push(Token::Literal(l)),
                                }
                                i += 1;
                            }
                            i += 1;
                        }
                        '\\' => {
                            let escaped = chars.get(i).ok_or("the date format ends with `\\`")?;
                            tokens.push(Token::Literal(*escaped));
                            i += 1;
                        }
                        '%' => {
                            let next = chars.get(i).copied().filter(|&n| n != '%');
                            let next = next.ok_or("`%` must be followed by a format specifier")?;
                            let mut single = Format::parse(&format!("{next}{next}"))?.0;
                            match single.first_mut() {
                                Some(Token::Year(n) | Token::Month(n) | Token::Day(n) | Token::Hour12(n))
                                | Some(Token::Hour24(n) | Token::Minute(n) | Token::Second(n) | Token::AmPm(n))
                                | Some(Token::Offset(n)) => *n = 1,
                                Some(Token::Fraction { digits, .. }) => *digits = 1,
                                _ => single.truncate(1),
                            }
                            tokens.extend(single.into_iter().take(1));
                            i += 1;
                        }
                        other => tokens.push(Token::Literal(other)),
                    }
                    continue;
                }
            };
            tokens.push(token);
            i += run;
        }
        Ok(Format(tokens))
    }

    /// Writes `t` (UTC) in this format.
    pub(crate) fn write(&self, t: OffsetDateTime) -> String {
        let mut out = String::new();
        let pad = |out: &mut String, value: i64, width: usize| out.push_str(&format!("{value:0width$}"));
        for token in &self.0 {
            match *token {
                Token::Year(1) => pad(&mut out, i64::from(t.year() % 100), 1),
                Token::Year(2) => pad(&mut out, i64::from(t.year() % 100), 2),
                Token::Year(n) => pad(&mut out, i64::from(t.year()), n),
                Token::Month(n @ (1 | 2)) => pad(&mut out, i64::from(u8::from(t.month())), n),
                Token::Month(3) => out.push_str(&MONTHS[usize::from(u8::from(t.month())) - 1][..3]),
                Token::Month(_) => out.push_str(MONTHS[usize::from(u8::from(t.month())) - 1]),
                Token::Day(n @ (1 | 2)) => pad(&mut out, i64::from(t.day()), n),
                Token::Day(3) => out.push_str(&DAYS[usize::from(t.weekday().number_days_from_sunday())][..3]),
                Token::Day(_) => out.push_str(DAYS[usize::from(t.weekday().number_days_from_sunday())]),
                Token::Hour12(n) => {
                    let hour = match t.hour() % 12 {
                        0 => 12,
                        h => h,
                    };
                    pad(&mut out, i64::from(hour), n.min(2));
                }
                Token::Hour24(n) => pad(&mut out, i64::from(t.hour()), n.min(2)),
                Token::Minute(n) => pad(&mut out, i64::from(t.minute()), n.min(2)),
                Token::Second(n) => pad(&mut out, i64::from(t.second()), n.min(2)),
                Token::Fraction { digits, optional } => {
                    let ticks = format!("{:07}", t.nanosecond() / 100);
                    let mut fraction = &ticks[..digits];
                    if optional {
                        fraction = fraction.trim_end_matches('0');
                        // .NET drops the separator of an `F` fraction that is all zeros.
                        if fraction.is_empty() && out.ends_with('.') {
                            out.pop();
                        }
                    }
                    out.push_str(fraction);
                }
                Token::AmPm(1) => out.push(if t.hour() < 12 { 'A' } else { 'P' }),
                Token::AmPm(_) => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
                Token::Offset(1) => out.push_str("+0"),
                Token::Offset(2) => out.push_str("+00"),
                Token::Offset(_) => out.push_str("+00:00"),
                Token::Kind | Token::Zulu => out.push('Z'),
                Token::Era => out.push_str("A.D."),
                Token::Literal(c) => out.push(c),
            }
        }
        out
    }

    /// Reads `text` in exactly this format (.NET's `ParseExact`), with `styles`. A date without day, month and
    /// year takes `today`'s (or 1/1/0001 with `NoCurrentDateDefault`); a missing year is `today`'s year, a missing
    /// month or day 1.
    pub(crate) fn read(&self, text: &str, styles: Styles, today: Date) -> Result<OffsetDateTime, String> {
        let mut text = text;
        if styles.leading_white {
            text = text.trim_start();
        }
        if styles.trailing_white {
            text = text.trim_end();
        }
        let chars: Vec<char> = text.chars().collect();
        let mut scan = Scan { chars: &chars, pos: 0 };
        let mut fields = Fields::default();
        let mismatch = || format!("`{text}` does not match the date format");
        for token in &self.0 {
            if styles.inner_white && !matches!(token, Token::Literal(c) if c.is_whitespace()) {
                scan.skip_white();
            }
            let read = |scan: &mut Scan<'_>, n: usize| if n == 1 { scan.digits(1, 2) } else { scan.digits(n, n) };
            match *token {
                Token::Year(n) => {
                    let year = read(&mut scan, n).ok_or_else(mismatch)?;
                    fields.year =
                        Some(if n <= 2 { if year < 50 { 2000 + year } else { 1900 + year } } else { year } as i32);
                }
                Token::Month(n @ (1 | 2)) => fields.month = Some(read(&mut scan, n).ok_or_else(mismatch)? as u8),
                Token::Month(n) => {
                    fields.month = Some(name(&mut scan, &MONTHS, n == 3).ok_or_else(mismatch)? as u8 + 1)
                }
                Token::Day(n @ (1 | 2)) => fields.day = Some(read(&mut scan, n).ok_or_else(mismatch)? as u8),
                Token::Day(n) => fields.weekday = Some(name(&mut scan, &DAYS, n == 3).ok_or_else(mismatch)?),
                Token::Hour12(n) => fields.hour12 = Some(read(&mut scan, n.min(2)).ok_or_else(mismatch)? as u8),
                Token::Hour24(n) => fields.hour = Some(read(&mut scan, n.min(2)).ok_or_else(mismatch)? as u8),
                Token::Minute(n) => fields.minute = read(&mut scan, n.min(2)).ok_or_else(mismatch)? as u8,
                Token::Second(n) => fields.second = read(&mut scan, n.min(2)).ok_or_else(mismatch)? as u8,
                Token::Fraction { digits, optional } => {
                    fields.nanos = scan.fraction(if optional { 0 } else { digits }, digits).ok_or_else(mismatch)?;
                }
                Token::AmPm(n) => {
                    let (pm, am) = if n == 1 { ("P", "A") } else { ("PM", "AM") };
                    fields.pm = Some(if scan.eat_ignore_case(pm) {
                        true
                    } else if scan.eat_ignore_case(am) {
                        false
                    } else {
                        return Err(mismatch());
                    });
                }
                Token::Offset(_) => fields.offset = Some(scan.offset().ok_or_else(mismatch)?),
                Token::Kind => {
                    if scan.eat('Z') || scan.eat('z') {
                        fields.offset = Some(0);
                    } else if let Some(offset) = scan.offset() {
                        fields.offset = Some(offset);
                    }
                }
                Token::Zulu => {
                    if !(scan.eat('Z') || scan.eat('z')) {
                        return Err(mismatch());
                    }
                    fields.offset = Some(0);
                }
                Token::Era => {
                    if !(scan.eat_ignore_case("A.D.") || scan.eat_ignore_case("AD")) {
                        return Err(mismatch());
                    }
                }
                Token::Literal(c) if c.is_whitespace() => {
                    if styles.inner_white {
                        scan.skip_white();
                    } else if !scan.eat(c) {
                        return Err(mismatch());
                    }
                }
                Token::Literal(c) => {
                    if !scan.eat(c) {
                        return Err(mismatch());
                    }
                }
            }
        }
        if styles.inner_white {
            scan.skip_white();
        }
        if !scan.done() {
            let rest: String = chars[scan.pos..].iter().collect();
            return Err(format!("`{text}` has `{rest}` after what the date format describes"));
        }
        fields.build(today, styles.no_current_date_default)
    }
}

/// Looks up a month or day name (full or three-letter) at the cursor; its index.
fn name(scan: &mut Scan<'_>, names: &[&str], abbreviated: bool) -> Option<usize> {
    names.iter().position(|n| scan.eat_ignore_case(if abbreviated { &n[..3] } else { n }))
}

#[derive(Default)]
struct Fields {
    year: Option<i32>,
    month: Option<u8>,
    day: Option<u8>,
    weekday: Option<usize>,
    hour: Option<u8>,
    hour12: Option<u8>,
    pm: Option<bool>,
    minute: u8,
    second: u8,
    nanos: u32,
    offset: Option<i32>,
}

impl Fields {
    fn build(self, today: Date, no_current_date: bool) -> Result<OffsetDateTime, String> {
        let (year, month, day) = match (self.year, self.month, self.day) {
            (None, None, None) if !no_current_date => (today.year(), u8::from(today.month()), today.day()),
            (year, month, day) => {
                let default_year = if no_current_date { 1 } else { today.year() };
                (year.unwrap_or(default_year), month.unwrap_or(1), day.unwrap_or(1))
            }
        };
        let date = date(year, month, day)?;
        if let Some(weekday) = self.weekday
            && usize::from(date.weekday().number_days_from_sunday()) != weekday
        {
            return Err(format!("{} is not a {}", date, DAYS[weekday]));
        }
        let hour = match (self.hour12, self.hour, self.pm) {
            (Some(h), _, _) if h > 12 => return Err(format!("{h} is not an hour of a 12-hour clock")),
            (Some(h), _, Some(true)) => h % 12 + 12,
            (Some(h), _, _) => h % 12,
            (None, Some(h), Some(true)) if h < 12 => h + 12,
            (None, Some(h), _) => h,
            (None, None, _) => 0,
        };
        utc(date, clock(hour, self.minute, self.second, self.nanos)?, self.offset.unwrap_or(0))
    }
}

/// The `DateTimeStyles` that change how `FormatDateTime` reads its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Styles {
    leading_white: bool,
    trailing_white: bool,
    inner_white: bool,
    no_current_date_default: bool,
}

impl Styles {
    /// Microsoft's default when the argument is empty: `RoundtripKind, AllowLeadingWhite, AllowTrailingWhite`.
    pub(crate) const DEFAULT: Styles =
        Styles { leading_white: true, trailing_white: true, inner_white: false, no_current_date_default: false };

    /// Reads `DateTimeStyles` names separated by `,` or `|` (`AllowWhiteSpaces, AdjustToUniversal`), in any case.
    /// The styles about local time and kinds change nothing: every date is read into UTC.
    pub(crate) fn parse(text: &str) -> Result<Styles, String> {
        let mut styles = Styles::default();
        for name in text.split([',', '|']).map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "allowleadingwhite" => styles.leading_white = true,
                "allowtrailingwhite" => styles.trailing_white = true,
                "allowinnerwhite" => styles.inner_white = true,
                "allowwhitespaces" => {
                    styles.leading_white = true;
                    styles.trailing_white = true;
                    styles.inner_white = true;
                }
                "nocurrentdatedefault" => styles.no_current_date_default = true,
                "none" | "adjusttouniversal" | "assumelocal" | "assumeuniversal" | "roundtripkind" => {}
                _ => {
                    return Err(format!(
                        "`{name}` is not a DateTimeStyles name (None, AllowLeadingWhite, AllowTrailingWhite, \
                         AllowInnerWhite, AllowWhiteSpaces, NoCurrentDateDefault, AdjustToUniversal, AssumeLocal, \
                         AssumeUniversal, RoundtripKind)"
                    ));
                }
            }
        }
        Ok(styles)
    }
}

/// A VBA date interval (`DateAdd`, `DateDiff`); names in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interval {
    Year,
    Quarter,
    Month,
    /// `d`, and VBA's `y` (day of year).
    Day,
    /// `w`: whole weeks (VBA's weekday interval).
    Weekday,
    /// `ww`: calendar weeks, starting on Sunday.
    Week,
    Hour,
    Minute,
    Second,
}

impl Interval {
    pub(crate) fn parse(text: &str) -> Result<Interval, String> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "yyyy" => Interval::Year,
            "q" => Interval::Quarter,
            "m" => Interval::Month,
            "d" | "y" => Interval::Day,
            "w" => Interval::Weekday,
            "ww" => Interval::Week,
            "h" => Interval::Hour,
            "n" => Interval::Minute,
            "s" => Interval::Second,
            _ => {
                return Err(format!(
                    "`{text}` is not an interval: use yyyy (years), m (months), d (days), ww (weeks), h (hours), \
                     n (minutes) or s (seconds)"
                ));
            }
        })
    }
}

const OVERFLOW: &str = "the result falls outside years 1 to 9999";

fn add_months(t: OffsetDateTime, months: i64) -> Result<OffsetDateTime, String> {
    let index = i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1 + months;
    let year = i32::try_from(index.div_euclid(12)).map_err(|_| OVERFLOW)?;
    if !(1..=9999).contains(&year) {
        return Err(OVERFLOW.to_string());
    }
    let month = Month::try_from(index.rem_euclid(12) as u8 + 1).map_err(|_| OVERFLOW)?;
    // .NET's AddMonths keeps the day, or the month's last day when the month is shorter.
    let day = t.day().min(time::util::days_in_month(month, year));
    let date = Date::from_calendar_date(year, month, day).map_err(|_| OVERFLOW)?;
    Ok(t.replace_date(date))
}

/// `DateAdd`: `t` plus `n` intervals. Months and years keep the day of the month, or the month's last day.
pub(crate) fn add(interval: Interval, n: i64, t: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let duration = |unit: Duration| unit.checked_mul(i32::try_from(n).map_err(|_| OVERFLOW)?).ok_or(OVERFLOW);
    let result = match interval {
        Interval::Year => return add_months(t, n.checked_mul(12).ok_or(OVERFLOW)?),
        Interval::Quarter => return add_months(t, n.checked_mul(3).ok_or(OVERFLOW)?),
        Interval::Month => return add_months(t, n),
        Interval::Day | Interval::Weekday => t.checked_add(duration(Duration::DAY)?),
        Interval::Week => t.checked_add(duration(Duration::WEEK)?),
        Interval::Hour => t.checked_add(duration(Duration::HOUR)?),
        Interval::Minute => t.checked_add(duration(Duration::MINUTE)?),
        Interval::Second => t.checked_add(duration(Duration::SECOND)?),
    };
    in_range(result.ok_or(OVERFLOW)?).map_err(|_| OVERFLOW.to_string())
}

/// `DateDiff`: how many interval boundaries lie between `a` and `b` (negative when `b` is earlier), as VBA counts
/// them: calendar years, quarters, months and days, Sunday-started weeks for `ww`, whole weeks for `w`, and hours,
/// minutes and seconds on the clock.
pub(crate) fn diff(interval: Interval, a: OffsetDateTime, b: OffsetDateTime) -> i64 {
    let months = |t: OffsetDateTime| i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1;
    let days = i64::from(b.date().to_julian_day()) - i64::from(a.date().to_julian_day());
    let seconds = |t: OffsetDateTime| t.unix_timestamp();
    match interval {
        Interval::Year => i64::from(b.year()) - i64::from(a.year()),
        Interval::Quarter => months(b).div_euclid(3) - months(a).div_euclid(3),
        Interval::Month => months(b) - months(a),
        Interval::Day => days,
        Interval::Weekday => days / 7,
        Interval::Week => {
            let sunday = |t: OffsetDateTime| {
                i64::from(t.date().to_julian_day()) - i64::from(t.weekday().number_days_from_sunday())
            };
            (sunday(b) - sunday(a)) / 7
        }
        Interval::Hour => seconds(b).div_euclid(3600) - seconds(a).div_euclid(3600),
        Interval::Minute => seconds(b).div_euclid(60) - seconds(a).div_euclid(60),
        Interval::Second => seconds(b) - seconds(a),
    }
}

/// 100-nanosecond intervals between 1601-01-01 (the FILETIME epoch) and 1970-01-01.
const FILETIME_UNIX_EPOCH: i128 = 116_444_736_000_000_000;

/// `DateFromNum`: an Active Directory FILETIME (100-nanosecond intervals since 1601-01-01 UTC) as a date.
pub(crate) fn from_filetime(n: i64) -> Result<OffsetDateTime, String> {
    if n < 0 {
        return Err(format!("{n} is negative; an Active Directory date counts from 1601"));
    }
    let nanos = (i128::from(n) - FILETIME_UNIX_EPOCH) * 100;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map_err(|_| format!("{n} is beyond year 9999 (0x7FFFFFFFFFFFFFFF means \"never\" in Active Directory)"))
        .and_then(in_range)
}

/// `NumFromDate`: a date as an Active Directory FILETIME.
pub(crate) fn to_filetime(t: OffsetDateTime) -> Result<i64, String> {
    let ticks = t.unix_timestamp_nanos().div_euclid(100) + FILETIME_UNIX_EPOCH;
    i64::try_from(ticks)
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| "the date is before 1601, where FILETIME starts".to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_tokenize_like_dotnet() {
        let t = datetime!(2015-01-23 10:53:47.1 UTC);
        let write = |f: &str| Format::parse(f).unwrap().write(t);
        assert_eq!(write("yyyyMMddHHmmss.fZ"), "20150123105347.1Z");
        assert_eq!(write("M/d/yyyy h:mm:ss tt"), "1/23/2015 10:53:47 AM");
        assert_eq!(write("dddd, MMMM d, yyyy"), "Friday, January 23, 2015");
        assert_eq!(write("'Day' d 'of' MMM"), "Day 23 of Jan");
        assert_eq!(write("ss.FFF"), "47.1");
        assert_eq!(write("HH:mm:ss.FFF"), "10:53:47.1");
        assert_eq!(Format::parse("HH:mm:ss.FFF").unwrap().write(datetime!(2015-01-23 10:53:47 UTC)), "10:53:47");
        assert_eq!(write("%d"), "23");
        assert_eq!(write("o"), "2015-01-23T10:53:47.1000000Z");
        assert_eq!(write("yy zzz \\h"), "15 +00:00 h");
        assert!(Format::parse("ffffffff").is_err());
        assert!(Format::parse("'open").is_err());
        assert!(Format::parse("x").is_err());
    }

    #[test]
    fn reading_checks_the_weekday_and_the_calendar() {
        let today = time::macros::date!(2024 - 06 - 01);
        let read = |f: &str, s: &str| Format::parse(f).unwrap().read(s, Styles::DEFAULT, today);
        assert_eq!(read("ddd d MMM yyyy", "Fri 23 Jan 2015").unwrap(), datetime!(2015-01-23 0:00 UTC));
        assert!(read("ddd d MMM yyyy", "Mon 23 Jan 2015").is_err());
        assert!(read("yyyy-MM-dd", "2015-02-30").is_err());
        assert_eq!(read("HH:mm", "07:05").unwrap(), datetime!(2024-06-01 7:05 UTC));
        assert_eq!(read("MM/yy", "07/49").unwrap(), datetime!(2049-07-01 0:00 UTC));
        assert_eq!(read("MM/yy", "07/50").unwrap(), datetime!(1950-07-01 0:00 UTC));
        assert_eq!(read("h:mm tt", "12:30 AM").unwrap(), datetime!(2024-06-01 0:30 UTC));
        assert_eq!(read("h:mm tt", "12:30 pm").unwrap(), datetime!(2024-06-01 12:30 UTC));
        assert!(read("h:mm tt", "13:30 PM").is_err());
        assert_eq!(read("yyyy-MM-ddzzz", "2020-12-31+08:00").unwrap(), datetime!(2020-12-30 16:00 UTC));
        assert_eq!(read("yyyy-MM-ddK", "2020-12-31Z").unwrap(), datetime!(2020-12-31 0:00 UTC));
        assert!(read("yyyy-MM-dd", "2020-12-31 trailing").is_err());
    }

    #[test]
    fn intervals_count_calendar_boundaries() {
        let a = datetime!(2021-08-25 17:41:18 UTC);
        let b = datetime!(2012-03-16 7:00 UTC);
        assert_eq!(diff(Interval::Day, a, b), -3449);
        assert_eq!(diff(Interval::Week, a, b), -493);
        assert_eq!(diff(Interval::Month, a, b), -113);
        assert_eq!(diff(Interval::Year, a, b), -9);
        assert_eq!(diff(Interval::Hour, datetime!(2021-01-01 10:59 UTC), datetime!(2021-01-01 11:00 UTC)), 1);
        assert_eq!(add(Interval::Month, 1, datetime!(2021-01-31 0:00 UTC)).unwrap(), datetime!(2021-02-28 0:00 UTC));
        assert_eq!(add(Interval::Year, 1, datetime!(2020-02-29 0:00 UTC)).unwrap(), datetime!(2021-02-28 0:00 UTC));
        assert!(add(Interval::Year, 10_000, b).is_err());
        assert!(add(Interval::Second, i64::MAX, b).is_err());
    }
}
