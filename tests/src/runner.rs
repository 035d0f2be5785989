//! Runs every registered check of a category against every target it
//! applies to, one (check, target) pair at a time, each on a thread of its
//! own under a watchdog: a check that panics fails, and one that hangs fails
//! when its budget runs out instead of hanging the suite.

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::check::{Category, Check, Verdict, registered};
use crate::target::Target;

/// One pair at a time across the whole process, though libtest runs the
/// category tests in parallel: the timing checks compare against the
/// kernel within microseconds and the stress checks load every core.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The outcome of one (check, target) pair.
#[derive(Debug)]
pub struct Run {
    pub check: &'static str,
    pub target: Target,
    pub took: Duration,
    pub verdict: Verdict,
}

/// What a category's run found.
#[derive(Debug, Default)]
pub struct Report {
    pub runs: Vec<Run>,
}

impl Report {
    pub fn failures(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(|r| r.verdict.is_err())
    }

    /// Every pair with its time, each failure with its explanation.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for r in &self.runs {
            let status = if r.verdict.is_ok() { "ok" } else { "FAILED" };
            let _ = writeln!(
                out,
                "{status:>6}  {} on the {} ({:.2} s)",
                r.check,
                r.target,
                r.took.as_secs_f64()
            );
        }
        for r in self.failures() {
            let why = r.verdict.as_ref().err().map_or("", String::as_str);
            let _ = writeln!(out, "\n{} on the {}:\n{why}", r.check, r.target);
        }
        out
    }
}

/// The checks of `category`, sorted by name so runs are reproducible.
pub fn checks_of(category: Category) -> Vec<&'static Check> {
    let mut checks: Vec<_> = registered().filter(|c| c.category == category).collect();
    checks.sort_by_key(|c| c.name);
    checks
}

/// Runs every check of `category` on every target it applies to.
pub fn run_category(category: Category, targets: &[Target]) -> Report {
    let mut report = Report::default();
    for check in checks_of(category) {
        for &target in targets.iter().filter(|&&t| check.applies_to(t)) {
            report.runs.push(run_one(check, target));
        }
    }
    report
}

/// Runs every check of `category` on every target of `targets` it applies
/// to, prints each pair's verdict, and fails (panics, for a `#[test]`) if
/// any pair failed or none ran.
pub fn run_and_report(category: Category, targets: &[Target]) {
    let report = run_category(category, targets);
    println!("{category:?}:\n{}", report.summary());
    assert!(
        !report.runs.is_empty(),
        "no check of {category:?} ran on any target"
    );
    let failed = report.failures().count();
    assert!(
        failed == 0,
        "{failed} of {} (check, target) pairs failed:\n{}",
        report.runs.len(),
        report.summary()
    );
}

/// Runs `check` on `target` on a fresh thread and waits at most its budget.
pub fn run_one(check: &'static Check, target: Target) -> Run {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(format!("{}@{}", check.name, target))
        .spawn(move || {
            let verdict = catch_unwind(AssertUnwindSafe(|| (check.run)(target)))
                .unwrap_or_else(|panic| Err(format!("panicked: {}", panic_message(&*panic))));
            // The receiver is gone only if the watchdog already gave up.
            let _ = tx.send(verdict);
        });
    let verdict = match spawned {
        Err(e) => Err(format!("cannot start the check's thread: {e}")),
        Ok(_detached) => match rx.recv_timeout(check.budget) {
            Ok(verdict) => verdict,
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "no verdict after {} s: the check hangs (its thread is abandoned)",
                check.budget.as_secs()
            )),
            Err(RecvTimeoutError::Disconnected) => {
                Err("the check's thread died without a verdict".into())
            }
        },
    };
    Run {
        check: check.name,
        target,
        took: start.elapsed(),
        verdict,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)")
}
