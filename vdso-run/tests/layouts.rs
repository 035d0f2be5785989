//! Every data layout in both modes: vdso-run picks the running kernel's by
//! default, `--abi` picks another, `--verbose` names the one used, and the
//! namespace's clocks read right over each layout's pages.

mod support;

use common::abi::Abi;
use support::*;

const MODES: [(&str, &[&str]); 2] = [("default", &[]), ("--as-vdso", &["--as-vdso"])];

/// `monotonic NS` and `boottime NS` from a program, checked against the
/// host's clocks read around it with the offsets added.
fn assert_shifted(
    label: &str,
    run: &Run,
    mono: (i128, i128),
    boot: (i128, i128),
    offsets: (i128, i128),
) {
    let v = run.values();
    let read = |key: &str| {
        parse_ns(
            v.get(key)
                .unwrap_or_else(|| panic!("{label}: no {key}:\n{}\n{}", run.stdout, run.stderr)),
        )
    };
    assert_near(
        &format!("{label} CLOCK_MONOTONIC"),
        read("monotonic"),
        mono.0,
        offsets.0,
        0,
        mono.1 - mono.0,
    );
    assert_near(
        &format!("{label} CLOCK_BOOTTIME"),
        read("boottime"),
        boot.0,
        offsets.1,
        0,
        boot.1 - boot.0,
    );
}

/// Under each `--abi`, in each mode, with a positive MONOTONIC and a
/// negative BOOTTIME offset: the clocks read shifted, through that
/// layout's image (its bytes, with `--as-vdso`), and `--verbose` names it.
#[test]
fn each_layout_serves_the_namespace_in_each_mode() {
    let boot_offset = minus_half_uptime();
    for abi in Abi::ALL {
        for (mode, mode_args) in MODES {
            let label = format!("{abi} {mode}");
            let image = image_bytes_of(abi, true);
            let len = image.len().to_string();
            let program = c_program("asvdso");
            let commands: Vec<&str> = if mode == "default" {
                vec!["clocks"]
            } else {
                vec!["clocks", "image", &len]
            };
            let (mono0, boot0) = (
                host_ns(libc::CLOCK_MONOTONIC),
                host_ns(libc::CLOCK_BOOTTIME),
            );
            let run = run(vdso_run()
                .args(mode_args)
                .args(["--abi", abi.name(), "--verbose", "--monotonic", "+10d"])
                .args(["--boottime", &offset_arg(boot_offset), "--"])
                .arg(&program)
                .args(&commands))
            .expect_success();
            let (mono1, boot1) = (
                host_ns(libc::CLOCK_MONOTONIC),
                host_ns(libc::CLOCK_BOOTTIME),
            );
            assert_shifted(
                &label,
                &run,
                (mono0, mono1),
                (boot0, boot1),
                (TEN_DAYS, boot_offset),
            );
            assert_eq!(chosen_abi(&run), abi, "{label}: {}", run.stderr);
            assert!(
                run.stderr
                    .contains(&format!("vdso-run: layout {abi} (--abi)"))
                    && run.stderr.contains(&format!("/{abi}/vdso-timens.so"))
                    && run.stderr.contains(&format!("layout {abi})")),
                "{label}: {}",
                run.stderr
            );
            if mode != "default" {
                let got = unhex(&run.values()["image"]);
                assert!(
                    got == image,
                    "{label}: the vDSO is not {abi}'s vdso-timens.so"
                );
            }
        }
    }
}

/// Without `--abi`, the layout is the running kernel's, and `--verbose`
/// says so.
#[test]
fn the_default_layout_is_the_running_kernel_s() {
    let recognised = kernel_side::running::recognise().expect("the running kernel is recognised");
    for (mode, mode_args) in MODES {
        let run =
            run(vdso_run().args(mode_args).args(["--verbose", "--", "true"])).expect_success();
        let first = run.stderr.lines().next().unwrap_or_default();
        match recognised.layout.served() {
            Some(abi) => assert_eq!(
                first,
                format!(
                    "vdso-run: layout {abi} (the running kernel's, Linux {})",
                    recognised.release
                ),
                "{mode}"
            ),
            // 6.13 to 6.16: the served layout with as many data pages.
            None => assert!(
                first.starts_with("vdso-run: layout ") && first.contains("which no pair serves"),
                "{mode}: {first}"
            ),
        }
    }
}

/// A layout that does not exist: one line naming the layouts, exit 125.
#[test]
fn an_unknown_abi_is_refused_in_one_line() {
    for (mode, mode_args) in MODES {
        let run = run(vdso_run()
            .args(mode_args)
            .args(["--abi", "linux-6.13", "--", "true"]));
        assert_one_line_error(
            &format!("--abi linux-6.13 {mode}"),
            &run,
            125,
            &["linux-6.13", "linux-6.6, linux-6.12, linux-6.18"],
        );
    }
}
