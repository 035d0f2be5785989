//! Hostile input: valid images damaged at random (bytes flipped or set to
//! extremes, the file cut short, one part copied over another) and fed to
//! the kernel side's loader (`Image::parse`, what a kernel runs before mapping
//! an image) and to xtask's verifier. Neither may crash or hang; each says
//! Ok or gives an error that explains itself.
//!
//! Compiled for the test build only: the verifier is a dev-dependency. The
//! structures to damage are found with `object` directly, not through
//! `vdso-elf`, the reader under test: a blind spot of that reader must not
//! also hide the bytes it would misread.

use std::panic::catch_unwind;

use kernel_side::Image;
use object::LittleEndian as LE;
use object::elf::{self, FileHeader64};
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use xtask::verify::{Expect, verify};

use crate::check::Verdict;
use crate::register;
use crate::target::Target;

/// Cases per image: enough to reach every table of a 4-8 KiB file many
/// times over, few enough for a second or two.
const CASES: u32 = 2_000;
/// A fixed seed: a failure found once is found again on every run (a
/// different seed through `PROPTEST_RNG_SEED` explores further).
const SEED: u64 = 0x5eed_0f7d_5eed;

/// One way to damage a file.
#[derive(Clone, Debug)]
enum Damage {
    /// XOR one byte with a nonzero mask.
    Flip { at: usize, mask: u8 },
    /// Overwrite 1, 2, 4 or 8 bytes with all zeros or all ones: offsets,
    /// counts and sizes at their extremes.
    Extreme { at: usize, width: usize, ones: bool },
    /// Cut the file at `len`.
    Truncate { len: usize },
    /// Copy `len` bytes from `from` over `to`.
    Splice { from: usize, to: usize, len: usize },
}

/// Where the structures a loader trusts begin: the ELF header, each
/// program header, each dynamic entry, and every table the dynamic section
/// points at (the images are linked at address 0, so addresses are offsets).
fn structures(image: &[u8]) -> Result<Vec<usize>, String> {
    let header = FileHeader64::<LE>::parse(image).map_err(|e| format!("ELF header: {e}"))?;
    let phdrs = header
        .program_headers(LE, image)
        .map_err(|e| format!("program headers: {e}"))?;
    let mut at = vec![0, header.e_phoff.get(LE) as usize];
    for p in phdrs {
        at.push(p.p_offset(LE) as usize);
        let Some(dynamic) = p
            .dynamic(LE, image)
            .map_err(|e| format!("PT_DYNAMIC: {e}"))?
        else {
            continue;
        };
        for (i, d) in dynamic.iter().enumerate() {
            at.push(p.p_offset(LE) as usize + i * size_of_val(d));
            if [
                elf::DT_HASH,
                elf::DT_GNU_HASH,
                elf::DT_SYMTAB,
                elf::DT_STRTAB,
                elf::DT_VERSYM,
                elf::DT_VERDEF,
            ]
            .contains(&d.tag(LE))
            {
                at.push(d.val(LE) as usize);
            }
        }
    }
    Ok(at)
}

/// Positions: near the start of a structure half the time (that is where a
/// parser can be misled), in the first 2 KiB (headers and tables) a
/// quarter, anywhere the rest.
fn position(structures: Vec<usize>) -> impl Strategy<Value = usize> {
    prop_oneof![
        2 => (proptest::sample::select(structures), 0usize..64).prop_map(|(s, d)| s + d),
        1 => 0usize..0x800,
        1 => 0usize..usize::MAX,
    ]
}

fn damage(structures: Vec<usize>) -> impl Strategy<Value = Damage> {
    let at = move || position(structures.clone());
    prop_oneof![
        (at(), 1u8..=255).prop_map(|(at, mask)| Damage::Flip { at, mask }),
        (
            at(),
            prop_oneof![Just(1), Just(2), Just(4), Just(8)],
            any::<bool>()
        )
            .prop_map(|(at, width, ones)| Damage::Extreme { at, width, ones }),
        at().prop_map(|len| Damage::Truncate { len }),
        (at(), at(), 1usize..256).prop_map(|(from, to, len)| Damage::Splice { from, to, len }),
    ]
}

fn apply(bytes: &mut Vec<u8>, damage: &Damage) {
    let len = bytes.len();
    if len == 0 {
        return;
    }
    match *damage {
        Damage::Flip { at, mask } => bytes[at % len] ^= mask,
        Damage::Extreme { at, width, ones } => {
            let at = at % len;
            let end = (at + width).min(len);
            bytes[at..end].fill(if ones { 0xff } else { 0 });
        }
        Damage::Truncate { len: cut } => bytes.truncate(cut % len),
        Damage::Splice { from, to, len: n } => {
            let (from, to) = (from % len, to % len);
            let n = n.min(len - from).min(len - to);
            bytes.copy_within(from..from + n, to);
        }
    }
}

register!(damaged_images_are_refused_with_a_reason, HostileInput, needs: [ImageFile], budget: 120);
/// The undamaged image loads and verifies clean; every damaged one gives
/// the loader and the verifier no crash and no hang, only Ok or an error
/// with a message, and most damage is noticed.
fn damaged_images_are_refused_with_a_reason(target: Target) -> Verdict {
    let variant = target.variant().ok_or("not an image")?;
    let abi = target.abi().ok_or("not an image")?;
    let arch = target.arch().ok_or("not an image")?;
    let original = target.image()?.bytes().to_vec();
    let expect = Expect {
        entries: &xtask::build_vdso::entries(arch, abi),
        variant,
        arch,
        abi,
    };
    let clean = verify(&original, expect);
    if !clean.is_clean() {
        return Err(format!(
            "the undamaged image does not verify: {:?}",
            clean.messages()
        ));
    }
    let structures = structures(&original)?;
    let defaults = Config::default();
    let rng_seed = match defaults.rng_seed {
        RngSeed::Random => RngSeed::Fixed(SEED),
        chosen => chosen,
    };
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        rng_seed,
        ..defaults
    });
    let refused = std::cell::Cell::new(0u32);
    let result = runner.run(
        &proptest::collection::vec(damage(structures), 1..4),
        |damages| {
            let mut bytes = original.clone();
            for d in &damages {
                apply(&mut bytes, d);
            }
            let parsed = catch_unwind(|| Image::parse_for(bytes.clone(), arch)).map_err(|p| {
                TestCaseError::fail(format!("Image::parse_for panicked: {}", panic_text(&*p)))
            })?;
            if let Err(e) = &parsed {
                prop_assert!(
                    !e.to_string().is_empty(),
                    "Image::parse: an empty error ({e:?})"
                );
            }
            let report = catch_unwind(|| verify(&bytes, expect)).map_err(|p| {
                TestCaseError::fail(format!("verify panicked: {}", panic_text(&*p)))
            })?;
            for message in report.messages() {
                prop_assert!(
                    !message.is_empty(),
                    "verify: an empty violation in {:?}",
                    report.violations
                );
            }
            if parsed.is_err() || !report.is_clean() {
                refused.set(refused.get() + 1);
            }
            Ok::<(), TestCaseError>(())
        },
    );
    result.map_err(|e| match e {
        TestError::Fail(why, damages) => {
            format!("{why}\nafter this damage (the smallest found): {damages:#?}")
        }
        TestError::Abort(why) => format!("proptest gave up: {why}"),
    })?;
    // Damage that goes unnoticed is damage to padding; if most does, the
    // mutations are not reaching the file.
    let refused = refused.get();
    if refused < CASES / 2 {
        return Err(format!(
            "only {refused} of {CASES} damaged images were refused by either the loader or the verifier"
        ));
    }
    Ok(())
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
