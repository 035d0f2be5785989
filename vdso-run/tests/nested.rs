//! Time namespaces inside time namespaces, as Linux nests them (measured
//! with `unshare --time` here, and checked again in these tests): a new
//! namespace's offsets are relative to the host, not to the namespace it
//! is made in, and a clock it does not set keeps its parent's offset. So:
//! a program that makes its own namespace under vdso-run gets the kernel's
//! clocks (or is refused in one line where vdso-run cannot tell what Linux
//! would give it); vdso-run inside a kernel time namespace reads that
//! namespace's clocks and sets offsets relative to the host; vdso-run
//! inside vdso-run composes the same way.

mod support;

use std::process::Command;

use support::*;

/// Sleeps 200 ms with Python's `time.sleep` (an absolute
/// `clock_nanosleep` on CLOCK_MONOTONIC, which vdso-run translates), then
/// prints how long that took and CLOCK_MONOTONIC and CLOCK_BOOTTIME.
const PROBE: &str = "import time
t = time.monotonic()
time.sleep(0.2)
print('slept', time.monotonic() - t)
print('monotonic', time.clock_gettime(time.CLOCK_MONOTONIC))
print('boottime', time.clock_gettime(time.CLOCK_BOOTTIME))";

const HOUR: i128 = 3600 * NS;
const DAY: i128 = 86_400 * NS;

/// Each mode's options.
const MODES: [&[&str]; 2] = [&[], &["--as-vdso"]];

/// `python3 -c PROBE`, as arguments.
fn probe_args() -> [&'static str; 3] {
    ["python3", "-c", PROBE]
}

/// The probe slept its 200 ms and read CLOCK_MONOTONIC and CLOCK_BOOTTIME
/// at the host's plus these offsets.
fn reads(what: &str, run: &Run, monotonic: i128, boottime: i128) {
    let slept = parse_ns(&run.values()["slept"]);
    assert!(
        (150_000_000..=600_000_000).contains(&slept),
        "{what}: slept {} s\n{}",
        slept as f64 / 1e9,
        run.stderr
    );
    for (clock, key, offset) in [
        (libc::CLOCK_MONOTONIC, "monotonic", monotonic),
        (libc::CLOCK_BOOTTIME, "boottime", boottime),
    ] {
        let host = host_ns(clock);
        let read = parse_ns(&run.values()[key]);
        assert_near(&format!("{what}: {key}"), read, host, offset, 10 * NS, 0);
    }
}

/// `unshare --time --fork` with these offsets (root), then `rest`.
fn unshare(offsets: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--time", "--fork"]).args(offsets);
    cmd
}

#[test]
fn a_program_s_own_time_namespace_gets_the_kernel_s_clocks_in_both_modes() {
    // Linux: a namespace of -5 s made inside one of +1 h is host - 5 s;
    // BOOTTIME, which neither sets, stays the host's.
    let inner = ["--monotonic", "-5"];
    let oracle = support::run(
        unshare(&["--monotonic", "3600"])
            .arg("unshare")
            .args(["--time", "--fork"])
            .args(inner)
            .args(probe_args()),
    )
    .expect_success();
    reads("unshare inside unshare", &oracle, -5 * NS, 0);
    for mode in MODES {
        // vdso-run with `outer` offsets, running `unshare --time --fork`
        // with `set` and the inner MONOTONIC offset, running the probe.
        let nested = |outer: &[&str], set: &[&str]| {
            let mut cmd = vdso_run();
            cmd.args(mode)
                .args(outer)
                .args(["--", "unshare", "--time", "--fork"])
                .args(set)
                .args(inner)
                .args(probe_args());
            cmd
        };
        let both = ["--monotonic", "+1h", "--boottime", "+1h"];
        let run = support::run(&mut nested(&["--monotonic", "+1h"], &[])).expect_success();
        reads(&format!("{mode:?}"), &run, -5 * NS, 0);
        // With BOOTTIME shifted too, the new namespace's BOOTTIME is the
        // kernel's: Linux would have it inherit +1 h unless it was set so,
        // and vdso-run cannot tell which: one line, nothing run.
        let run = support::run(&mut nested(&both, &[]));
        assert!(!run.status.success(), "{mode:?}: {}", run.stdout);
        assert!(!run.stdout.contains("slept"), "{mode:?}: {}", run.stdout);
        let lines = lines_starting(&run.stderr, "vdso-run: ");
        assert_eq!(lines.len(), 1, "{mode:?}: {}", run.stderr);
        assert!(
            lines[0].contains("CLOCK_BOOTTIME") && lines[0].contains("cannot tell"),
            "{}",
            lines[0]
        );
        // Set, it is what it was set to.
        let run = support::run(&mut nested(&both, &["--boottime", "7"])).expect_success();
        reads(&format!("{mode:?}, both set"), &run, -5 * NS, 7 * NS);
    }
}

#[test]
fn a_child_forked_into_the_program_s_own_namespace_gets_the_kernel_s_clocks() {
    // Without an exec: the program makes a namespace for its children
    // (unshare(CLONE_NEWTIME), its offsets written) and forks. The child
    // is in that namespace; the preload library leaves it to the kernel.
    let script = format!(
        "import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
assert libc.unshare(0x80) == 0, os.strerror(ctypes.get_errno())
with open('/proc/self/timens_offsets', 'w') as f:
    f.write('1 -5 0\\n')
if os.fork() == 0:
    exec({PROBE:?})
    os._exit(0)
os.wait()"
    );
    let oracle =
        run(unshare(&["--monotonic", "3600"]).args(["python3", "-c", &script])).expect_success();
    reads("unshare", &oracle, -5 * NS, 0);
    let run = support::run(vdso_run().args(["--monotonic", "+1h", "--", "python3", "-c", &script]))
        .expect_success();
    reads("default mode", &run, -5 * NS, 0);
}

#[test]
fn vdso_run_inside_a_kernel_time_namespace_reads_its_clocks_and_sets_offsets_from_the_host() {
    // Linux inside a namespace of +2 d: a new one of +1 d is host + 1 d; one
    // that sets only BOOTTIME keeps MONOTONIC at +2 d.
    let outer = ["--monotonic", "172800"];
    let oracle = support::run(
        unshare(&outer)
            .args(["unshare", "--time", "--fork", "--monotonic", "86400"])
            .args(probe_args()),
    )
    .expect_success();
    reads("unshare inside unshare", &oracle, DAY, 0);
    for mode in MODES {
        for (offsets, monotonic, boottime) in [
            (&[][..], 2 * DAY, 0),
            (&["--monotonic", "+1d"][..], DAY, 0),
            (&["--boottime", "+1h"][..], 2 * DAY, HOUR),
        ] {
            let run = support::run(
                unshare(&outer)
                    .arg(env!("CARGO_BIN_EXE_vdso-run"))
                    .args(mode)
                    .args(offsets)
                    .arg("--")
                    .args(probe_args()),
            )
            .expect_success();
            reads(&format!("{mode:?} {offsets:?}"), &run, monotonic, boottime);
        }
    }
}

#[test]
fn vdso_run_inside_vdso_run_composes_as_linux_does() {
    // The inner one's offsets are relative to the host, the clocks it does
    // not set keep the outer one's, and without offsets it stays in the
    // outer namespace; in each pair of modes that can nest.
    let vdso_run_path = env!("CARGO_BIN_EXE_vdso-run");
    for (outer_mode, inner_mode) in [
        (&[][..], &[][..]),
        (&[][..], &["--as-vdso"][..]),
        (&["--as-vdso"][..], &[][..]),
    ] {
        for (offsets, monotonic, boottime) in [
            (&["--monotonic", "+1d"][..], DAY, 0),
            (&["--boottime", "+1h"][..], 2 * DAY, HOUR),
            (&[][..], 2 * DAY, 0),
        ] {
            let what = format!("outer {outer_mode:?}, inner {inner_mode:?} {offsets:?}");
            let run = support::run(
                vdso_run()
                    .args(outer_mode)
                    .args(["--monotonic", "+2d", "--", vdso_run_path])
                    .args(inner_mode)
                    .args(offsets)
                    .arg("--")
                    .args(probe_args()),
            )
            .expect_success();
            reads(&what, &run, monotonic, boottime);
        }
    }
    // A process has one tracer: --as-vdso inside --as-vdso says so.
    let run = support::run(as_vdso().args([
        "--monotonic",
        "+2d",
        "--",
        vdso_run_path,
        "--as-vdso",
        "--",
        "true",
    ]));
    assert_one_line_error(
        "--as-vdso inside --as-vdso",
        &run,
        125,
        &["without --as-vdso"],
    );
}
