//! Date values and functions against a fixed now (Saturday 2026-11-21 10:00 UTC).

use super::{DAY, HOUR, MIN, NOW};
use crate::cache::query::dates::resolve;
use crate::cache::query::parse::Value;

fn text(s: &str) -> Result<i64, String> {
    resolve(&Value::Text(s.into()), NOW)
}

fn func(name: &str, args: &[&str]) -> Result<i64, String> {
    resolve(
        &Value::Func(name.into(), args.iter().map(|a| a.to_string()).collect()),
        NOW,
    )
}

/// Midnight UTC of a day in 2026-11 / 2026-12 etc., from the Python-checked table.
const NOV_1: i64 = 1_793_491_200_000;
const NOV_16: i64 = 1_794_787_200_000;
const NOV_21: i64 = NOW - 10 * HOUR;
const NOV_23: i64 = 1_795_392_000_000;
const DEC_1: i64 = 1_796_083_200_000;
const OCT_1: i64 = 1_790_812_800_000;
const JAN_1_2026: i64 = 1_767_225_600_000;
const JAN_1_2027: i64 = 1_798_761_600_000;

#[test]
fn absolute_dates_in_every_accepted_shape() {
    assert_eq!(text("2026-12-01"), Ok(DEC_1));
    assert_eq!(text("2026/12/01"), Ok(DEC_1));
    assert_eq!(text("2026/12/1"), Ok(DEC_1));
    assert_eq!(text(" 2026-12-01 "), Ok(DEC_1));
    assert_eq!(text("2026-12-01 09:30"), Ok(1_796_117_400_000));
    assert_eq!(text("2026/12/01 9:30"), Ok(DEC_1 + 9 * HOUR + 30 * MIN));
    for bad in [
        "2026-13-01",
        "2026-02-30",
        "26-12-01",
        "2026-12-01 25:00",
        "2026-12-01 09:3",
        "2026-12-01 +9:30",
        "2026-12",
        "yesterday",
        "",
        "12/01/2026",
    ] {
        assert!(text(bad).is_err(), "{bad}");
    }
}

#[test]
fn periods_relative_to_now() {
    assert_eq!(text("-7d"), Ok(NOW - 7 * DAY));
    assert_eq!(text("-2w"), Ok(NOW - 14 * DAY));
    assert_eq!(text("4h"), Ok(NOW + 4 * HOUR));
    assert_eq!(text("+4h"), Ok(NOW + 4 * HOUR));
    assert_eq!(text("-30m"), Ok(NOW - 30 * MIN));
    assert_eq!(text("-30M"), Ok(NOW - 30 * MIN));
    assert_eq!(text("-4w 2d"), Ok(NOW - 30 * DAY));
    assert_eq!(text("1d2h"), Ok(NOW + DAY + 2 * HOUR));
    for bad in ["-", "7", "-7x", "d", "-1y", "1d 2", "99999999999d"] {
        assert!(text(bad).is_err(), "{bad}");
    }
}

#[test]
fn date_functions_in_utc_with_jira_offsets() {
    assert_eq!(func("now", &[]), Ok(NOW));
    assert_eq!(func("NOW", &["-7d"]), Ok(NOW - 7 * DAY));
    assert_eq!(func("startOfDay", &[]), Ok(NOV_21));
    assert_eq!(func("startofday", &["-1d"]), Ok(NOV_21 - DAY));
    assert_eq!(func("startOfDay", &["-1"]), Ok(NOV_21 - DAY));
    assert_eq!(func("startOfDay", &["+2h"]), Ok(NOV_21 + 2 * HOUR));
    assert_eq!(func("endOfDay", &[]), Ok(NOV_21 + DAY - 1));
    assert_eq!(func("endOfDay", &["-1d"]), Ok(NOV_21 - 1));
    // Weeks start on Monday.
    assert_eq!(func("startOfWeek", &[]), Ok(NOV_16));
    assert_eq!(func("startOfWeek", &["-1"]), Ok(NOV_16 - 7 * DAY));
    assert_eq!(func("endOfWeek", &[]), Ok(NOV_23 - 1));
    assert_eq!(func("startOfMonth", &[]), Ok(NOV_1));
    assert_eq!(func("startOfMonth", &["+14d"]), Ok(NOV_1 + 14 * DAY));
    assert_eq!(func("startOfMonth", &["-1M"]), Ok(OCT_1));
    assert_eq!(func("startOfMonth", &["-1"]), Ok(OCT_1));
    assert_eq!(func("endOfMonth", &[]), Ok(DEC_1 - 1));
    assert_eq!(func("endOfMonth", &["-1M"]), Ok(NOV_1 - 1));
    assert_eq!(func("startOfYear", &[]), Ok(JAN_1_2026));
    assert_eq!(func("endOfYear", &[]), Ok(JAN_1_2027 - 1));
    assert_eq!(func("startOfYear", &["1"]), Ok(JAN_1_2027));
}

#[test]
fn bad_functions_and_offsets_are_errors_not_panics() {
    for (name, args) in [
        ("startOfQuarter", vec![]),
        ("now", vec!["1"]),
        ("startOfDay", vec!["-1d", "2d"]),
        ("startOfDay", vec!["soon"]),
        ("startOfMonth", vec!["99999999y"]),
        ("endOfYear", vec!["-9999999y"]),
        ("startOfDay", vec!["9999999w"]),
    ] {
        assert!(func(name, &args).is_err(), "{name}({args:?})");
    }
    assert!(resolve(&Value::Empty, NOW).is_err());
    // Extreme clocks do not panic either.
    for now in [i64::MIN, i64::MAX, 0, -1] {
        let _ = resolve(&Value::Func("endOfYear".into(), vec![]), now);
        let _ = resolve(&Value::Text("-7d".into()), now);
    }
}
