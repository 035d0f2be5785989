//! Broken images are refused, in one line and exit 125, never run and never
//! waited on (issue 13, defect 9). What came through before: a FIFO in the
//! image's place (vdso-run waited for a writer forever), a link to
//! /dev/zero (read until memory ran out), and images whose damage the old
//! checks did not look at but glibc does: a writable PT_DYNAMIC (glibc
//! relocates the table in place, in the read-only vDSO: SIGSEGV), a
//! PT_DYNAMIC whose address is not its offset (glibc reads the table at the
//! address, musl and Go at the offset), a DT_RELA without DT_RELASZ
//! (glibc's loader dereferences the missing DT_RELAENT), a GNU hash
//! `bloom_shift` of 200 (glibc's lookup fails and it falls back to the
//! host's clocks), a bloom filter of three words (glibc asserts a power of
//! two), and a version definition whose hash is not its name's (glibc and
//! Go match versions by hash). The loader now runs the build's verifier,
//! which reads the image as glibc, musl and Go each do.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::abi::{Abi, Arch};
use common::note::Variant;
use kernel_side::images;
use support::*;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Where the program header of type `kind` starts.
fn phdr(image: &[u8], kind: u32) -> usize {
    let (phoff, phnum) = (u64_at(image, 32) as usize, u16_at(image, 56) as usize);
    (0..phnum)
        .map(|i| phoff + i * 56)
        .find(|&at| u32_at(image, at) == kind)
        .unwrap_or_else(|| panic!("no program header of type {kind:#x}"))
}

/// Where the dynamic entry with `tag` starts.
fn dynamic_entry(image: &[u8], tag: u64) -> usize {
    let ph = phdr(image, 2); // PT_DYNAMIC
    let (at, len) = (
        u64_at(image, ph + 8) as usize,
        u64_at(image, ph + 32) as usize,
    );
    (at..at + len)
        .step_by(16)
        .find(|&e| u64_at(image, e) == tag)
        .unwrap_or_else(|| panic!("no dynamic tag {tag:#x}"))
}

fn dynamic_value(image: &[u8], tag: u64) -> usize {
    u64_at(image, dynamic_entry(image, tag) + 8) as usize
}

const DT_RELA: u64 = 7;
const DT_SYMBOLIC: u64 = 16;
const DT_GNU_HASH: u64 = 0x6fff_fef5;
const DT_VERDEF: u64 = 0x6fff_fffc;
const PF_W: u32 = 2;

/// A way to break an image's bytes, and what the refusal must say.
struct Damage {
    name: &'static str,
    apply: fn(&mut Vec<u8>),
    says: &'static str,
}

const DAMAGES: [Damage; 6] = [
    Damage {
        name: "a writable PT_DYNAMIC",
        apply: |b| {
            let at = phdr(b, 2) + 4;
            let flags = u32_at(b, at) | PF_W;
            b[at..at + 4].copy_from_slice(&flags.to_le_bytes());
        },
        says: "writable segment: program header 1 (PT_DYNAMIC) has PF_W",
    },
    Damage {
        name: "PT_DYNAMIC at an address that is not its offset",
        apply: |b| {
            let at = phdr(b, 2) + 16;
            let vaddr = u64_at(b, at) + 16;
            b[at..at + 8].copy_from_slice(&vaddr.to_le_bytes());
        },
        says: "glibc reads it at its address, musl and Go at its offset",
    },
    Damage {
        name: "DT_RELA without DT_RELASZ",
        apply: |b| {
            let at = dynamic_entry(b, DT_SYMBOLIC);
            b[at..at + 8].copy_from_slice(&DT_RELA.to_le_bytes());
        },
        says: "dynamic tag DT_RELA, which an image must not have",
    },
    Damage {
        name: "a GNU hash bloom shift of 200",
        apply: |b| {
            let at = dynamic_value(b, DT_GNU_HASH) + 12;
            b[at..at + 4].copy_from_slice(&200u32.to_le_bytes());
        },
        says: "bloom shift is 200",
    },
    Damage {
        name: "a GNU hash bloom filter of three words",
        apply: |b| {
            let at = dynamic_value(b, DT_GNU_HASH) + 8;
            b[at..at + 4].copy_from_slice(&3u32.to_le_bytes());
        },
        says: "glibc asserts a power of two",
    },
    Damage {
        name: "a version definition whose hash is not its name's",
        apply: |b| {
            // The second definition (LINUX_2.6; the first is the base).
            let first = dynamic_value(b, DT_VERDEF);
            let second = first + u32_at(b, first + 16) as usize;
            let hash = u32_at(b, second + 8) ^ 1;
            b[second + 8..second + 12].copy_from_slice(&hash.to_le_bytes());
        },
        says: "glibc and Go match versions by hash",
    },
];

/// A folder laid out as `cargo xtask build-vdso` writes it, every layout's
/// pair copied, then `change(folder of abi's pair, variant's file name)`.
fn images_with(case: &str, change: impl Fn(&Path, Abi, Variant)) -> PathBuf {
    let dir = tmp_dir().join("broken-images").join(case);
    let _ = std::fs::remove_dir_all(&dir);
    for abi in Abi::ALL {
        let folder = dir.join(images::layout_folder(Arch::HOST, abi));
        std::fs::create_dir_all(&folder).expect("mkdir");
        for variant in [Variant::Host, Variant::Timens] {
            let to = folder.join(images::file_name(variant));
            std::fs::write(&to, image_bytes_of(abi, variant == Variant::Timens)).expect("copy");
            change(&folder, abi, variant);
        }
    }
    dir
}

fn image_path(dir: &Path, abi: Abi, variant: Variant) -> PathBuf {
    dir.join(images::path(Arch::HOST, abi, variant))
}

/// vdso-run, in both modes, with and without offsets, on `dir`'s images:
/// one line saying `says`, exit 125, within a few seconds.
fn vdso_run_refuses(dir: &Path, says: &[&str]) {
    for mode in [&[][..], &["--as-vdso"][..]] {
        for offsets in [&[][..], &["--monotonic", "+1d"][..]] {
            let run = run_for(
                vdso_run()
                    .args(mode)
                    .args(offsets)
                    .arg("--images")
                    .arg(dir)
                    .args(["--", "true"]),
                Duration::from_secs(5),
            );
            let mut all = vec!["refusing image"];
            all.extend(says);
            assert_one_line_error(&format!("{mode:?} {offsets:?}"), &run, 125, &all);
        }
    }
}

#[test]
fn images_damaged_where_glibc_musl_or_go_read_are_refused() {
    for damage in DAMAGES {
        for abi in Abi::ALL {
            for variant in [Variant::Host, Variant::Timens] {
                let mut bytes = image_bytes_of(abi, variant == Variant::Timens);
                (damage.apply)(&mut bytes);
                let what = format!("{} ({abi} {})", damage.name, variant.name());
                let refused = kernel_side::Image::parse(bytes.clone())
                    .map(|_| ())
                    .expect_err(&format!("the loader accepts {what}"));
                assert!(
                    refused.to_string().contains(damage.says),
                    "{what}: the loader says {refused}, not {:?}",
                    damage.says
                );
            }
        }
        let dir = images_with(damage.name, |folder, _, variant| {
            let path = folder.join(images::file_name(variant));
            let mut bytes = std::fs::read(&path).expect("read");
            (damage.apply)(&mut bytes);
            std::fs::write(&path, bytes).expect("write");
        });
        vdso_run_refuses(&dir, &[damage.says]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_fifo_in_place_of_an_image_is_refused_not_waited_on() {
    let dir = images_with("fifo", |folder, _, variant| {
        let path = folder.join(images::file_name(variant));
        std::fs::remove_file(&path).expect("rm");
        let c = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("path");
        // SAFETY: a valid path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    });
    // In a thread of its own: a loader that opens the FIFO waits for a
    // writer that never comes, and the test must end anyway.
    let path = image_path(&dir, Abi::Linux6_6, Variant::Host);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(
            kernel_side::Image::load(&path)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        );
    });
    let loaded = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("Image::load of a FIFO is still waiting after 5 s");
    let err = loaded.expect_err("a FIFO loaded as an image");
    assert!(err.contains("is a FIFO, not a regular file"), "{err}");
    vdso_run_refuses(&dir, &["is a FIFO, not a regular file"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_link_to_dev_zero_in_place_of_an_image_is_refused_not_read() {
    let dir = images_with("dev-zero", |folder, _, variant| {
        let path = folder.join(images::file_name(variant));
        std::fs::remove_file(&path).expect("rm");
        std::os::unix::fs::symlink("/dev/zero", &path).expect("symlink");
    });
    vdso_run_refuses(&dir, &["is a character device, not a regular file"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_image_file_larger_than_any_image_is_read_no_further() {
    // A sparse file of 64 GiB: reading it all would take the memory, and
    // longer than the test waits.
    let dir = images_with("huge", |folder, _, variant| {
        let path = folder.join(images::file_name(variant));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_len(1 << 36).expect("set_len");
    });
    vdso_run_refuses(&dir, &["larger than any image"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_undamaged_images_load() {
    // What the damage tests start from is accepted: the refusals come from
    // the damage.
    for abi in Abi::ALL {
        for timens in [false, true] {
            kernel_side::Image::parse(image_bytes_of(abi, timens))
                .unwrap_or_else(|e| panic!("{abi} timens={timens}: {e}"));
        }
    }
    let dir = images_with("clean", |_, _, _| {});
    run(vdso_run().arg("--images").arg(&dir).args(["--", "true"])).expect_success();
    let _ = std::fs::remove_dir_all(&dir);
}
