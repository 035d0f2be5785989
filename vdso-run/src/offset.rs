//! OFFSET: a signed duration. `86400` (seconds, as unshare takes them),
//! `+10d`, `-1h30m`, `+90s`, `-250ms`, `1h30m15s250ms`. Units, largest
//! first, each at most once: d, h, m, s, ms, us, ns. The sign applies to the
//! whole duration.

use std::fmt;

use common::timens::Offsets;

const UNITS: [(&str, i128); 7] = [
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
];

/// The order units must come in (largest first).
const ORDER: [&str; 7] = ["d", "h", "m", "s", "ms", "us", "ns"];

/// Linux accepts offsets up to `KTIME_SEC_MAX` (about 9.2e9) seconds;
/// anything beyond that is refused later with Linux's own message, but
/// parsing must stay within an `i64` of seconds first.
const MAX_NANOS: i128 = 1_000_000_000_000_000_000_000_000_000;

#[derive(Debug, PartialEq, Eq)]
pub struct OffsetError {
    input: String,
    why: String,
}

impl fmt::Display for OffsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad OFFSET {:?}: {}", self.input, self.why)
    }
}

impl std::error::Error for OffsetError {}

/// Parses an OFFSET into signed nanoseconds.
pub fn parse(input: &str) -> Result<i128, OffsetError> {
    let err = |why: &str| OffsetError {
        input: input.to_string(),
        why: why.to_string(),
    };
    let (negative, body) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if body.is_empty() {
        return Err(err("no number"));
    }
    let mut rest = body;
    let mut total: i128 = 0;
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err("expected a number (like 90s, 1h30m or 86400)"));
        }
        let value: i128 = rest[..digits]
            .parse()
            .ok()
            .filter(|v| *v < MAX_NANOS)
            .ok_or_else(|| err("number too large"))?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let scale = if unit.is_empty() {
            if !rest.is_empty() || last_unit.is_some() {
                return Err(err("a number without a unit must be alone (seconds)"));
            }
            1_000_000_000
        } else {
            let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
                return Err(err(&format!(
                    "unknown unit {unit:?} (units: d, h, m, s, ms, us, ns)"
                )));
            };
            let rank = ORDER.iter().position(|u| *u == unit).unwrap_or(0);
            if last_unit.is_some_and(|last| last >= rank) {
                return Err(err("units must go from largest to smallest, each once"));
            }
            last_unit = Some(rank);
            scale
        };
        total = value
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v < MAX_NANOS)
            .ok_or_else(|| err("number too large"))?;
    }
    Ok(if negative { -total } else { total })
}

/// Nanoseconds as signed seconds, for messages: `+864000 s`, `-0.25 s`.
pub fn show(nanos: i128) -> String {
    let sign = if nanos < 0 { "-" } else { "+" };
    let abs = nanos.unsigned_abs();
    let (sec, ns) = (abs / 1_000_000_000, abs % 1_000_000_000);
    if ns == 0 {
        format!("{sign}{sec} s")
    } else {
        let frac = format!("{ns:09}");
        format!("{sign}{sec}.{} s", frac.trim_end_matches('0'))
    }
}

/// The namespace's offsets for `--verbose`: `monotonic +864000 s, boottime
/// +0 s`, or `no time namespace`.
pub fn describe(offsets: Option<&Offsets>) -> String {
    match offsets {
        Some(o) => format!(
            "monotonic {}, boottime {}",
            show(o.monotonic.as_nanos()),
            show(o.boottime.as_nanos())
        ),
        None => "no time namespace".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    #[test]
    fn plain_seconds_like_unshare() {
        assert_eq!(parse("86400"), Ok(86400 * S));
        assert_eq!(parse("-5"), Ok(-5 * S));
        assert_eq!(parse("+0"), Ok(0));
    }

    #[test]
    fn units() {
        assert_eq!(parse("+10d"), Ok(864_000 * S));
        assert_eq!(parse("-1h30m"), Ok(-5400 * S));
        assert_eq!(parse("+90s"), Ok(90 * S));
        assert_eq!(parse("-250ms"), Ok(-250_000_000));
        assert_eq!(parse("1h30m15s250ms"), Ok(5415 * S + 250_000_000));
        assert_eq!(parse("7us3ns"), Ok(7003));
        assert_eq!(parse("2m"), Ok(120 * S));
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "+",
            "-",
            "10x",
            "abc",
            "1.5",
            "10s5m",
            "1h1h",
            "5s3",
            "1 h",
            "--5",
            "h",
            "99999999999999999999999999999999999d",
        ] {
            let e = parse(bad).expect_err(bad);
            let line = e.to_string();
            assert!(line.starts_with("bad OFFSET"), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
        assert!(
            parse("10x")
                .unwrap_err()
                .to_string()
                .contains("unknown unit")
        );
    }

    #[test]
    fn shown() {
        assert_eq!(show(864_000 * S), "+864000 s");
        assert_eq!(show(-250_000_000), "-0.25 s");
    }
}
