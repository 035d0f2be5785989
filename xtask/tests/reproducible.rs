//! Building the images twice from the same source, in different places,
//! gives the same bytes: a kernel can pin an image by its hash or build id,
//! and anyone can check a shipped image against the source.

use std::path::{Path, PathBuf};

use common::abi::Arch;
use kernel_side::images;
use xshell::Shell;
use xtask::build_vdso::{self, Built, Dirs};
use xtask::project_root;

/// A fresh directory under `target/`, removed again when dropped, unless
/// the test is failing: then the differing images are left to inspect.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_nanos();
        let path = project_root()
            .join("target")
            .join(format!("reproducible-{}-{nanos}-{tag}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("keeping {} for inspection", self.0.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("could not remove {}: {e}", self.0.display());
        }
    }
}

/// Builds both images of `arch`'s first layout from scratch (own build
/// dir, nothing cached).
fn build(root: &Path, arch: Arch) -> Vec<Built> {
    let sh = Shell::new().expect("creating an xshell Shell");
    let dirs = Dirs {
        build: root.join("build"),
        out: root.join("out"),
    };
    build_vdso::build_pair(&sh, &dirs, arch, arch.abis()[0], &[])
        .unwrap_or_else(|e| panic!("building the {arch} images in {}: {e:#}", root.display()))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every architecture built (`images::built_arches`), x86_64 first.
#[test]
fn two_builds_in_different_directories_are_byte_identical() {
    for arch in images::built_arches() {
        two_builds_agree(arch);
    }
}

fn two_builds_agree(arch: Arch) {
    let (a, b) = (TempDir::new("a"), TempDir::new("b"));
    // The two directories differ in name, so a path that leaks into an image
    // (a build dir, a target dir) makes the builds differ. They build one
    // after the other: in parallel they would compete for the same cores
    // and gain little.
    let (first, second) = (build(&a.0, arch), build(&b.0, arch));
    assert_eq!(
        first.len(),
        2,
        "build_pair built {} images, not 2",
        first.len()
    );
    assert_eq!(second.len(), first.len());
    for (x, y) in first.iter().zip(&second) {
        assert_eq!(x.spec.file(), y.spec.file());
        let file = x.spec.file();
        let (bx, by) = (read(&x.path), read(&y.path));
        assert!(
            bx == by,
            "{arch} {file} differs between {} and {} ({} and {} bytes)",
            x.path.display(),
            y.path.display(),
            bx.len(),
            by.len()
        );
        let id = x
            .facts
            .build_id
            .as_ref()
            .unwrap_or_else(|| panic!("{file} has no build id"));
        assert!(!id.is_empty(), "{file} has an empty build id");
        assert_eq!(
            x.facts.build_id, y.facts.build_id,
            "{file} has different build ids in the two builds"
        );
    }
    // The variants really differ, so identical builds are not a sign that
    // one image was written twice.
    assert_ne!(
        first[0].facts.build_id, first[1].facts.build_id,
        "the {arch} host and timens images have the same build id"
    );
}
