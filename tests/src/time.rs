//! Time values as the checks compare them: signed nanoseconds, and a list
//! of failures that keeps the first of each kind with the numbers.

use std::collections::BTreeMap;
use std::fmt;

use common::clock::{NSEC_PER_SEC, Timespec, Timeval};

pub const NS_PER_SEC: i128 = NSEC_PER_SEC as i128;

pub fn ns(ts: Timespec) -> i128 {
    ts.tv_sec as i128 * NS_PER_SEC + ts.tv_nsec as i128
}

/// A `timeval` in nanoseconds (its microseconds scaled, not rounded).
pub fn tv_ns(tv: Timeval) -> i128 {
    tv.tv_sec as i128 * NS_PER_SEC + tv.tv_usec as i128 * 1000
}

/// Nanoseconds shown as signed seconds.
pub struct Secs(pub i128);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:09} s",
            abs / 1_000_000_000,
            abs % 1_000_000_000
        )
    }
}

/// A timespec the kernel would return: nanoseconds within one second.
pub fn is_normalised(ts: Timespec) -> bool {
    (0..NS_PER_SEC as i64).contains(&ts.tv_nsec)
}

/// `lo <= value <= hi`, explained when not.
pub fn within(what: &str, lo: i128, value: i128, hi: i128) -> Result<(), String> {
    if value < lo {
        return Err(format!(
            "{what}: {} is {} below the lowest allowed, {}",
            Secs(value),
            Secs(lo - value),
            Secs(lo)
        ));
    }
    if value > hi {
        return Err(format!(
            "{what}: {} is {} above the highest allowed, {}",
            Secs(value),
            Secs(value - hi),
            Secs(hi)
        ));
    }
    Ok(())
}

/// Failures collected over a check: the first message for each key (a
/// clock, a CPU...) and how often that key failed, so a check reports every
/// way it failed without repeating itself.
#[derive(Default)]
pub struct Failures {
    by_key: BTreeMap<String, (String, usize)>,
}

impl Failures {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `result` under `key` if it is an error.
    pub fn note(&mut self, key: impl Into<String>, result: Result<(), String>) {
        if let Err(message) = result {
            let entry = self.by_key.entry(key.into()).or_insert((message, 0));
            entry.1 += 1;
        }
    }

    /// Records `message` under `key` unless `ok`.
    pub fn expect(&mut self, key: impl Into<String>, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.note(key, Err(message()));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn verdict(self) -> crate::check::Verdict {
        if self.by_key.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = self
            .by_key
            .into_iter()
            .map(|(key, (message, n))| {
                let times = if n > 1 {
                    format!(" ({n} times; the first shown)")
                } else {
                    String::new()
                };
                format!("  {key}{times}: {message}")
            })
            .collect();
        Err(lines.join("\n"))
    }
}
