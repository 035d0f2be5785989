//! vdso-run's own errors, and programs it cannot run: one line each, with
//! the exit code the README documents (125 vdso-run, 126 cannot run, 127 not
//! found), and never a panic.

mod support;

use std::process::Command;

use support::*;

fn expect_error(args: &[&str], code: i32, says: &str) -> Run {
    let run = run(vdso_run().args(args));
    assert_one_line_error(&format!("{args:?}"), &run, code, &[says]);
    run
}

#[test]
fn bad_offsets() {
    for bad in ["10x", "+", "1h1h", "5s3", "1.5", "abc", "--", ""] {
        expect_error(&["--monotonic", bad, "--", "true"], 125, "");
        expect_error(&["--boottime", bad, "--", "true"], 125, "");
    }
    expect_error(
        &["--monotonic", "10x", "--", "true"],
        125,
        "bad OFFSET \"10x\": unknown unit",
    );
    expect_error(&["--monotonic"], 125, "--monotonic");
    expect_error(&["--bogus", "--", "true"], 125, "--bogus");
    expect_error(&[], 125, "PROGRAM");
}

#[test]
fn offsets_linux_refuses() {
    // A fresh machine has minutes of uptime: minus a day makes BOOTTIME negative.
    let minus = offset_arg(-(host_ns(libc::CLOCK_BOOTTIME) / NS + 86_400) * NS);
    expect_error(
        &["--boottime", &minus, "--", "true"],
        125,
        "would make the clock negative",
    );
    let minus = offset_arg(-(host_ns(libc::CLOCK_MONOTONIC) / NS + 86_400) * NS);
    expect_error(
        &["--monotonic", &minus, "--", "true"],
        125,
        "monotonic offset",
    );
    expect_error(
        &["--monotonic", "+999999999999d", "--", "true"],
        125,
        "Linux allows",
    );
}

#[test]
fn programs_not_found_or_not_runnable() {
    expect_error(&["--", "no-such-program-anywhere"], 127, "not found");
    expect_error(&["--", "/no/such/program"], 127, "no such file");
    let plain = tmp_dir().join("not-executable");
    std::fs::write(&plain, "echo hi\n").expect("write");
    chmod(&plain, 0o644);
    expect_error(
        &["--", plain.to_str().expect("utf-8")],
        126,
        "not executable",
    );
    expect_error(&["--", "/"], 126, "is a directory");
}

#[test]
fn missing_or_wrong_images() {
    expect_error(
        &["--images", "/no/such/dir", "--", "true"],
        125,
        "cannot find the host image",
    );
    expect_error(
        &["--timens", "--images", "/no/such/dir", "--", "true"],
        125,
        "vdso-timens.so",
    );
    let images = images_dir();
    let dir = tmp_dir().join("wrong-images");
    std::fs::create_dir_all(&dir).expect("dir");
    // The timens image under the host image's name: its note gives it away.
    std::fs::copy(images.join("vdso-timens.so"), dir.join("vdso.so")).expect("copy image");
    std::fs::copy(images.join("vdso.so"), dir.join("vdso-timens.so")).expect("copy image");
    let dir = dir.to_str().expect("utf-8");
    expect_error(
        &["--images", dir, "--", "true"],
        125,
        "this is the timens image, not the host image",
    );
    expect_error(
        &["--timens", "--images", dir, "--", "true"],
        125,
        "this is the host image, not the timens image",
    );
    // Another layout's host image: its ABI note gives it away.
    let other = tmp_dir().join("other-layout-images");
    std::fs::create_dir_all(&other).expect("dir");
    std::fs::copy(images.join("linux-6.12/vdso.so"), other.join("vdso.so")).expect("copy image");
    expect_error(
        &[
            "--abi",
            "linux-6.6",
            "--images",
            other.to_str().expect("utf-8"),
            "--",
            "true",
        ],
        125,
        "this image reads linux-6.12's data pages, not linux-6.6's",
    );
    let junk = tmp_dir().join("junk-images");
    std::fs::create_dir_all(&junk).expect("dir");
    std::fs::write(junk.join("vdso.so"), b"not an ELF file").expect("write");
    expect_error(
        &["--images", junk.to_str().expect("utf-8"), "--", "true"],
        125,
        "refusing image",
    );
}

#[test]
fn programs_the_preload_library_cannot_reach() {
    let static_prog = cc_source("static", C_MAIN, &["-static"]);
    let musl = cc_source(
        "musl",
        C_MAIN,
        &["-Wl,--dynamic-linker=/lib/ld-musl-x86_64.so.1"],
    );
    let go = cc_source(
        "go-like",
        "__attribute__((section(\".go.buildinfo\"), used)) static const char info[32] = \"\\xff Go buildinf:\";\n\
         int main(void) { return 0; }\n",
        &[],
    );
    let script = executable_file(
        "static-script",
        format!("#!{}\n", static_prog.display()).as_bytes(),
    );
    for (prog, why) in [
        (&static_prog, "statically linked"),
        (&musl, "ld-musl"),
        (&go, "Go program"),
        (&script, "statically linked"),
    ] {
        for mode in [&[][..], &["--monotonic", "+1h"][..]] {
            let mut args: Vec<&str> = mode.to_vec();
            args.extend(["--", prog.to_str().expect("utf-8")]);
            let run = expect_error(&args, 126, why);
            assert!(run.stderr.contains("--as-vdso"), "{}", run.stderr);
        }
    }
}

#[test]
fn a_descendant_the_library_cannot_reach_is_refused_in_a_namespace() {
    let static_prog = cc_source("static-child", C_MAIN, &["-static"]);
    let script = format!("{}; echo status $?", static_prog.display());
    let run = run(vdso_run().args(["--verbose", "--monotonic", "+1h", "--", "sh", "-c", &script]))
        .expect_success();
    assert!(run.stdout.contains("status 126"), "{}", run.stdout);
    assert!(
        run.stderr.contains("vdso-run: refusing to run"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("execs refused: 1"), "{}", run.stderr);
    // Without a namespace, nothing claims an offset: it runs.
    let run = support::run(vdso_run().args(["--", "sh", "-c", &script])).expect_success();
    assert!(run.stdout.contains("status 0"), "{}", run.stdout);
}

#[test]
fn set_user_id_programs_are_refused() {
    // The loader ignores LD_PRELOAD when a program changes the user id.
    let prog = cc_source("setuid", C_MAIN, &[]);
    // SAFETY: geteuid cannot fail.
    let owner = if unsafe { libc::geteuid() } == 65534 {
        0
    } else {
        65534
    };
    chown(&prog, owner, u32::MAX);
    chmod(&prog, 0o4755);
    let run = expect_error(&["--", prog.to_str().expect("utf-8")], 126, "set-user-ID");
    assert!(run.stderr.contains("--as-vdso"), "{}", run.stderr);
}

#[test]
fn a_32_bit_program_is_refused_saying_no_mode_serves_it() {
    // Neither the preload library nor --as-vdso can serve it (the images
    // are x86-64 code): the message must not send the user to --as-vdso.
    let prog = i386_program();
    let says = ["not a 64-bit", "in either mode"];
    for mode in [&[][..], &["--monotonic", "+1h"][..]] {
        let run = run(vdso_run().args(mode).arg("--").arg(&prog));
        assert_one_line_error(&format!("{mode:?}"), &run, 126, &says);
        assert!(!run.stderr.contains("instead"), "{}", run.stderr);
    }
    // Exec'd by a descendant in a namespace: refused the same way.
    let script = format!("{}; echo status $?", prog.display());
    let run =
        run(vdso_run().args(["--monotonic", "+1h", "--", "sh", "-c", &script])).expect_success();
    assert!(run.stdout.contains("status 126"), "{}", run.stdout);
    let refusal = lines_starting(&run.stderr, "vdso-run: refusing to run");
    assert_eq!(refusal.len(), 1, "{}", run.stderr);
    for s in says {
        assert!(refusal[0].contains(s), "{}", refusal[0]);
    }
    assert!(!refusal[0].contains("instead"), "{}", refusal[0]);
}

#[test]
fn a_missing_interpreter_is_not_found_in_either_mode() {
    // env(1) says 127 for a script whose #! interpreter does not exist.
    let script = executable_file("missing-interpreter", b"#!/nonexistent/interp\n");
    let env = run(Command::new("env").arg(&script));
    assert_eq!(env.code(), Some(127), "{}", env.stderr);
    for mut cmd in [vdso_run(), as_vdso()] {
        let run = run(cmd.arg("--").arg(&script));
        assert_one_line_error(
            &format!("{cmd:?}"),
            &run,
            127,
            &["/nonexistent/interp", "no such file or directory"],
        );
    }
}

#[test]
fn a_symlink_loop_is_called_one() {
    // env(1) says 126 and "Too many levels of symbolic links", whether the
    // loop is named or found on $PATH.
    let dir = tmp_dir().join("symlink-loop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (a, b) = (dir.join("loop-a"), dir.join("loop-b"));
    let _ = std::fs::remove_file(&a);
    let _ = std::fs::remove_file(&b);
    std::os::unix::fs::symlink(&b, &a).expect("symlink");
    std::os::unix::fs::symlink(&a, &b).expect("symlink");
    let env = run(Command::new("env").arg(&a));
    assert_eq!(env.code(), Some(126), "{}", env.stderr);
    assert!(
        env.stderr.contains("Too many levels of symbolic links"),
        "{}",
        env.stderr
    );
    for mut cmd in [vdso_run(), as_vdso()] {
        let run = run(cmd.arg("--").arg(&a));
        assert_one_line_error(
            &format!("{cmd:?}"),
            &run,
            126,
            &["loop-a", "Too many levels of symbolic links"],
        );
    }
    for mut cmd in [vdso_run(), as_vdso()] {
        let path = format!("{}:/usr/bin:/bin", dir.display());
        let run = run(cmd.env("PATH", path).args(["--", "loop-a"]));
        assert_one_line_error(
            &format!("{cmd:?} on $PATH"),
            &run,
            126,
            &["loop-a", "Too many levels of symbolic links"],
        );
    }
}
