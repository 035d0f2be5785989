//! A checkout in a private folder (mode 0700, as `mktemp -d` makes it and
//! many home folders are): the tests that run vdso-run as another user
//! still work there, because they run copies placed in a folder every user
//! can enter ([`support::Public`]). This shows both halves from a private
//! folder of its own, without a second clone.

mod support;

use std::process::Command;

use std::os::unix::process::CommandExt;

use common::abi::{Abi, Arch};
use common::note::Variant;
use kernel_side::images;
use support::{NOBODY, Public, chmod, images_dir, run, tmp_dir};

#[test]
fn another_user_runs_the_public_copies_of_a_private_build() {
    let private = tmp_dir().join("private-checkout");
    std::fs::create_dir_all(private.join("vdso")).expect("mkdir");
    chmod(&private, 0o700);
    // What a private checkout's target/ holds for these tests.
    let built = std::path::Path::new(env!("CARGO_BIN_EXE_vdso-run"))
        .parent()
        .expect("target/debug")
        .to_path_buf();
    let copy = |from: &std::path::Path, to: &str| {
        std::fs::copy(from, private.join(to)).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    };
    copy(&built.join("vdso-run"), "vdso-run");
    let preload = [
        built.join("libvdso_run_preload.so"),
        built.join("deps/libvdso_run_preload.so"),
    ]
    .into_iter()
    .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
    .max()
    .map(|(_, p)| p)
    .expect("the preload library beside vdso-run");
    copy(&preload, "libvdso_run_preload.so");
    for abi in Abi::ALL {
        let folder = images::layout_folder(Arch::HOST, abi);
        std::fs::create_dir_all(private.join("vdso").join(&folder)).expect("mkdir");
        for variant in [Variant::Host, Variant::Timens] {
            let image = images::path(Arch::HOST, abi, variant);
            copy(
                &images_dir().join(&image),
                &format!("vdso/{}", image.display()),
            );
        }
    }

    // Straight from the private folder, another user cannot even start it:
    // what these tests met before they ran copies.
    let direct = Command::new(private.join("vdso-run"))
        .args(["--", "true"])
        .uid(NOBODY)
        .gid(NOBODY)
        .status();
    assert!(
        matches!(&direct, Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied),
        "another user ran vdso-run from a 0700 folder: {direct:?}"
    );

    // Copied as those tests copy it, it runs for that user, in both modes.
    let public = Public::from_build(&private, &private.join("vdso"), &[]);
    for mode in [&[][..], &["--as-vdso"][..]] {
        run(public
            .vdso_run()
            .args(mode)
            .args(["--monotonic", "86400", "--", "true"])
            .uid(NOBODY)
            .gid(NOBODY))
        .expect_success();
    }
}
