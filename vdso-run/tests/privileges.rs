//! Programs that would gain privileges at exec (set-user-ID or
//! set-group-ID to another identity, file capabilities for a user other
//! than root), in both modes. The kernel runs them in secure-execution
//! mode, where the dynamic loader ignores `LD_PRELOAD`, and under
//! `--as-vdso` they would run without their privileges: both modes refuse
//! them with exit 126 and the same words, as PROGRAM and when a descendant
//! execs them. On a `nosuid` mount, where the kernel ignores all of it,
//! both modes run them on the namespace's clocks.

mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use support::*;

/// Prints `secure` (AT_SECURE, as the kernel set it) and `monotonic`.
const READER: &str = r#"#include <stdio.h>
#include <sys/auxv.h>
#include <time.h>
int main(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    printf("secure %lu\nmonotonic %lld.%09ld\n", getauxval(AT_SECURE),
           (long long)t.tv_sec, t.tv_nsec);
    return 0;
}
"#;

/// Each mode's options.
const MODES: [&[&str]; 2] = [&[], &["--as-vdso"]];

/// What both modes' refusals end with: from "neither mode" to the end.
fn neither_mode(line: &str) -> &str {
    let at = line
        .find("neither mode of vdso-run can give it the namespace")
        .unwrap_or_else(|| panic!("no \"neither mode\" in {line:?}"));
    let tail = &line[at..];
    // The --as-vdso tracer's refusal of a descendant adds the exit status.
    tail.strip_suffix("; it exits with 126").unwrap_or(tail)
}

/// `setcap CAPS PATH` (libcap2-bin, which `.ci/run` installs).
fn setcap(caps: &str, path: &Path) {
    let status = Command::new("setcap")
        .arg(caps)
        .arg(path)
        .status()
        .expect("cannot run setcap (Debian's libcap2-bin, which .ci/run installs)");
    assert!(status.success(), "setcap {caps} {}", path.display());
}

/// The reader ran in the namespace: not secure, CLOCK_MONOTONIC ten days
/// ahead of the host's (read after it ended).
fn read_ten_days_ahead(what: &str, run: &Run) {
    let host = host_ns(libc::CLOCK_MONOTONIC);
    assert_eq!(run.values()["secure"], "0", "{what}: {}", run.stdout);
    let read = parse_ns(&run.values()["monotonic"]);
    assert_near(what, read, host, TEN_DAYS, 5 * NS, 0);
}

/// One refusal line on stderr, of a descendant; the shell saw 126.
fn descendant_refused<'a>(what: &str, run: &'a Run, says: &str) -> &'a str {
    assert!(
        run.stdout.contains("status 126"),
        "{what}: {}\n{}",
        run.stdout,
        run.stderr
    );
    let lines = lines_starting(&run.stderr, "vdso-run: refusing to run");
    assert_eq!(lines.len(), 1, "{what}: {}", run.stderr);
    assert!(lines[0].contains(says), "{what}: {}", lines[0]);
    lines[0]
}

#[test]
fn a_program_with_file_capabilities_is_refused_to_a_user_in_both_modes() {
    // A ping-like program (cap_net_raw+ep), run by nobody: everything from
    // a folder nobody can read.
    let built = cc_source("caps-reader", READER, &[]);
    let public = Public::new(&[&built]);
    let prog = public.path(&built);
    setcap("cap_net_raw+ep", &prog);
    let native = run(Command::new(&prog).uid(NOBODY).gid(NOBODY)).expect_success();
    assert_eq!(
        native.values()["secure"],
        "1",
        "the kernel does not run it in secure-execution mode: {}",
        native.stdout
    );
    let says = [
        "file capabilities",
        "neither mode of vdso-run",
        "run vdso-run as root",
    ];
    let mut tails = Vec::new();
    for mode in MODES {
        for offsets in [&[][..], &["--monotonic", "+10d"][..]] {
            let what = format!("{mode:?} {offsets:?}");
            let run = run(public
                .vdso_run()
                .args(mode)
                .args(offsets)
                .arg("--")
                .arg(&prog)
                .uid(NOBODY)
                .gid(NOBODY));
            assert_one_line_error(&what, &run, 126, &says);
            tails.push(neither_mode(&run.stderr).trim_end().to_string());
        }
        // Exec'd by a descendant: refused there, with the same words.
        let script = format!("{}; echo status $?", prog.display());
        let what = format!("{mode:?}, exec'd by a descendant");
        let run = support::run(
            public
                .vdso_run()
                .args(mode)
                .args(["--monotonic", "+10d", "--", "sh", "-c", &script])
                .uid(NOBODY)
                .gid(NOBODY),
        )
        .expect_success();
        let line = descendant_refused(&what, &run, "file capabilities");
        tails.push(neither_mode(line).to_string());
    }
    tails.dedup();
    assert_eq!(tails.len(), 1, "the modes say different things: {tails:#?}");
    // Root gains nothing from them: both modes run it, in the namespace.
    for mode in MODES {
        let run = run(vdso_run()
            .args(mode)
            .args(["--monotonic", "+10d", "--"])
            .arg(&prog))
        .expect_success();
        read_ten_days_ahead(&format!("{mode:?} as root"), &run);
    }
}

/// A copy of the reader owned by root with `mode`, where nobody can reach
/// it.
fn set_user_id_reader(name: &str, mode: u32) -> (Public, std::path::PathBuf) {
    let built = cc_source(name, READER, &[]);
    let public = Public::new(&[&built]);
    let prog = public.path(&built);
    chown(&prog, 0, 0);
    chmod(&prog, mode);
    (public, prog)
}

const SET_USER_ID_ROOT: [&str; 2] = ["it is set-user-ID (owner uid 0)", "run vdso-run as uid 0"];

/// Refused as PROGRAM, run by nobody, in `mode`: what the line ends with.
fn refused_as_program(public: &Public, prog: &Path, mode: &[&str]) -> String {
    let run = run(public
        .vdso_run()
        .args(mode)
        .arg("--")
        .arg(prog)
        .uid(NOBODY)
        .gid(NOBODY));
    assert_one_line_error(&format!("{mode:?}"), &run, 126, &SET_USER_ID_ROOT);
    neither_mode(&run.stderr).trim_end().to_string()
}

/// `PROG; echo status $?` in a namespace, run by nobody, in `mode`.
fn exec_from_a_descendant(public: &Public, prog: &Path, mode: &[&str]) -> Run {
    let script = format!("{}; echo status $?", prog.display());
    run(public
        .vdso_run()
        .args(mode)
        .args(["--monotonic", "+1h", "--", "sh", "-c", &script])
        .uid(NOBODY)
        .gid(NOBODY))
    .expect_success()
}

#[test]
fn a_set_user_id_program_is_refused_with_the_same_words_in_both_modes() {
    // Owned by root, set-user-ID, run by nobody.
    let (public, prog) = set_user_id_reader("setuid-reader", 0o4755);
    let mut tails = Vec::new();
    for mode in MODES {
        tails.push(refused_as_program(&public, &prog, mode));
        let run = exec_from_a_descendant(&public, &prog, mode);
        let what = format!("{mode:?}, exec'd by a descendant");
        let line = descendant_refused(&what, &run, SET_USER_ID_ROOT[0]);
        tails.push(neither_mode(line).to_string());
    }
    tails.dedup();
    assert_eq!(tails.len(), 1, "the modes say different things: {tails:#?}");
}

#[test]
fn an_execute_only_set_user_id_program_is_judged_by_its_metadata() {
    // Mode 4711: nobody may exec it, not read it. Both modes refuse it as
    // PROGRAM, and the preload library when a descendant execs it, with
    // the same words. Under --as-vdso, the kernel keeps a tracer that is
    // not root out of a process running a file its user may not read: the
    // tracer cannot tell what it gained, nor make it exit with 126, and
    // says so as it kills it.
    let (public, prog) = set_user_id_reader("setuid-xonly-reader", 0o4711);
    let mut tails = Vec::new();
    for mode in MODES {
        tails.push(refused_as_program(&public, &prog, mode));
    }
    let run = exec_from_a_descendant(&public, &prog, &[]);
    let line = descendant_refused("exec'd by a descendant", &run, SET_USER_ID_ROOT[0]);
    tails.push(neither_mode(line).to_string());
    tails.dedup();
    assert_eq!(tails.len(), 1, "the modes say different things: {tails:#?}");
    let run = exec_from_a_descendant(&public, &prog, &["--as-vdso"]);
    assert!(
        run.stdout.contains("status 137"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let lines = lines_starting(&run.stderr, "vdso-run: refusing to run");
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    for says in ["may not read the file it runs", "it is killed"] {
        assert!(lines[0].contains(says), "{}", lines[0]);
    }
}

#[test]
fn a_set_user_id_program_on_a_nosuid_mount_runs_in_both_modes() {
    // The kernel ignores set-user-ID there: it runs as the caller, not in
    // secure-execution mode, so both modes can give it the namespace, as
    // PROGRAM and exec'd by a descendant.
    let prog = cc_source("nosuid-reader", READER, &[]);
    chown(&prog, NOBODY, NOBODY);
    chmod(&prog, 0o4755);
    let dir = tmp_dir().join("privileges-nosuid");
    std::fs::create_dir_all(&dir).expect("dir");
    let copy = dir.join("prog");
    let vdso_run = env!("CARGO_BIN_EXE_vdso-run");
    for mode in MODES {
        for descendant in [false, true] {
            let what = format!("{mode:?}, descendant {descendant}");
            let command = if descendant {
                format!("sh -c {}", copy.display())
            } else {
                copy.display().to_string()
            };
            // A mount namespace of its own: the mount goes with it.
            let script = format!(
                "mount -t tmpfs -o nosuid none {d} && cp -p {p} {c} && {v} {m} --monotonic +10d -- {command}",
                d = dir.display(),
                p = prog.display(),
                c = copy.display(),
                v = vdso_run,
                m = mode.join(" "),
            );
            let run = run(Command::new("unshare").args(["-m", "sh", "-c", &script]));
            assert!(
                run.status.success() && run.stderr.is_empty(),
                "{what}: {:?}\n{}\n{}",
                run.status,
                run.stdout,
                run.stderr
            );
            read_ten_days_ahead(&what, &run);
        }
    }
}
