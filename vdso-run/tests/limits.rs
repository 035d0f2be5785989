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
    // small for the 28 KiB namespace file.
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
