//! The program's clock reads are served by the image, and --verbose counts
//! them per entry.

mod support;

use support::*;

#[test]
fn verbose_counts_every_call_per_entry() {
    let count = c_program("count");
    for image in [&[][..], &["--timens"][..]] {
        let run = run(vdso_run()
            .arg("--verbose")
            .args(image)
            .arg("--")
            .arg(&count))
        .expect_success();
        let served = run.counts("vdso-run: served by the image: ");
        let expected = [
            ("clock_gettime", 1000),
            ("gettimeofday", 10),
            ("time", 5),
            ("clock_getres", 3),
            ("getcpu", 2),
        ];
        for (entry, n) in expected {
            assert_eq!(
                served.get(entry),
                Some(&n),
                "{image:?} {entry}:\n{}",
                run.stderr
            );
        }
    }
}

#[test]
fn the_image_not_the_kernel_answers() {
    // Only the time-namespace image can add an offset; the count shows the
    // calls went to it, the value that it answered them.
    let before = host_ns(libc::CLOCK_MONOTONIC);
    let run = run(vdso_run()
        .args(["--verbose", "--monotonic", "+10d", "--"])
        .args([probe(), "clocks"]))
    .expect_success();
    let monotonic = parse_ns(&run.values()["monotonic"]);
    assert_near("monotonic", monotonic, before, TEN_DAYS, 0, NS);
    assert!(run.counts("vdso-run: served by the image: ")["clock_gettime"] >= 9);
}

#[test]
fn without_verbose_nothing_is_reported() {
    let run = run(vdso_run().args(["--", "true"])).expect_success();
    assert_eq!(run.stderr, "");
}
