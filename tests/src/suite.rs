//! The `#[test]` functions: one per category, each running every
//! registered check of it on every target it applies to.

use std::collections::HashSet;

use crate::check::{Category, registered};
use crate::runner::run_category;
use crate::target::Target;

fn run(category: Category) {
    let report = run_category(category, &Target::ALL);
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

#[test]
fn black_box_checks_pass_on_every_target() {
    run(Category::BlackBox);
}

#[test]
fn time_namespace_checks_pass() {
    run(Category::TimeNamespace);
}

#[test]
fn seqlock_checks_pass() {
    run(Category::Seqlock);
}

#[test]
fn fault_checks_pass() {
    run(Category::Faults);
}

#[test]
fn hostile_input_checks_pass() {
    run(Category::HostileInput);
}

/// Every check has a unique name, belongs to a category a test runs, and
/// applies to at least one target; the black-box ones reach the kernel's
/// own vDSO.
#[test]
fn every_registered_check_runs_somewhere() {
    let mut names = HashSet::new();
    for check in registered() {
        assert!(names.insert(check.name), "two checks named {}", check.name);
        assert!(Category::ALL.contains(&check.category));
        assert!(
            Target::ALL.iter().any(|&t| check.applies_to(t)),
            "{} applies to no target",
            check.name
        );
        if check.category == Category::BlackBox {
            assert!(
                check.applies_to(Target::KernelVdso),
                "black-box check {} skips the kernel's vDSO",
                check.name
            );
        }
    }
    for category in Category::ALL {
        assert!(
            registered().any(|c| c.category == category),
            "no check in {category:?}"
        );
    }
}
