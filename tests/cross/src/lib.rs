//! The conformance suite for an architecture this machine is not:
//! `cargo xtask test` cross-builds this crate for aarch64 with Debian's
//! `rustc-web` and runs its tests under `qemu-aarch64`. It is the
//! `conformance` library with nothing else (none of its dev-dependencies is
//! cross-built), running every registered check on every target of the
//! architecture it is built for: the images mapped above data pages of the
//! kernel side's, a timekeeper on the architecture's counter, every clock
//! id, invalid ids, `gettimeofday`, `clock_getres`, the namespace image
//! with offsets, the seqlock under fire, stale data whose product
//! overflows, a swap under resolved pointers, and the signal trampoline.
//!
//! The system calls inside qemu-user are the host kernel's, so the host
//! kernel is still the oracle. What emulation cannot show (a missing
//! barrier: TCG runs in order) the verifier checks in the machine code.
//! The hostile-input checks, which run nothing, are the build machine's
//! suite's (`conformance`'s `hostile_input_checks_pass`), for every
//! architecture's files.
//!
//! Built for the build machine's own architecture, it would repeat
//! `conformance`'s suite; `cargo xtask test` leaves it out there.

#[cfg(test)]
mod tests {
    use common::abi::Arch;
    use conformance::check::Category;
    use conformance::runner::run_and_report;
    use conformance::target::Target;

    /// The targets of this architecture; every image of it must run.
    fn here() -> Vec<Target> {
        let here = Target::here();
        for t in Target::all() {
            if t.arch() == Some(Arch::HOST) && !t.has(conformance::target::Capability::Rdpid) {
                assert!(here.contains(&t), "the {t} does not run here");
            }
        }
        if !here.contains(&Target::KernelVdso) {
            println!(
                "the kernel maps no vDSO here (qemu-user maps none): only the images are checked"
            );
        }
        here
    }

    #[test]
    fn black_box_checks_pass() {
        run_and_report(Category::BlackBox, &here());
    }

    #[test]
    fn time_namespace_checks_pass() {
        run_and_report(Category::TimeNamespace, &here());
    }

    #[test]
    fn seqlock_checks_pass() {
        run_and_report(Category::Seqlock, &here());
    }

    #[test]
    fn fault_checks_pass() {
        run_and_report(Category::Faults, &here());
    }
}
