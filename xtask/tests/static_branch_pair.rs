//! Design (d)'s namespace image is the compiled image with its static
//! branches taken, and nothing else: xtask's pair check accepts exactly
//! that and names every other difference.

use std::path::PathBuf;

use common::note::Variant;
use vdso_elf::patch::{NOP5, RDPID_RCX, RDTSCP_NOP, SiteKind};
use xshell::Shell;
use xtask::build_vdso::{self, Dirs};
use xtask::compile::ImageCrate;
use xtask::verify::{self, Expect};
use xtask::{patch, project_root};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds `vdso-static.so` (in the shared build dir, so only one test may
/// build: the checks below share one image).
fn compiled_static_image() -> Vec<u8> {
    let sh = Shell::new().expect("a shell");
    let out = TempDir(
        project_root()
            .join("target")
            .join(format!("static-branch-pair-{}", std::process::id())),
    );
    let dirs = Dirs {
        build: Dirs::standard().build,
        out: out.0.clone(),
    };
    let manifest = project_root().join("Cargo.toml");
    let krate = ImageCrate {
        manifest: &manifest,
        package: "vdso-static",
    };
    let file = kernel_side::images::file_name(Variant::Static);
    let path = build_vdso::build_image(
        &sh,
        krate,
        Variant::Static,
        &build_vdso::layout(build_vdso::ARCH, build_vdso::ABI),
        &entries(),
        &dirs,
        file,
        &[build_vdso::abi_cfg(build_vdso::ABI)],
    )
    .expect("building vdso-static.so")
    .path;
    std::fs::read(path).expect("reading it back")
}

#[test]
fn the_static_branch_pair_differs_only_where_patching_may_change_it() {
    let compiled = compiled_static_image();
    the_namespace_image_differs_from_the_compiled_one_only_at_its_sites_and_notes(&compiled);
    the_rdpid_alternative_leaves_a_verified_image(&compiled);
}

fn the_namespace_image_differs_from_the_compiled_one_only_at_its_sites_and_notes(compiled: &[u8]) {
    let compiled = compiled.to_vec();
    let patched =
        patch::patched(&compiled, SiteKind::TimensBranch, Variant::StaticTimens).expect("patching");
    assert_eq!(
        patch::check_pair(&compiled, &patched).unwrap(),
        Vec::<String>::new()
    );
    let report = verify::verify(
        &patched,
        Expect {
            entries: &entries(),
            variant: Variant::StaticTimens,
            arch: xtask::build_vdso::ARCH,
            abi: xtask::build_vdso::ABI,
        },
    );
    assert!(report.is_clean(), "{:?}", report.messages());
    let facts = verify::verify(
        &compiled,
        Expect {
            entries: &entries(),
            variant: Variant::Static,
            arch: xtask::build_vdso::ARCH,
            abi: xtask::build_vdso::ABI,
        },
    )
    .facts;
    assert!(verify::compare(&facts, &report.facts).is_empty());
    assert_ne!(facts.build_id, report.facts.build_id);

    let notes = patch::notes(&compiled).unwrap();
    let branch = *notes
        .sites
        .iter()
        .find(|s| s.kind == SiteKind::TimensBranch)
        .expect("a static-branch site");

    // One byte of code changed outside every site.
    let mut stray = patched.clone();
    stray[0x800] ^= 1;
    let broken = patch::check_pair(&compiled, &stray).unwrap();
    assert!(
        broken.iter().any(|b| b.contains("byte 0x800 differs")),
        "{broken:?}"
    );

    // A site patched into a jump somewhere else.
    let mut elsewhere = patched.clone();
    elsewhere[branch.at as usize + 1] ^= 1;
    let broken = patch::check_pair(&compiled, &elsewhere).unwrap();
    assert!(
        broken
            .iter()
            .any(|b| b.contains("is not a jmp to its label")),
        "{broken:?}"
    );

    // The build id left as the compiled image's.
    let mut stale = patched.clone();
    stale[notes.build_id.clone()].copy_from_slice(&compiled[notes.build_id.clone()]);
    let broken = patch::check_pair(&compiled, &stale).unwrap();
    assert!(broken.iter().any(|b| b.contains("build id")), "{broken:?}");

    // A site left unpatched.
    let mut half = patched.clone();
    half[branch.at as usize..branch.at as usize + 5].copy_from_slice(&NOP5);
    let broken = patch::check_pair(&compiled, &half).unwrap();
    assert!(
        broken.iter().any(|b| b.contains("is not a jmp")),
        "{broken:?}"
    );

    // Patching twice is refused: the sites no longer hold their NOPs.
    assert!(patch::patched(&patched, SiteKind::TimensBranch, Variant::StaticTimens).is_err());
}

fn the_rdpid_alternative_leaves_a_verified_image(compiled: &[u8]) {
    let with = patch::with_rdpid(compiled).expect("applying RDPID");
    let notes = patch::notes(compiled).unwrap();
    let site = notes
        .sites
        .iter()
        .find(|s| s.kind == SiteKind::Rdpid)
        .expect("an RDPID site");
    let at = site.at as usize;
    assert_eq!(compiled[at..at + 4], RDTSCP_NOP);
    assert_eq!(with[at..at + 4], RDPID_RCX);
    let differing = compiled.iter().zip(&with).filter(|(a, b)| a != b).count();
    assert!(differing <= 4);
    let report = verify::verify(
        &with,
        Expect {
            entries: &entries(),
            variant: Variant::Static,
            arch: xtask::build_vdso::ARCH,
            abi: xtask::build_vdso::ABI,
        },
    );
    assert!(report.is_clean(), "{:?}", report.messages());
}

fn entries() -> Vec<common::entries::Placed> {
    build_vdso::entries(build_vdso::ARCH, build_vdso::ABI)
}
