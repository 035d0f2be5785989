//! Every benched target answers every benched call as the kernel does, so a
//! broken bench target fails the test run instead of timing garbage: the
//! images (and the design variants, when built) for a host process and a
//! namespaced one, and the raw system calls.

use common::clock::CLOCK_MONOTONIC;
use kernel_side::targets::Target;
use vdso_benches::calls::{Call, Entries, Outcome, Syscalls, outcome};
use vdso_benches::lab::{self, Lab, Pace};

/// How far a target may be from the kernel, beyond the time between the
/// kernel reads around it.
fn tolerance(call: Call) -> i128 {
    match call {
        // The kernel side's timekeeper keeps the fine clocks within 50 us.
        Call::ClockGettime(c) if c < 5 || c == 7 => 200_000,
        // Coarse clocks move in ticks of the kernel's and of the timekeeper's.
        Call::ClockGettime(_) => 20_000_000,
        Call::Gettimeofday => 200_000,
        Call::Time => 1,
        Call::ClockGetres | Call::Getcpu => 0,
    }
}

/// Checks one target against the kernel's vDSO, read before and after it.
/// `offset` is what the target adds for its namespace. getcpu is retried:
/// the thread may move between CPUs in between.
fn agrees<K: Entries, T: Entries>(
    kernel: &K,
    target: &T,
    call: Call,
    offset: i128,
) -> Result<(), String> {
    let mut last = None;
    for _ in 0..50 {
        let before = outcome(kernel, call);
        let got = outcome(target, call);
        let after = outcome(kernel, call);
        let value = got.value - offset;
        let tol = tolerance(call);
        let ok = got.ret == before.ret
            && value >= before.value.min(after.value) - tol
            && value <= before.value.max(after.value) + tol;
        if ok {
            return Ok(());
        }
        last = Some((before, got, after));
    }
    let (before, got, after): (Outcome, Outcome, Outcome) = last.expect("tried");
    Err(format!(
        "{}: kernel {before:?} .. {after:?}, target {got:?} (offset {offset})",
        call.label()
    ))
}

#[test]
fn every_benched_target_answers_every_call_as_the_kernel_does() {
    let kernel = lab::kernel().expect("the kernel's vDSO");
    let every: Vec<Target> = if lab::variants_built() {
        lab::measured().collect()
    } else {
        eprintln!(
            "the design variants are not built (`cargo xtask build-vdso --variants`): \
             checking the shipped images only"
        );
        lab::shipped().collect()
    };
    let lab = Lab::new(Pace::Ticking, &every).unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    for call in Call::ALL {
        if let Err(e) = agrees(&kernel, &Syscalls, call, 0) {
            failures.push(format!("syscall: {e}"));
        }
        for (t, p) in &lab.processes {
            let offset = match call {
                Call::ClockGettime(clock) => lab::offset_ns(*t, clock),
                _ => 0,
            };
            if let Err(e) = agrees(&kernel, &p.vdso(), call, offset) {
                failures.push(format!("{}: {e}", t.name()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every target asked for was mapped (the RDPID ones only on an RDPID CPU).
    let mapped = lab.processes.len();
    let expected = every.iter().filter(|t| t.runs_here()).count();
    assert_eq!(mapped, expected);
    assert_eq!(outcome(&kernel, Call::ClockGetres).value, {
        let (_, ts) = Syscalls.clock_getres(CLOCK_MONOTONIC);
        i128::from(ts.tv_nsec)
    });
}

/// Every source the getrandom benches read fills every benched size: the
/// kernel's vDSO, the system call, the user-space generator and each image
/// that has the entry (over pages the timekeeper marked ready, so its
/// reads are served, not sent to the system call).
#[test]
fn every_getrandom_source_fills_every_benched_size() {
    use vdso_benches::getrandom::{SIZES, Source, Syscall, UserChaCha20, Vgetrandom};
    let kernel = lab::kernel().expect("the kernel's vDSO");
    let with_getrandom: Vec<Target> = lab::shipped().filter(|t| t.exports("getrandom")).collect();
    assert!(!with_getrandom.is_empty(), "no image has getrandom");
    let lab = Lab::new(Pace::Ticking, &with_getrandom).unwrap_or_else(|e| panic!("{e}"));
    let mut sources: Vec<(String, Box<dyn Source>)> = vec![
        ("syscall".into(), Box::new(Syscall)),
        ("user-chacha20".into(), Box::new(UserChaCha20::new())),
    ];
    if let Ok(k) = Vgetrandom::new(&kernel) {
        sources.push(("kernel".into(), Box::new(k)));
    }
    for (t, p) in &lab.processes {
        let v = Vgetrandom::new(&p.vdso()).unwrap_or_else(|e| panic!("{}: {e}", t.name()));
        sources.push((t.name(), Box::new(v)));
    }
    assert_eq!(lab.processes.len(), with_getrandom.len());
    for (name, source) in &mut sources {
        for size in SIZES {
            let mut buf = vec![0u8; size];
            let ret = source.fill(&mut buf);
            assert_eq!(ret, size as isize, "{name}: a read of {size} bytes");
            assert!(
                buf.iter().any(|&b| b != 0),
                "{name}: {size} bytes of zeroes"
            );
        }
    }
}
