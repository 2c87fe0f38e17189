//! Date values in queries, as instants (Unix ms, UTC): `yyyy-MM-dd` / `yyyy/MM/dd` with an
//! optional `HH:mm`, periods relative to now (`-7d`, `"4w 2d"`, `30m`), and the date functions
//! `now()`, `startOfDay()` … `endOfYear()` with Jira's optional increment: `(+/-)nn(y|M|w|d|h|m)`,
//! the function's own unit when none is given, applied after the start or end is found
//! (`startOfMonth(+14d)` is the 15th). Weeks start on Monday. Everything is UTC: offline there
//! is no user time zone to ask.

use time::{Date, Duration, Month, OffsetDateTime, Time};

use super::parse::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Year,
    Month,
    Week,
    Day,
    Hour,
    Minute,
}

/// Biggest count in one period part (keeps arithmetic far from overflow).
const MAX_COUNT: i64 = 10_000_000;

/// Resolves a date value to Unix ms, or says why it is not one. `EMPTY` is the caller's.
pub(super) fn resolve(v: &Value, now_ms: i64) -> Result<i64, String> {
    match v {
        Value::Empty => Err("EMPTY is not a date".into()),
        Value::Text(s) => {
            if let Some(steps) = steps(s, None, false) {
                return apply(now_ms, &steps).ok_or_else(out_of_range);
            }
            absolute(s).ok_or_else(|| {
                format!(
                    "`{s}` is not a date: use yyyy-MM-dd or yyyy/MM/dd (optionally with HH:mm), or a period such as -7d or \"4w 2d\""
                )
            })
        }
        Value::Func(name, args) => function(name, args, now_ms),
    }
}

fn out_of_range() -> String {
    "the date is out of range".into()
}

fn function(name: &str, args: &[String], now_ms: i64) -> Result<i64, String> {
    let lname = name.to_ascii_lowercase();
    let (unit, end) = match lname.as_str() {
        "now" => (None, false),
        "startofday" => (Some(Unit::Day), false),
        "endofday" => (Some(Unit::Day), true),
        "startofweek" => (Some(Unit::Week), false),
        "endofweek" => (Some(Unit::Week), true),
        "startofmonth" => (Some(Unit::Month), false),
        "endofmonth" => (Some(Unit::Month), true),
        "startofyear" => (Some(Unit::Year), false),
        "endofyear" => (Some(Unit::Year), true),
        _ => return Err(format!("`{name}()` is not a date function the cache knows")),
    };
    let inc = match args {
        [] => Vec::new(),
        [a] => steps(a, unit, true).ok_or_else(|| {
            format!("`{a}` is not an offset such as -1d, +2w or -1M for `{name}()`")
        })?,
        _ => return Err(format!("`{name}()` takes at most one argument")),
    };
    let now = to_datetime(now_ms).ok_or_else(out_of_range)?;
    let instant = match unit {
        None => now_ms,
        Some(u) => {
            let start = start_of(now, u).ok_or_else(out_of_range)?;
            if end {
                to_ms(next(start, u).ok_or_else(out_of_range)?)
            } else {
                to_ms(start)
            }
            .ok_or_else(out_of_range)?
        }
    };
    let t = apply(instant, &inc).ok_or_else(out_of_range)?;
    Ok(if end { t - 1 } else { t })
}

/// Parses a signed period (`-7d`, `4w 2d`, `+1h`). `natural`: the unit of a bare number (date
/// functions); `calendar`: whether `y` and `M` (months) are allowed (date functions, as in
/// Jira), else `M` is minutes like `m`.
fn steps(s: &str, natural: Option<Unit>, calendar: bool) -> Option<Vec<(i64, Unit)>> {
    let s = s.trim();
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let rest = rest.trim_start();
    if rest.is_empty() {
        return None;
    }
    if let Some(u) = natural
        && rest.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(vec![(sign * count(rest)?, u)]);
    }
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    while chars.peek().is_some() {
        let mut digits = String::new();
        while let Some(d) = chars.next_if(char::is_ascii_digit) {
            digits.push(d);
        }
        let unit = match chars.next()? {
            'w' | 'W' => Unit::Week,
            'd' | 'D' => Unit::Day,
            'h' | 'H' => Unit::Hour,
            'm' => Unit::Minute,
            'M' if calendar => Unit::Month,
            'M' => Unit::Minute,
            'y' | 'Y' if calendar => Unit::Year,
            _ => return None,
        };
        out.push((sign * count(&digits)?, unit));
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
    }
    Some(out)
}

fn count(digits: &str) -> Option<i64> {
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    digits.parse::<i64>().ok().filter(|n| *n <= MAX_COUNT)
}

fn apply(ms: i64, steps: &[(i64, Unit)]) -> Option<i64> {
    let mut t = ms;
    for &(n, unit) in steps {
        let unit_ms: i64 = match unit {
            Unit::Week => 7 * 86_400_000,
            Unit::Day => 86_400_000,
            Unit::Hour => 3_600_000,
            Unit::Minute => 60_000,
            Unit::Month | Unit::Year => {
                let months = if unit == Unit::Year {
                    n.checked_mul(12)?
                } else {
                    n
                };
                t = to_ms(add_months(to_datetime(t)?, months)?)?;
                continue;
            }
        };
        t = t.checked_add(n.checked_mul(unit_ms)?)?;
    }
    // Keep results inside what `time` (and so every later step) can represent.
    to_datetime(t).map(|_| t)
}

fn to_datetime(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn to_ms(t: OffsetDateTime) -> Option<i64> {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

fn add_months(t: OffsetDateTime, months: i64) -> Option<OffsetDateTime> {
    let index = i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1 + months;
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    let day = t.day().min(month.length(year));
    let date = Date::from_calendar_date(year, month, day).ok()?;
    Some(date.with_time(t.time()).assume_utc())
}

fn start_of(now: OffsetDateTime, unit: Unit) -> Option<OffsetDateTime> {
    let day = now.date();
    let date = match unit {
        Unit::Week => day.checked_sub(Duration::days(i64::from(
            day.weekday().number_days_from_monday(),
        )))?,
        Unit::Month => day.replace_day(1).ok()?,
        Unit::Year => Date::from_calendar_date(day.year(), Month::January, 1).ok()?,
        _ => day,
    };
    Some(date.with_time(Time::MIDNIGHT).assume_utc())
}

fn next(start: OffsetDateTime, unit: Unit) -> Option<OffsetDateTime> {
    match unit {
        Unit::Week => start.checked_add(Duration::days(7)),
        Unit::Month => add_months(start, 1),
        Unit::Year => add_months(start, 12),
        _ => start.checked_add(Duration::days(1)),
    }
}

/// `yyyy-MM-dd` or `yyyy/MM/dd`, optionally followed by ` HH:mm`, as UTC.
fn absolute(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date_part, time_part) = match s.split_once(' ') {
        Some((d, t)) => (d, Some(t.trim())),
        None => (s, None),
    };
    let sep = if date_part.contains('/') { '/' } else { '-' };
    let mut parts = date_part.split(sep);
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || !(1..=2).contains(&m.len()) {
        return None;
    }
    if !(1..=2).contains(&d.len())
        || ![y, m, d]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    let date = Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
    let time = match time_part {
        None => Time::MIDNIGHT,
        Some(t) => {
            let (h, mi) = t.split_once(':')?;
            let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
            if !(1..=2).contains(&h.len()) || mi.len() != 2 || !digits(h) || !digits(mi) {
                return None;
            }
            Time::from_hms(h.parse().ok()?, mi.parse().ok()?, 0).ok()?
        }
    };
    to_ms(date.with_time(time).assume_utc())
}
