//! The report's getrandom section: each image that has the entry against
//! the kernel's vDSO, the system call and a user-space generator, per size.

use std::fmt::Write as _;

use kernel_side::targets::{self, Target};
use vdso_benches::getrandom::{SIZES, name};

use super::template::{self, fill};
use super::{Report, ns};

/// The host images that have `getrandom`, in the table's order (their
/// namespace images run the same code).
fn images() -> Vec<Target> {
    targets::all()
        .filter(|t| !t.namespaced && !t.is_design() && t.exports("getrandom"))
        .collect()
}

impl Report {
    pub(super) fn getrandom_table(&self) -> String {
        let images = images();
        let names: Vec<String> = images.iter().map(|t| t.name()).collect();
        let mut s = String::new();
        let _ = write!(
            s,
            "| read | kernel vDSO | system call | user-space ChaCha20 |"
        );
        for n in &names {
            let _ = write!(s, " {n} |");
        }
        for n in &names {
            let _ = write!(s, " {n} / kernel (interleaved) |");
        }
        let _ = writeln!(s, " instructions: kernel / {} |", names.join(" / "));
        let columns = 4 + 2 * names.len();
        let _ = writeln!(s, "|---|{}", "---:|".repeat(columns));
        let mut missed = Vec::new();
        for size in SIZES {
            let group = name(size);
            let hot = |bench: &str| ns(self.medians.get(&group, bench));
            let _ = write!(
                s,
                "| {size} bytes | {} | {} | {} |",
                hot("kernel"),
                hot("syscall"),
                hot("user-chacha20")
            );
            for n in &names {
                let _ = write!(s, " {} |", hot(n));
            }
            let kernel_count = self.counts.get(&("kernel".to_string(), group.clone()));
            for n in &names {
                let r = self.interleaved.get_named("kernel", n, &group);
                let _ = write!(
                    s,
                    " {} |",
                    r.map_or("n/a".into(), |(m, q1, q3)| format!(
                        "{m:.3}x ({q1:.3}–{q3:.3})"
                    ))
                );
                let count = self.counts.get(&(n.clone(), group.clone()));
                let slower = r.is_none_or(|(_, q1, _)| q1 > 1.0);
                let more = match (count, kernel_count) {
                    (Some(c), Some(k)) => c > k,
                    _ => true,
                };
                if slower || more {
                    missed.push(format!("{n} at {size} bytes"));
                }
            }
            let counts: Vec<String> = std::iter::once("kernel".to_string())
                .chain(names.iter().cloned())
                .map(|t| {
                    self.counts
                        .get(&(t, group.clone()))
                        .map_or("n/a".into(), |c| format!("{c:.0}"))
                })
                .collect();
            let _ = writeln!(s, " {} |", counts.join(" / "));
        }
        let goal = if missed.is_empty() {
            "met".to_string()
        } else {
            format!("**missed** (or not measured): {}", missed.join(", "))
        };
        fill(
            template::GETRANDOM,
            &[("table", &s.trim_end()), ("goal", &goal)],
        )
    }
}
