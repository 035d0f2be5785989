//! A real client of `getrandom` under `--as-vdso`: the Go program of
//! `tests/go/getrandom` (Go 1.24+ reads `crypto/rand` through the vDSO's
//! getrandom) kills itself by seccomp on every getrandom system call but a
//! key fetch. With the image in the kernel's vDSO's place, it must run to
//! the end on each layout whose image has the entry, and be killed on the
//! `linux-6.6` image, which has none: so the bytes came from the image.

mod support;

#[path = "../../tests/go/getrandom/client.rs"]
mod go;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{run_for, vdso_run};

const LIMIT: Duration = Duration::from_secs(120);

fn client() -> PathBuf {
    go::client(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        "vdso-run",
    )
}

#[test]
fn the_go_client_reads_from_each_image_with_getrandom() {
    let client = client();
    for abi in ["linux-6.12", "linux-6.18"] {
        // getrandom has nothing to do with the namespace: with offsets and
        // without, the same.
        for offsets in [&[][..], &["--monotonic", "+1d", "--boottime", "-1s"][..]] {
            let run = run_for(
                vdso_run()
                    .args(["--as-vdso", "--abi", abi])
                    .args(offsets)
                    .arg("--")
                    .arg(&client),
                LIMIT,
            );
            assert!(
                run.status.success() && run.stdout.starts_with("ok:"),
                "the Go client under --as-vdso --abi {abi} {offsets:?} ended with {:?}\nstdout: {}\nstderr: {}",
                run.status,
                run.stdout,
                run.stderr
            );
        }
    }
}

#[test]
fn the_go_client_is_killed_on_the_image_without_getrandom() {
    let run = run_for(
        vdso_run()
            .args(["--as-vdso", "--abi", "linux-6.6", "--"])
            .arg(client()),
        LIMIT,
    );
    // vdso-run exits as a shell reports a signal: 128 + SIGSYS.
    assert_eq!(
        run.code(),
        Some(128 + libc::SIGSYS),
        "the Go client on the linux-6.6 image (no getrandom) was not killed by its filter\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
}
