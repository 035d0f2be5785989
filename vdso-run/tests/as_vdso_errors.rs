//! `--as-vdso` refuses what it cannot handle, with one line and exit 126,
//! before any of it runs: programs that would change identity at exec
//! (set-user-ID, set-group-ID, file capabilities) and 32-bit programs, as
//! PROGRAM and when a descendant execs them. And the tracer it is keeps
//! other tracers out.

mod support;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use support::*;

/// The one line and exit code of a program refused before it starts.
fn one_line_error(run: &Run, code: i32, says: &[&str]) {
    assert_one_line_error("--as-vdso", run, code, says);
}

/// A program owned by `uid`:`gid` with `mode`.
fn program_with(name: &str, uid: u32, gid: u32, mode: u32) -> PathBuf {
    let prog = cc_source(name, C_MAIN, &[]);
    chown(&prog, uid, gid);
    chmod(&prog, mode);
    prog
}

#[test]
fn a_set_user_id_or_set_group_id_program_is_refused() {
    let setuid = program_with("as-vdso-setuid", NOBODY, 0, 0o4755);
    let setgid = program_with("as-vdso-setgid", 0, NOBODY, 0o2755);
    // The kernel ignores set-user-ID on a script, not on its interpreter.
    let script = executable_file(
        "as-vdso-setuid-interp",
        format!("#!{}\n", setuid.display()).as_bytes(),
    );
    for (prog, says) in [
        (&setuid, "set-user-ID"),
        (&setgid, "set-group-ID"),
        (&script, "set-user-ID"),
    ] {
        // Refused before it starts: nothing is set up, no process created.
        let run = run(as_vdso().arg("--").arg(prog));
        one_line_error(&run, 126, &[says, "cannot run it --as-vdso"]);
    }
    // One that would not change identity (owned by us) runs.
    let ours = program_with("as-vdso-setuid-ours", 0, 0, 0o4755);
    run(as_vdso().arg("--").arg(&ours)).expect_success();
}

#[test]
fn a_32_bit_program_is_refused() {
    let prog = i386_program();
    // It does run on this kernel, natively.
    let native = run(&mut std::process::Command::new(&prog));
    assert_eq!(
        native.code(),
        Some(42),
        "the i386 program does not run here"
    );
    let run = run(as_vdso().arg("--").arg(&prog));
    one_line_error(
        &run,
        126,
        &["cannot run it --as-vdso", "not a 64-bit", "x86-64"],
    );
}

#[test]
fn a_program_with_file_capabilities_is_refused_to_a_user() {
    // vfs_cap_data revision 2: effective, permitted CAP_NET_RAW (13).
    // Run as nobody: everything from a folder nobody can read.
    let built = cc_source("as-vdso-caps", C_MAIN, &[]);
    let public = Public::new(&[&built]);
    let prog = public.path(&built);
    let mut cap = Vec::new();
    for v in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
        cap.extend_from_slice(&v.to_le_bytes());
    }
    let c = std::ffi::CString::new(prog.to_str().expect("utf-8")).expect("path");
    // SAFETY: a valid path, attribute name and buffer.
    let set = unsafe {
        libc::setxattr(
            c.as_ptr(),
            c"security.capability".as_ptr(),
            cap.as_ptr().cast(),
            cap.len(),
            0,
        )
    };
    assert_eq!(
        set,
        0,
        "setxattr: {} (the tests run as root here and in CI)",
        std::io::Error::last_os_error()
    );
    let run = run(public
        .vdso_run()
        .args(["--as-vdso", "--"])
        .arg(&prog)
        .uid(NOBODY)
        .gid(NOBODY));
    one_line_error(&run, 126, &["file capabilities"]);
    // Exec'd by a descendant: refused there too.
    let script = format!("{}; echo status $?", prog.display());
    let run = support::run(
        public
            .vdso_run()
            .args(["--as-vdso", "--verbose", "--", "sh", "-c", &script])
            .uid(NOBODY)
            .gid(NOBODY),
    )
    .expect_success();
    assert!(run.stdout.contains("status 126"), "{}", run.stdout);
    assert!(run.stderr.contains("file capabilities"), "{}", run.stderr);
}

#[test]
fn what_a_descendant_execs_is_refused_the_same_way() {
    let setuid = program_with("as-vdso-child-setuid", NOBODY, 0, 0o4755);
    let setgid = program_with("as-vdso-child-setgid", 0, NOBODY, 0o2755);
    let i386 = i386_program();
    for (prog, says) in [
        (&setuid, "set-user-ID"),
        (&setgid, "set-group-ID"),
        (&i386, "32-bit"),
    ] {
        // The shell sees its child exit 126, as for "cannot execute".
        let script = format!("{}; echo status $?", prog.display());
        let run =
            run(as_vdso().args(["--verbose", "--monotonic", "+1h", "--", "sh", "-c", &script]))
                .expect_success();
        assert!(run.stdout.contains("status 126"), "{}", run.stdout);
        let refusal = lines_starting(&run.stderr, "vdso-run: refusing to run");
        assert_eq!(refusal.len(), 1, "{}", run.stderr);
        assert!(refusal[0].contains(says), "{}", refusal[0]);
        assert!(run.stderr.contains("refused: 1"), "{}", run.stderr);
    }
}

#[test]
fn static_musl_and_go_programs_are_welcome() {
    // What the preload mode refuses, this mode runs.
    for p in four_programs() {
        run(as_vdso().arg("--").args(p.with(&["clocks"]))).expect_success();
    }
}

#[test]
fn no_other_tracer_can_attach() {
    // A debugger (here: vdso-run --as-vdso itself, nested) cannot attach to
    // a process vdso-run traces.
    let run = run(as_vdso().args([
        "--",
        env!("CARGO_BIN_EXE_vdso-run"),
        "--as-vdso",
        "--",
        "true",
    ]));
    one_line_error(
        &run,
        125,
        &["cannot trace", "PTRACE_SEIZE", "Operation not permitted"],
    );
    // And neither can this test process, by pid.
    let child = spawn(as_vdso().args(["--", "sleep", "2"]));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sleeper = descendant_named(child.id() as i32, "sleep");
    // SAFETY: a ptrace request with integer arguments.
    let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, sleeper, 0, 0) };
    let e = std::io::Error::last_os_error();
    assert_eq!(r, -1, "attached to a traced process");
    assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
    let run = finish("sleep 2", child, WATCHDOG);
    assert_eq!(run.code(), Some(0));
}

#[test]
fn a_program_s_own_seccomp_filter_keeps_its_meaning() {
    // The program's own filter asks a tracer to handle getppid: with none of
    // its own, the call fails with ENOSYS, with or without vdso-run; and
    // vdso-run's translation still works under both filters.
    for prog in asvdso_programs() {
        let plain = run(std::process::Command::new(&prog).arg("own-filter")).expect_success();
        assert!(
            plain
                .stdout
                .contains("own_filter -1 Function not implemented"),
            "{}",
            plain.stdout
        );
        let run = run(as_vdso()
            .args(["--monotonic", "+10d", "--"])
            .arg(&prog)
            .args(["own-filter", "sleep"]))
        .expect_success();
        assert_eq!(
            run.values()["own_filter"],
            plain.values()["own_filter"],
            "{}",
            prog.display()
        );
        let slept = run.ms("sleep_ms");
        assert!((100..=300).contains(&slept), "slept {slept} ms");
    }
}

#[test]
fn every_process_has_no_new_privs() {
    let run = run(as_vdso().args(["--", "sh", "-c", "grep NoNewPrivs /proc/self/status"]))
        .expect_success();
    assert!(run.stdout.contains("NoNewPrivs:\t1"), "{}", run.stdout);
}

#[test]
fn a_descendant_that_cannot_open_the_namespace_file_is_refused() {
    // In a mount namespace of its own, with an empty /dev/shm, the exec'd
    // program cannot open the namespace file by its path.
    let prog = musl_program("asvdso");
    let inner = format!(
        "mount -t tmpfs none /dev/shm && exec {} clocks",
        prog.display()
    );
    let script = format!("unshare -m sh -c '{inner}'; echo status $?");
    let run =
        run(as_vdso().args(["--monotonic", "+1d", "--", "sh", "-c", &script])).expect_success();
    assert!(
        run.stdout.contains("status 126") && !run.stdout.contains("monotonic"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains("refusing to run") && run.stderr.contains("namespace file"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_wait_that_cannot_be_translated_kills_its_process() {
    // As a user, vdso-run cannot read the memory of a process that made
    // itself non-dumpable: its absolute sleep is not left untranslated.
    let built = musl_program("asvdso");
    let public = Public::new(&[&built]);
    let run = run(public
        .vdso_run()
        .args(["--as-vdso", "--monotonic", "+10d", "--"])
        .arg(public.path(&built))
        .arg("undumpable")
        .uid(NOBODY)
        .gid(NOBODY));
    assert_eq!(run.code(), Some(128 + libc::SIGKILL), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cannot translate its clock_nanosleep deadline"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("sleep_ms"), "{}", run.stdout);
}

#[test]
fn a_set_user_id_program_on_a_nosuid_mount_runs() {
    // The kernel ignores the bit there, so nothing would be half-handled.
    let prog = program_with("as-vdso-nosuid", NOBODY, 0, 0o4755);
    let dir = tmp_dir().join("nosuid-mount");
    std::fs::create_dir_all(&dir).expect("dir");
    let script = format!(
        "mount -t tmpfs -o nosuid none {d} && cp -p {p} {d}/prog && {v} --as-vdso -- {d}/prog && echo ran",
        d = dir.display(),
        p = prog.display(),
        v = env!("CARGO_BIN_EXE_vdso-run")
    );
    let run = run(std::process::Command::new("unshare").args(["-m", "sh", "-c", &script]));
    assert!(
        run.status.success() && run.stdout.contains("ran"),
        "{:?}\n{}\n{}",
        run.status,
        run.stdout,
        run.stderr
    );
}

#[test]
fn a_program_s_own_user_notification_filter_cannot_take_translated_waits() {
    // Its filter's SECCOMP_RET_USER_NOTIF outranks vdso-run's stop: a
    // clock_nanosleep sent to the program's own supervisor would run with
    // its deadline untranslated. So with offsets such a filter is refused
    // (EPERM, one line), and the sleep is translated; one that takes only
    // calls vdso-run never translates, or one installed with no offsets,
    // is installed as asked.
    let prog = c_program("notif");
    let native = run(std::process::Command::new(&prog).arg("sleep")).expect_success();
    assert_eq!(native.values()["install"], "ok", "{}", native.stdout);
    let slept = |run: &Run, what: &str| {
        let ms = run.ms("sleep_ms");
        assert!((100..=300).contains(&ms), "{what}: slept {ms} ms");
    };
    for (label, offset) in wait_offsets() {
        let run = run_for(
            as_vdso()
                .args(["--monotonic", &offset, "--"])
                .arg(&prog)
                .arg("sleep"),
            std::time::Duration::from_secs(5),
        )
        .expect_success();
        assert_eq!(
            run.values()["install"],
            "Operation not permitted",
            "{label}: {}",
            run.stdout
        );
        slept(&run, label);
        let lines = lines_starting(&run.stderr, "vdso-run: ");
        assert_eq!(lines.len(), 1, "{label}: {}", run.stderr);
        assert!(
            lines[0].contains("SECCOMP_RET_USER_NOTIF") && lines[0].contains("clock_nanosleep"),
            "{}",
            lines[0]
        );
        let run = run_for(
            as_vdso()
                .args(["--monotonic", &offset, "--"])
                .arg(&prog)
                .arg("getppid"),
            std::time::Duration::from_secs(5),
        )
        .expect_success();
        assert_eq!(run.values()["install"], "ok", "{label}: {}", run.stdout);
        assert_eq!(run.values()["getppid"], "0", "{label}: {}", run.stdout);
        assert_eq!(run.stderr, "", "{label}");
    }
    let run = run(as_vdso().arg("--").arg(&prog).arg("sleep")).expect_success();
    assert_eq!(run.values()["install"], "ok", "{}", run.stdout);
    slept(&run, "no offsets");
}
