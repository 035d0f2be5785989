//! vdso-run short of what it needs: a full shared-memory folder, too little
//! address space, too few descriptors. Each is vdso-run's own failure: one
//! line, exit 125, nothing left behind, never a signal or a panic.

mod support;

use std::process::Command;

use support::*;

/// vdso-run and its mode's options, as a shell command line.
fn vdso_run_line(mode: &[&str]) -> String {
    let mut line = env!("CARGO_BIN_EXE_vdso-run").to_string();
    for a in mode {
        line.push(' ');
        line.push_str(a);
    }
    line
}

const MODES: [&[&str]; 2] = [
    &["--monotonic", "+1d"],
    &["--as-vdso", "--monotonic", "+1d"],
];

#[test]
fn a_full_shared_memory_folder_is_refused_in_one_line() {
    // In a mount namespace of its own, a tmpfs of 8 KiB over /dev/shm: too
    // small for the namespace file (28 KiB, 36 KiB for linux-6.18).
    for mode in MODES {
        let script = format!(
            "mount -t tmpfs -o size=8k none /dev/shm || exit 99
{} -- true
echo status $?
echo left $(ls -A /dev/shm)",
            vdso_run_line(mode)
        );
        let run = run(Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .env("VDSO_DIR", images_dir())
            .env_remove("XDG_RUNTIME_DIR"));
        let what = format!("{mode:?} on a full /dev/shm");
        assert!(
            run.stdout.contains("status 125"),
            "{what}: {}\n{}",
            run.stdout,
            run.stderr
        );
        assert!(
            run.stdout.contains("left \n") || run.stdout.ends_with("left\n"),
            "{what}: {}",
            run.stdout
        );
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: not one line:\n{}", run.stderr);
        assert!(
            lines[0].starts_with("vdso-run: ") && lines[0].contains("No space left on device"),
            "{what}: {}",
            lines[0]
        );
    }
}

/// Runs vdso-run (`mode`) under the shell limit `ulimit FLAG VALUE`, for
/// each value, and checks that each run either succeeds or is vdso-run's
/// own failure (one line, 125, nothing left behind, no panic). Values so
/// small that the dynamic loader cannot even start vdso-run (the loader's
/// message, 127) say nothing about vdso-run. Returns how many runs were
/// vdso-run's own failure.
fn under_limit(flag: &str, values: impl Iterator<Item = u32>, mode: &[&str]) -> usize {
    let mut failures = 0;
    for value in values {
        let script = format!(
            "ulimit {flag} {value} && exec {} -- true",
            vdso_run_line(mode)
        );
        let run = run(Command::new("sh")
            .args(["-c", &script])
            .env("VDSO_DIR", images_dir()));
        let what = format!("{mode:?} under ulimit {flag} {value}");
        if run.code() == Some(0) {
            continue;
        }
        if run.code() == Some(127) && run.stderr.contains("error while loading shared libraries") {
            continue;
        }
        assert_one_line_error(&what, &run, 125, &[]);
        // The front's pid is the shell's, which exec'd it.
        assert_no_leftover_file(run.pid);
        failures += 1;
    }
    failures
}

#[test]
fn too_little_address_space_is_one_line_and_125() {
    // From too little to load vdso-run at all to enough to run it: every
    // step of vdso-run's start-up fails somewhere in between.
    for mode in MODES {
        let failures = under_limit("-v", (4000..=14000).step_by(250), mode);
        assert!(
            failures > 0,
            "{mode:?}: no value of ulimit -v made vdso-run itself fail"
        );
    }
}

#[test]
fn too_few_descriptors_is_one_line_and_125() {
    for mode in MODES {
        let failures = under_limit("-n", 3..=16, mode);
        assert!(
            failures > 0,
            "{mode:?}: no value of ulimit -n made vdso-run itself fail"
        );
    }
}
