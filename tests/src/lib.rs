//! The conformance suite: every image, every design variant and the
//! kernel's own vDSO, held to the same checks, so that each image is
//! proven against the kernel and each design compared in BENCHMARKS.md is
//! known correct before it is measured.
//!
//! Each check is registered, in the file that defines it, into one linker
//! set ([`check::checks`]) with the capabilities a target needs for it to
//! apply. The runner ([`runner`]) runs every registered check against every
//! [`target::Target`] it applies to, each in a thread of its own under a
//! watchdog, and the `#[test]` functions (one per [`check::Category`]) report
//! every failing (check, target) pair.
//!
//! The kernel is the oracle throughout: times are compared with the raw
//! system call ([`abi`]), bracketed by reads taken around them.
//!
//! Adding a check: write `fn name_after_the_behaviour(target: Target) ->
//! Verdict` in the file of its subject and [`register!`] it beside it with
//! its category and the [`target::Capability`]s it needs. Adding a target
//! (a design variant, a data layout): a row of [`kernel_side::targets`],
//! whose capabilities [`target`] derives.
//!
//! Run with the images and the variants built: `cargo xtask test`, or
//! `cargo xtask build-vdso --variants` then `cargo test -p conformance`
//! (`VDSO_DIR` picks another image directory). A missing image fails the
//! suite; it is never skipped.

pub mod abi;
pub mod check;
pub mod live;
pub mod runner;
pub mod target;
pub mod time;

mod black_box;
mod faults;
// Checks over an independent ChaCha20 (a dev-dependency).
#[cfg(test)]
mod getrandom;
#[cfg(test)]
mod hostile;
mod namespace;
mod real_namespace;
mod seqlock;
mod signal;
mod swap;

#[cfg(test)]
mod suite;
