//! Programs that take every descriptor their limit allows (tests/c/nofile.c)
//! get what `unshare --time` gives them, in both modes: vdso-run takes what
//! it needs before they run, or lends itself one descriptor for the length
//! of one call, and never one of theirs. Where that cannot be done it says
//! so in one line rather than run anything on the host's clocks.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

/// Each mode's options.
const MODES: [&[&str]; 2] = [&[], &["--as-vdso"]];

/// The limit the programs lower theirs to.
const LIMIT: &str = "16";

/// `tests/c/nofile.c`, static: what a program out of descriptors can still
/// exec (a dynamic one's loader needs descriptors of its own).
fn static_nofile() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/nofile.c");
            let out = tmp_dir().join("nofile-static");
            cc(&src, &out, &["-static"]);
            out
        })
        .clone()
}

/// CLOCK_MONOTONIC as the run printed it is the host's plus `offset`.
fn monotonic_is_host_plus(what: &str, run: &Run, offset: i128) {
    let host = host_ns(libc::CLOCK_MONOTONIC);
    let read = parse_ns(&run.values()["monotonic"]);
    assert_near(what, read, host, offset, 5 * NS, 0);
}

/// `command` with its stderr the same open file as its stdout (as a
/// terminal's are), through the shell's `2>&1`.
fn stderr_to_stdout(command: &Command) -> Command {
    let mut sh = Command::new("sh");
    sh.args(["-c", "exec \"$@\" 2>&1", "sh"])
        .arg(command.get_program())
        .args(command.get_args());
    sh
}

#[test]
fn a_program_out_of_descriptors_reads_its_clocks_in_both_modes() {
    // It lowers both limits (as `ulimit -n` does), opens files until
    // EMFILE, then reads CLOCK_MONOTONIC for the first time.
    let prog = c_program("nofile");
    let args = ["both", LIMIT, "read"];
    let plain = run(Command::new(&prog).args(args)).expect_success();
    for mode in MODES {
        for (offsets, offset) in [(&[][..], 0), (&["--monotonic", "+10d"][..], TEN_DAYS)] {
            let what = format!("{mode:?} {offsets:?}");
            let run = run(vdso_run()
                .args(mode)
                .args(offsets)
                .arg("--")
                .arg(&prog)
                .args(args))
            .expect_success();
            assert_eq!(run.stderr, "", "{what}");
            // vdso-run held none of its descriptors.
            assert_eq!(
                run.values()["opened"],
                plain.values()["opened"],
                "{what}: {}",
                run.stdout
            );
            monotonic_is_host_plus(&what, &run, offset);
        }
    }
}

#[test]
fn a_static_program_exec_d_out_of_descriptors_gets_the_namespace_under_as_vdso() {
    // The exec stop's set-up opens the namespace file in the new program.
    // With only the soft limit lowered, vdso-run raises it by one for the
    // set-up; with both lowered (which takes CAP_SYS_RESOURCE to undo), it
    // borrows one of two descriptors that share an open file, here stdout
    // and stderr, and makes it again. The program finds its descriptors as
    // it finds them without vdso-run: as many, none close-on-exec, 1 and 2
    // still one open file, the same limits.
    let prog = c_program("nofile");
    let target = static_nofile();
    let descriptors = ["open", "cloexec", "shared12", "limit"];
    for (limits, shared) in [("soft", false), ("both", true)] {
        let args = |cmd: &mut Command| {
            cmd.args([limits, LIMIT, "exec"]).arg(&target);
        };
        let mut plain = Command::new(&prog);
        args(&mut plain);
        let mut plain = if shared {
            stderr_to_stdout(&plain)
        } else {
            plain
        };
        let plain = run(&mut plain).expect_success();
        for (offsets, offset) in [(&[][..], 0), (&["--monotonic", "+10d"][..], TEN_DAYS)] {
            let what = format!("{limits}, stderr shared {shared}, {offsets:?}");
            let mut cmd = as_vdso();
            cmd.args(offsets).arg("--").arg(&prog);
            args(&mut cmd);
            let mut cmd = if shared { stderr_to_stdout(&cmd) } else { cmd };
            let run = run(&mut cmd).expect_success();
            assert!(
                !run.stdout.contains("vdso-run:") && run.stderr.is_empty(),
                "{what}: {}\n{}",
                run.stdout,
                run.stderr
            );
            for key in descriptors {
                assert_eq!(
                    run.values().get(key),
                    plain.values().get(key),
                    "{what}: {key}: {}",
                    run.stdout
                );
            }
            monotonic_is_host_plus(&what, &run, offset);
        }
    }
    // Both limits lowered and no two descriptors sharing an open file:
    // nothing to borrow, and one line saying so.
    let run = run(as_vdso()
        .args(["--monotonic", "+10d", "--"])
        .arg(&prog)
        .args(["both", LIMIT, "exec"])
        .arg(&target));
    assert_eq!(run.code(), Some(126), "{}", run.stderr);
    assert!(!run.stdout.contains("monotonic"), "{}", run.stdout);
    let lines = lines_starting(&run.stderr, "vdso-run: ");
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    for says in [
        "refusing to run",
        "every descriptor its limit allows",
        "it exits with 126",
    ] {
        assert!(lines[0].contains(says), "{}", lines[0]);
    }
}

#[test]
fn a_program_out_of_descriptors_cannot_exec_a_static_program_unseen_in_the_default_mode() {
    // In a namespace the library inspects what a descendant execs, which
    // takes a descriptor: with only the soft limit lowered it raises it
    // by one for that, and refuses the static program as such; with both
    // lowered it cannot look, and refuses it for that, failing the exec
    // with EMFILE. Either way the static program never runs on the host's
    // clocks. Without offsets nothing claims an offset, and it runs.
    let prog = c_program("nofile");
    let target = static_nofile();
    for (limits, says, errno) in [
        ("soft", "statically linked", "Operation not permitted"),
        (
            "both",
            "every descriptor the hard limit allows is taken",
            "Too many open files",
        ),
    ] {
        let run = run(vdso_run()
            .args(["--monotonic", "+10d", "--"])
            .arg(&prog)
            .args([limits, LIMIT, "exec"])
            .arg(&target))
        .expect_success();
        assert_eq!(
            run.values().get("exec"),
            Some(&errno.to_string()),
            "{limits}: {}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("monotonic"),
            "{limits}: {}",
            run.stdout
        );
        let lines = lines_starting(&run.stderr, "vdso-run: refusing to run");
        assert_eq!(lines.len(), 1, "{limits}: {}", run.stderr);
        assert!(lines[0].contains(says), "{limits}: {}", lines[0]);
        let run = support::run(
            vdso_run()
                .arg("--")
                .arg(&prog)
                .args([limits, LIMIT, "exec"])
                .arg(&target),
        )
        .expect_success();
        assert!(run.stdout.contains("monotonic"), "{limits}: {}", run.stdout);
    }
}

#[test]
fn an_absolute_timerfd_setting_out_of_descriptors_is_translated_or_refused() {
    // The preload library learns a timerfd's clock from
    // /proc/self/fdinfo, which takes a descriptor: with only the soft
    // limit lowered it lends itself one and the setting is translated
    // (200 ms, not ten days); with both lowered the call fails with EMFILE
    // and one line, never an untranslated expiry. --as-vdso reads fdinfo
    // from the tracer and needs none in the program.
    let prog = c_program("nofile");
    let ten_days = ["--monotonic", "+10d", "--"];
    let waited = |what: &str, run: &Run| {
        assert_eq!(run.values()["settime"], "ok", "{what}: {}", run.stdout);
        let ms = run.ms("waited_ms");
        assert!((150..=400).contains(&ms), "{what}: waited {ms} ms");
    };
    let run = run(vdso_run()
        .args(ten_days)
        .arg(&prog)
        .args(["soft", LIMIT, "timerfd"]))
    .expect_success();
    waited("default, soft", &run);
    let run = support::run(
        vdso_run()
            .args(ten_days)
            .arg(&prog)
            .args(["both", LIMIT, "timerfd"]),
    )
    .expect_success();
    assert_eq!(
        run.values()["settime"],
        "Too many open files",
        "{}",
        run.stdout
    );
    let lines = lines_starting(&run.stderr, "vdso-run: ");
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].contains("timerfd_settime") && lines[0].contains("untranslated"),
        "{}",
        lines[0]
    );
    for limits in ["soft", "both"] {
        let run = support::run(
            as_vdso()
                .args(ten_days)
                .arg(&prog)
                .args([limits, LIMIT, "timerfd"]),
        )
        .expect_success();
        waited(&format!("--as-vdso, {limits}"), &run);
    }
}
