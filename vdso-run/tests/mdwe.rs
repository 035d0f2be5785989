//! Programs under Memory-Deny-Write-Execute (issue 13, defect 5): after
//! `prctl(PR_SET_MDWE)`, or under a seccomp filter refusing
//! `mprotect(PROT_EXEC)` (systemd's `MemoryDenyWriteExecute=`), no page may
//! become executable after it was mapped. The image is mapped read and
//! execute from the start, from the namespace file, so such programs run
//! in both modes, whether the rule came before their exec or they set it
//! themselves before their first clock read. Where the namespace file's
//! folder is mounted `noexec`, both modes still serve an ordinary program.

mod support;

use std::process::Command;

use support::*;

const MODES: [(&str, &[&str]); 2] = [("default", &[]), ("--as-vdso", &["--as-vdso"])];

/// `tests/c/mdwe.c MECHANISM [PROGRAM...]`: the rule set, then PROGRAM
/// exec'd, or (without one) a check that the rule holds and a clock read.
fn assert_runs_under(mode: (&str, &[&str]), mechanism: &str, exec_first: bool) {
    let mdwe = c_program("mdwe");
    let mut args = vec![mdwe.to_str().unwrap(), mechanism];
    if exec_first {
        args.extend([mdwe.to_str().unwrap(), "none"]);
    }
    let label = format!("{} under {mechanism} (exec after it: {exec_first})", mode.0);
    let before = host_ns(libc::CLOCK_MONOTONIC);
    let run = run(vdso_run()
        .args(mode.1)
        .args(["--monotonic", "+10d", "--"])
        .args(&args));
    let after = host_ns(libc::CLOCK_MONOTONIC);
    let run = run.expect_success();
    let v = run.values();
    if !exec_first {
        assert_eq!(v["exec_denied"], "1", "{label}: the rule does not hold");
    }
    let mono = v["monotonic"].parse::<i128>().expect("ns");
    assert_near(&label, mono, before, TEN_DAYS, 0, after - before);
}

#[test]
fn a_program_under_prctl_mdwe_runs_in_both_modes() {
    for mode in MODES {
        assert_runs_under(mode, "prctl", false);
        assert_runs_under(mode, "prctl", true);
    }
}

#[test]
fn a_program_whose_seccomp_filter_refuses_mprotect_exec_runs_in_both_modes() {
    for mode in MODES {
        assert_runs_under(mode, "seccomp", false);
        assert_runs_under(mode, "seccomp", true);
    }
}

/// A `noexec` /dev/shm (in a mount namespace of its own) refuses the
/// image's file mapping: vdso-run copies it into the process instead, as
/// before, and the program reads the namespace's clocks.
#[test]
fn a_noexec_shared_memory_folder_still_serves_the_namespace() {
    let mdwe = c_program("mdwe");
    for (mode, args) in MODES {
        let mut line = env!("CARGO_BIN_EXE_vdso-run").to_string();
        for a in args.iter().chain(&["--monotonic", "+10d", "--"]) {
            line.push(' ');
            line.push_str(a);
        }
        let script = format!(
            "mount -t tmpfs -o noexec none /dev/shm || exit 99\n{line} {} none",
            mdwe.display()
        );
        let before = host_ns(libc::CLOCK_MONOTONIC);
        let run = run(Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .env("VDSO_DIR", images_dir())
            .env_remove("XDG_RUNTIME_DIR"))
        .expect_success();
        let after = host_ns(libc::CLOCK_MONOTONIC);
        let mono = run.values()["monotonic"].parse::<i128>().expect("ns");
        assert_near(
            &format!("{mode} on a noexec /dev/shm"),
            mono,
            before,
            TEN_DAYS,
            0,
            after - before,
        );
    }
}
