//! `--as-vdso`: the image is the real vDSO of four kinds of program that
//! each find it their own way (musl's static start code, glibc's loader,
//! the Go runtime, Python through glibc), they read the namespace's clocks
//! through it, and they read what Linux's own time namespaces read.

mod support;

use support::*;

fn image_of(run: &Run, label: &str) -> Vec<u8> {
    let values = run.values();
    let hex = values
        .get("image")
        .unwrap_or_else(|| panic!("{label}: no image line:\n{}\n{}", run.stdout, run.stderr));
    unhex(hex)
}

/// The bytes a program reports for its vDSO are exactly `expected`'s, and
/// not the kernel's.
fn assert_image(run: &Run, label: &str, timens: bool) {
    let expected = image_bytes(timens);
    let got = image_of(run, label);
    let which = kernel_side::images::file_name(variant(timens));
    assert!(
        got == expected,
        "{label}: the vDSO it was given is not {which} (first bytes {:02x?})",
        &got[..16.min(got.len())]
    );
    let kernel = kernel_side::kernel_vdso::image().expect("the kernel maps a vDSO");
    assert!(
        kernel.get(..got.len()) != Some(&got[..]),
        "{label}: that is the kernel's vDSO"
    );
}

#[test]
fn with_monotonic_plus_ten_days_each_program_reads_the_namespace_through_the_timens_image() {
    for p in four_programs() {
        let len = image_bytes(true).len().to_string();
        let before = host_ns(libc::CLOCK_MONOTONIC);
        let run = run(as_vdso()
            .args(["--monotonic", "+10d", "--"])
            .args(p.with(&["clocks", "image", &len])))
        .expect_success();
        let after = host_ns(libc::CLOCK_MONOTONIC);
        let values = run.values();
        let mono = parse_ns(
            values
                .get("monotonic")
                .unwrap_or_else(|| panic!("{}: {}\n{}", p.name, run.stdout, run.stderr)),
        );
        assert_near(
            &format!("{} CLOCK_MONOTONIC", p.name),
            mono,
            before,
            TEN_DAYS,
            0,
            after - before,
        );
        // REALTIME is not shifted.
        let real = parse_ns(&values["realtime"]);
        assert_near(
            &format!("{} CLOCK_REALTIME", p.name),
            real,
            host_ns(libc::CLOCK_REALTIME),
            0,
            2 * NS,
            NS / 10,
        );
        assert_image(&run, p.name, true);
    }
}

/// How far the images may be from the kernel: the timekeeper's calibration
/// bound, plus its steering between ticks.
const BOUND_NS: i128 = kernel_side::timekeeper::CALIBRATION_BOUND.as_nanos() as i128 + 20_000;

#[test]
fn with_the_host_image_each_program_reads_the_kernel_s_clocks() {
    for p in four_programs() {
        let len = image_bytes(false).len().to_string();
        let run = run(as_vdso()
            .arg("--")
            .args(p.with(&["image", &len, "bracket"])))
        .expect_success();
        assert_image(&run, p.name, false);
        // Each line: the vDSO, the kernel's system call, the vDSO again.
        let mut n = 0;
        let mut worst = 0i128;
        for line in lines_starting(&run.stdout, "bracket_") {
            let f: Vec<i128> = line
                .split_whitespace()
                .skip(1)
                .map(|v| v.parse().expect("ns"))
                .collect();
            let (a, k, b) = (f[0], f[1], f[2]);
            worst = worst.max(a - k).max(k - b);
            assert!(
                a - BOUND_NS <= k && k <= b + BOUND_NS,
                "{}: {line}: the kernel's reading is outside the image's by more than {BOUND_NS} ns",
                p.name
            );
            n += 1;
        }
        assert!(n >= 40, "{}: {n} readings:\n{}", p.name, run.stdout);
        println!("{}: {n} readings, worst excess {worst} ns", p.name);
    }
}

#[test]
fn the_four_programs_read_what_a_linux_time_namespace_reads() {
    for p in four_programs() {
        beside_linux(as_vdso, &p.with(&["clocks"]), p.name);
    }
}

/// Where the layout fits the kernel's `[vvar]`...`[vdso]` range (on this
/// machine every layout does), the image takes the kernel's vDSO's place:
/// the program's auxiliary vector and `/proc/PID/auxv` name the same
/// address, the image is there, and `/proc/PID/maps` shows the namespace
/// file where the kernel's special mappings were, with none of their names.
#[test]
fn the_image_takes_the_kernel_s_vdso_s_place_and_proc_auxv_agrees() {
    let len = image_bytes(false).len().to_string();
    for prog in asvdso_programs() {
        let label = prog.display().to_string();
        let run = run(as_vdso()
            .args(["--verbose", "--"])
            .arg(&prog)
            .args(["auxv", "image", &len, "maps"]))
        .expect_success();
        let v = run.values();
        assert_image(&run, &label, false);
        assert_eq!(
            v["getauxval"], v["proc_auxv"],
            "{label}: /proc/self/auxv names another vDSO than the program's vector"
        );
        assert!(
            lines_starting(&run.stdout, "maps_kernel").is_empty(),
            "{label}: the kernel's mappings are still there:\n{}",
            run.stdout
        );
        // The image, mapped read and execute from the namespace file, at
        // B; the data pages, shared read-only from the same file, right
        // below it.
        let (image, data) = (&v["maps_image"], &v["maps_data"]);
        assert!(
            image.contains(" r-xp ")
                && image.contains("/vdso-run.")
                && image.starts_with(&v["getauxval"].to_string()),
            "{label}: {image}"
        );
        assert!(
            data.contains(" r--s ")
                && data.contains("/vdso-run.")
                && data.contains(&format!("-{} ", v["getauxval"])),
            "{label}: {data}"
        );
        assert!(
            run.stderr
                .contains("execs given the image: 1 (in place of the kernel's vDSO: 1)"),
            "{label}: {}",
            run.stderr
        );
    }
}

/// `--keep-kernel-vdso`: the image beside the kernel's vDSO, which stays
/// mapped; only the program's own vector names the image, and
/// `/proc/PID/auxv` the kernel's vDSO.
#[test]
fn with_keep_kernel_vdso_proc_auxv_still_shows_the_kernel_s_vdso() {
    let len = image_bytes(false).len().to_string();
    for prog in asvdso_programs() {
        let label = prog.display().to_string();
        let run = run(as_vdso()
            .args(["--keep-kernel-vdso", "--verbose", "--"])
            .arg(&prog)
            .args(["auxv", "image", &len, "maps"]))
        .expect_success();
        let v = run.values();
        // The auxiliary vector the program reads points at the image...
        assert_image(&run, &label, false);
        // ...and /proc/PID/auxv, the kernel's copy, at the kernel's vDSO.
        assert_ne!(
            v["getauxval"], v["proc_auxv"],
            "{label}: /proc/self/auxv shows the image"
        );
        // /proc/PID/maps: the kernel's vDSO is still there, unused; the
        // image r-xp right above the data pages (the namespace file,
        // shared read-only).
        assert!(
            lines_starting(&run.stdout, "maps_kernel")
                .iter()
                .any(|l| l.contains("[vdso]")),
            "{label}: {}",
            run.stdout
        );
        let image = &v["maps_image"];
        let data = &v["maps_data"];
        assert!(
            image.contains(" r-xp ") && image.starts_with(&v["getauxval"].to_string()),
            "{label}: {image}"
        );
        assert!(
            data.contains(" r--s ")
                && data.contains("/vdso-run.")
                && data.contains(&format!("-{} ", v["getauxval"])),
            "{label}: {data}"
        );
        assert!(
            run.stderr
                .contains("(--keep-kernel-vdso); it is mapped elsewhere")
                && run.stderr.contains("(in place of the kernel's vDSO: 0)"),
            "{label}: {}",
            run.stderr
        );
    }
}

/// A Go program that finds its vDSO through `/proc/self/auxv` (as
/// golang.org/x/sys does) gets the image the runtime found on its stack:
/// the same bytes, with the vdso-rs note, and they are the image's.
#[test]
fn a_go_program_reading_proc_self_auxv_finds_the_image() {
    let expected = image_bytes(true);
    let len = expected.len().to_string();
    let run = run(as_vdso()
        .args(["--monotonic", "+10d", "--"])
        .arg(go_program())
        .args(["auxv", &len]))
    .expect_success();
    let v = run.values();
    assert_eq!(
        v.get("auxv_same_bytes").map(String::as_str),
        Some("true"),
        "the runtime's vDSO and /proc/self/auxv's differ:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(v["runtime_vdso"], v["proc_auxv"], "{}", run.stdout);
    assert_eq!(v["proc_auxv_vdso_rs_note"], "true", "{}", run.stdout);
    assert!(
        unhex(&v["proc_auxv_image"]) == expected,
        "/proc/self/auxv's vDSO is not vdso-timens.so"
    );
}

/// The kernel's random generator data goes with its `[vvar]`; the image's
/// pages carry the kernel's `generation` and `is_ready`, mirrored at every
/// tick (`linux-6.18`, whose rng page replaces the kernel's here). A kernel
/// whose vDSO has no getrandom has none to mirror: the pages then say "not
/// ready", so that a getrandom would ask the kernel.
#[test]
fn the_image_s_rng_data_is_the_kernel_s() {
    let abi = common::abi::Abi::Linux6_18;
    let info = common::layout::LayoutInfo::of(common::abi::Arch::HOST, abi);
    let (slot, at) = info.rng.expect("linux-6.18 has rng data");
    let offset = (info.offset(slot) + at as isize).to_string();
    let kernel = kernel_side::running::kernel_rng();
    let kernel_now = || kernel.map_or((0, false), |k| (k.generation(), k.is_ready()));
    for attempt in 0.. {
        let before = kernel_now();
        let run = run(as_vdso()
            .args(["--abi", abi.name(), "--"])
            .arg(c_program("asvdso"))
            .args(["rng", &offset]))
        .expect_success();
        let v = run.values();
        let got = (
            v["rng_generation"].parse::<u64>().unwrap(),
            v["rng_is_ready"] == "1",
        );
        // A reseed between the two reads moves the kernel's generation:
        // read again.
        if got == before || attempt == 3 {
            assert_eq!(got, before, "the image's rng data is not the kernel's");
            break;
        }
    }
}
