//! The verifier (and the slot check before linking) refuses every kind of
//! broken image, and says exactly what is wrong. The broken images are real:
//! the fixture crate `xtask/fixtures/flawed-vdso` is compiled with one
//! `--cfg flaw="..."` at a time through `compile::staticlib` and linked with
//! `link::link`, so each test exercises the same code paths a broken image
//! crate would. A few cheap cases (not an ELF file, wrong machine) patch or
//! invent bytes instead, since no toolchain here produces them.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use common::entries::{Placed, Slot};
use common::note::Variant;
use xshell::Shell;
use xtask::build_vdso::{self, Dirs};
use xtask::compile::{self, ImageCrate};
use xtask::verify::{self, Expect, Report};
use xtask::{link, project_root, scripts};

const FIXTURE_PACKAGE: &str = "flawed-vdso";

/// The fixture's `outgrown_slot` flaw makes `__vdso_time` exactly this long.
const OUTGROWN_TIME_SIZE: u64 = 0x50;
/// What the fixture's `panic` flaw (a bounds-checked index) is reported as.
const BOUNDS_CHECK_PANIC: &str =
    "panic site: the image links core::panicking::panic_bounds_check, so some code path can panic";

/// Archives already built in this run, by flaw, so tests sharing a flaw
/// share one copy.
static ARCHIVES: Mutex<BTreeMap<&'static str, PathBuf>> = Mutex::new(BTreeMap::new());
static THREADS: Mutex<()> = Mutex::new(());

/// Sole use of the fixture target dir, held for a whole test. Cargo uplifts
/// every build of the fixture to one archive path whatever its cfgs, and the
/// tests reuse fixed paths below it, so two tests (in this process, or in a
/// second `cargo test` run at the same time) must not interleave. Every
/// test is quick once the fixture is built, so running them one at a time
/// costs little.
struct Exclusive {
    _threads: MutexGuard<'static, ()>,
    _processes: File,
}

fn exclusive() -> Exclusive {
    // A test that failed while holding the lock left nothing half-done that
    // the next one would trip over (cargo rebuilds as needed, case dirs are
    // emptied), so a poisoned lock is still good.
    let threads = THREADS.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = fixture_target();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let path = dir.join("tests.lock");
    let file = File::create(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    file.lock()
        .unwrap_or_else(|e| panic!("locking {}: {e}", path.display()));
    Exclusive {
        _threads: threads,
        _processes: file,
    }
}

fn fixture_target() -> PathBuf {
    project_root().join("target").join("fixture-build")
}

fn fixture_manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/flawed-vdso/Cargo.toml")
}

fn fixture_crate(manifest: &Path) -> ImageCrate<'_> {
    ImageCrate {
        manifest,
        package: FIXTURE_PACKAGE,
    }
}

fn cfgs(flaw: Option<&str>) -> Vec<String> {
    flaw.map(|f| format!("flaw=\"{f}\"")).into_iter().collect()
}

fn shell() -> Shell {
    Shell::new().expect("creating an xshell Shell")
}

/// A directory of this test's own under the fixture target dir, emptied.
fn case_dir(case: &str) -> PathBuf {
    let dir = fixture_target().join("cases").join(case);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("removing {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// The fixture compiled with `flaw` (or clean), as the image crates are.
/// Call with the fixture dir held (`exclusive`).
fn archive(flaw: Option<&'static str>) -> PathBuf {
    let name = flaw.unwrap_or("clean");
    let mut archives = ARCHIVES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = archives.get(name) {
        return path.clone();
    }
    let manifest = fixture_manifest();
    let built = compile::staticlib(
        &shell(),
        fixture_crate(&manifest),
        &fixture_target(),
        &cfgs(flaw),
    )
    .unwrap_or_else(|e| panic!("compiling the fixture with flaw {name}: {e:#}"));
    let dir = fixture_target().join("archives");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let copy = dir.join(format!("{name}.a"));
    std::fs::copy(&built, &copy)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", built.display(), copy.display()));
    archives.insert(name, copy.clone());
    copy
}

/// An image linked the project's way, before and after stripping.
struct Linked {
    /// The unstripped link, which `build_image` verifies first.
    dbg: PathBuf,
    /// The stripped file, as an image is shipped.
    image: PathBuf,
}

/// Links the fixture with `flaw` against `entries` with the project's linker
/// and version scripts (`link::link`), then strips it (`link::strip`).
fn link_fixture(case: &str, flaw: Option<&'static str>, entries: &[Placed]) -> Linked {
    let archive = archive(flaw);
    let dir = case_dir(case);
    let sh = shell();
    let dbg = dir.join("image.dbg.so");
    link::link(&sh, &archive, entries, &layout(), &dbg)
        .unwrap_or_else(|e| panic!("linking {}: {e:#}", dbg.display()));
    let image = dir.join("image.so");
    link::strip(&sh, &dbg, &image).unwrap_or_else(|e| panic!("stripping {}: {e:#}", dbg.display()));
    Linked { dbg, image }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn verify_file(path: &Path, variant: Variant, entries: &[Placed]) -> Report {
    verify::verify(
        &read(path),
        Expect {
            entries,
            variant,
            abi: xtask::build_vdso::ABI,
        },
    )
}

fn verify_host(path: &Path) -> Report {
    verify_file(path, Variant::Host, &entries())
}

fn listing(messages: &[String]) -> String {
    if messages.is_empty() {
        "  (nothing)".into()
    } else {
        messages
            .iter()
            .map(|m| format!("  {m}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The report has each of `expected`, word for word (the flaw may drag in
/// other violations too, e.g. a relocation comes with its dynamic tags).
#[track_caller]
fn assert_reports(report: &Report, expected: &[&str]) {
    let messages = report.messages();
    let missing: Vec<String> = expected
        .iter()
        .filter(|e| !messages.iter().any(|m| m == *e))
        .map(ToString::to_string)
        .collect();
    assert!(
        missing.is_empty(),
        "the verifier did not report\n{}\nit reported\n{}",
        listing(&missing),
        listing(&messages)
    );
}

/// The report is exactly `expected`: the flaw breaks that rule and no other.
#[track_caller]
fn assert_reports_only(report: &Report, expected: &[&str]) {
    let messages = report.messages();
    assert_eq!(
        messages,
        expected,
        "the verifier reported\n{}\nexpected exactly\n{}",
        listing(&messages),
        listing(&expected.iter().map(ToString::to_string).collect::<Vec<_>>())
    );
}

/// The layout the fixture is linked for.
fn layout() -> common::layout::LayoutInfo {
    build_vdso::layout(build_vdso::ABI)
}

/// The table's entries as the images place them.
fn entries() -> Vec<Placed> {
    build_vdso::entries(build_vdso::ABI)
}

fn entry(symbol: &str) -> Placed {
    entries()
        .into_iter()
        .find(|e| e.symbol == symbol)
        .unwrap_or_else(|| panic!("{symbol} is not in the table of entries"))
}

/// ENTRIES with `__vdso_time` and `__vdso_getcpu` in each other's slots (both
/// 0x40 bytes), kept in slot order as the linker script needs: a valid
/// layout, but not the pinned one.
fn swapped_time_and_getcpu() -> Vec<Placed> {
    let (time, getcpu) = (entry("__vdso_time").slot, entry("__vdso_getcpu").slot);
    assert_eq!(
        time.size, getcpu.size,
        "the test swaps time and getcpu, which needs slots of one size"
    );
    let mut entries: Vec<Placed> = entries()
        .into_iter()
        .map(|e| match e.symbol {
            "__vdso_time" => Placed { slot: getcpu, ..e },
            "__vdso_getcpu" => Placed { slot: time, ..e },
            _ => e,
        })
        .collect();
    entries.sort_by_key(|e| e.slot.offset);
    entries
}

#[test]
fn verifier_accepts_the_clean_fixture() {
    let _fixture = exclusive();
    // Every other test here relies on this: without a flaw the fixture is a
    // valid image, so what the verifier reports there comes from the flaw.
    let linked = link_fixture("clean", None, &entries());
    assert_reports_only(&verify_host(&linked.dbg), &[]);
    assert_reports_only(&verify_host(&linked.image), &[]);
}

#[test]
fn verifier_names_a_dynamic_relocation() {
    let _fixture = exclusive();
    let linked = link_fixture("relocation", Some("relocation"), &entries());
    assert_reports(
        &verify_host(&linked.image),
        &[
            "1 dynamic relocation(s) in .rela.dyn; an image must need none",
            "dynamic tag DT_RELA, which an image must not have",
        ],
    );
}

/// Links the clean fixture with the same ld flags as link::link, but with
/// `script` (the project's linker script, edited) in place of the one
/// link::link always generates. `extra` are further ld arguments.
fn link_clean_fixture_with_script(case: &str, script: &str, extra: &[&str]) -> PathBuf {
    let archive = archive(None);
    let out = case_dir(case).join("image.so");
    link::link_with_script(&shell(), &archive, &entries(), script, extra, &out)
        .unwrap_or_else(|e| panic!("linking {}: {e:#}", out.display()));
    out
}

/// The project's linker script with `from` replaced by `to`, which must occur.
fn edited_linker_script(from: &str, to: &str) -> String {
    let script = scripts::linker_script(&entries(), &layout());
    assert!(
        script.contains(from),
        "the linker script no longer contains `{from}`; update this test"
    );
    script.replace(from, to)
}

#[test]
fn verifier_names_a_writable_segment() {
    let _fixture = exclusive();
    // The project's linker script cannot produce a writable segment: make
    // its one PT_LOAD RWX (and silence ld's warning about exactly that).
    let script = edited_linker_script(
        "text PT_LOAD FILEHDR PHDRS FLAGS(5);",
        "text PT_LOAD FILEHDR PHDRS FLAGS(7);",
    );
    let out =
        link_clean_fixture_with_script("writable_segment", &script, &["--no-warn-rwx-segments"]);
    assert_reports_only(
        &verify_host(&out),
        &[
            "PT_LOAD flags 0x7; they must be R+X (0x5)",
            "writable segment: program header 0 (PT_LOAD) has PF_W",
        ],
    );
}

#[test]
fn verifier_names_a_gnu_stack_segment() {
    let _fixture = exclusive();
    // A read-only PT_GNU_STACK is not writable, so only the segment rule
    // itself can catch it.
    let anchor = "eh_frame_hdr PT_GNU_EH_FRAME FLAGS(4);";
    let script = edited_linker_script(anchor, &format!("{anchor}\n\tstack PT_GNU_STACK FLAGS(4);"));
    let out = link_clean_fixture_with_script("gnu_stack", &script, &[]);
    assert_reports_only(
        &verify_host(&out),
        &["a PT_GNU_STACK segment, which an image must not have"],
    );
}

#[test]
fn verifier_names_a_missing_symbol() {
    let _fixture = exclusive();
    // Linking with a list that lacks getcpu leaves it unexported (the
    // version script makes everything else local), as if an image crate
    // forgot to define it.
    let without_getcpu: Vec<Placed> = entries()
        .into_iter()
        .filter(|e| e.symbol != "__vdso_getcpu")
        .collect();
    let linked = link_fixture("missing_symbol", None, &without_getcpu);
    assert_reports(
        &verify_host(&linked.image),
        &[
            "missing exported symbol __vdso_getcpu",
            "missing exported symbol getcpu",
        ],
    );
}

#[test]
fn verifier_names_an_entry_not_at_its_slot() {
    let _fixture = exclusive();
    let linked = link_fixture("entry_off_slot", None, &swapped_time_and_getcpu());
    let (time, getcpu) = (entry("__vdso_time").slot, entry("__vdso_getcpu").slot);
    let (t, g) = (time.offset, getcpu.offset);
    assert_reports_only(
        &verify_host(&linked.image),
        &[
            &format!("symbol __vdso_time is at {g:#x}; its slot is at {t:#x}"),
            &format!("symbol time is at {g:#x}; its slot is at {t:#x}"),
            &format!("symbol __vdso_getcpu is at {t:#x}; its slot is at {g:#x}"),
            &format!("symbol getcpu is at {t:#x}; its slot is at {g:#x}"),
        ],
    );
}

#[test]
fn compare_names_offsets_that_differ_between_images() {
    let _fixture = exclusive();
    let pinned = link_fixture("offsets_pinned", None, &entries());
    let swapped_entries = swapped_time_and_getcpu();
    let swapped = link_fixture("offsets_swapped", None, &swapped_entries);
    // Each image is valid against the list it was linked with: only the
    // comparison can tell they do not agree.
    let host = verify_file(&pinned.image, Variant::Host, &entries());
    let timens = verify_file(&swapped.image, Variant::Host, &swapped_entries);
    assert_reports_only(&host, &[]);
    assert_reports_only(&timens, &[]);
    let (t, g) = (
        entry("__vdso_time").slot.offset,
        entry("__vdso_getcpu").slot.offset,
    );
    let differ: Vec<String> = verify::compare(&host.facts, &timens.facts)
        .iter()
        .map(ToString::to_string)
        .collect();
    // In the order of the export names.
    let expected = [
        format!(
            "symbol __vdso_getcpu is at {g:#x} in the host image but at {t:#x} in the timens image"
        ),
        format!(
            "symbol __vdso_time is at {t:#x} in the host image but at {g:#x} in the timens image"
        ),
        format!("symbol getcpu is at {g:#x} in the host image but at {t:#x} in the timens image"),
        format!("symbol time is at {t:#x} in the host image but at {g:#x} in the timens image"),
    ];
    assert_eq!(
        differ,
        expected,
        "verify::compare reported\n{}",
        listing(&differ)
    );
}

#[test]
fn verifier_names_an_oversized_file() {
    let _fixture = exclusive();
    let linked = link_fixture("oversized", Some("oversized"), &entries());
    let size = read(&linked.image).len();
    assert_reports_only(
        &verify_host(&linked.image),
        &[&format!(
            "the file is {size} bytes; an image may take at most {}",
            verify::MAX_IMAGE_SIZE
        )],
    );
}

#[test]
fn verifier_names_a_panic_site() {
    let _fixture = exclusive();
    let linked = link_fixture("panic_site", Some("panic"), &entries());
    assert_reports(&verify_host(&linked.dbg), &[BOUNDS_CHECK_PANIC]);
}

#[test]
fn pipeline_refuses_a_panic_site_and_writes_no_image() {
    let _fixture = exclusive();
    // Only the unstripped link's symbol table names the panic machinery
    // (stripped, this fixture passes), so build_image must check it first.
    let out = case_dir("panic_pipeline");
    let manifest = fixture_manifest();
    let dirs = Dirs {
        build: fixture_target(),
        out: out.clone(),
    };
    let result = build_vdso::build_image(
        &shell(),
        fixture_crate(&manifest),
        Variant::Host,
        &layout(),
        &entries(),
        &dirs,
        "panic-pipeline.so",
        &cfgs(Some("panic")),
    );
    let err = result.expect_err("build_image accepted an image with a panic site");
    let text = err.to_string();
    let dbg = fixture_target().join("panic-pipeline.dbg.so");
    assert!(
        text.starts_with(&format!("{} fails verification:\n", dbg.display())),
        "build_image did not blame the unstripped link:\n{text}"
    );
    assert!(
        text.lines().any(|l| l == format!("  {BOUNDS_CHECK_PANIC}")),
        "build_image did not name the panic site:\n{text}"
    );
    assert!(
        !out.join("panic-pipeline.so").exists(),
        "build_image wrote an image that failed verification"
    );
}

#[test]
fn pipeline_refuses_an_entry_that_outgrows_its_slot() {
    let _fixture = exclusive();
    let slot = entry("__vdso_time").slot;
    assert!(
        slot.size < OUTGROWN_TIME_SIZE,
        "the fixture's oversized __vdso_time ({OUTGROWN_TIME_SIZE:#x} bytes) now fits its slot ({:#x}); enlarge it",
        slot.size
    );
    let out = case_dir("outgrown_slot");
    let manifest = fixture_manifest();
    let dirs = Dirs {
        build: fixture_target(),
        out: out.clone(),
    };
    let result = build_vdso::build_image(
        &shell(),
        fixture_crate(&manifest),
        Variant::Host,
        &layout(),
        &entries(),
        &dirs,
        "outgrown-slot.so",
        &cfgs(Some("outgrown_slot")),
    );
    let err = result.expect_err("build_image accepted an entry larger than its slot");
    assert_eq!(
        err.to_string(),
        format!(
            "entry __vdso_time is {OUTGROWN_TIME_SIZE:#x} bytes but its slot holds {:#x} ({:#x}..{:#x})",
            slot.size,
            slot.offset,
            slot.end()
        )
    );
    assert!(
        !out.join("outgrown-slot.so").exists(),
        "build_image wrote an image whose entry outgrew its slot"
    );
}

#[test]
fn verifier_names_a_symbol_larger_than_its_slot() {
    let _fixture = exclusive();
    // The slot check stops such an entry before linking (see above); the
    // verifier must catch it too, for an image linked with roomier slots.
    let grow = 0x40;
    let time = entry("__vdso_time").slot;
    let roomy: Vec<Placed> = entries()
        .iter()
        .map(|e| {
            let slot = if e.symbol == "__vdso_time" {
                Slot {
                    size: e.slot.size + grow,
                    ..e.slot
                }
            } else if e.slot.offset > time.offset {
                Slot {
                    offset: e.slot.offset + grow,
                    ..e.slot
                }
            } else {
                e.slot
            };
            Placed { slot, ..*e }
        })
        .collect();
    let linked = link_fixture("symbol_outgrows_slot", Some("outgrown_slot"), &roomy);
    let slot = time.size;
    assert_reports(
        &verify_host(&linked.image),
        &[
            &format!(
                "symbol __vdso_time is {OUTGROWN_TIME_SIZE:#x} bytes; its slot holds {slot:#x}"
            ),
            &format!("symbol time is {OUTGROWN_TIME_SIZE:#x} bytes; its slot holds {slot:#x}"),
        ],
    );
}

#[test]
fn verifier_refuses_a_file_that_is_not_elf() {
    // Longer than an ELF header, so the parser gets as far as the ident bytes.
    let script =
        b"#!/bin/sh\n# a shell script, long enough to be mistaken for an ELF header\nexit 0\n";
    let report = verify::verify(
        script,
        Expect {
            entries: &entries(),
            variant: Variant::Host,
            abi: xtask::build_vdso::ABI,
        },
    );
    assert_reports_only(
        &report,
        &["not a 64-bit little-endian ELF file: Unsupported ELF header"],
    );
}

#[test]
fn verifier_names_the_wrong_machine() {
    let _fixture = exclusive();
    // No aarch64 linker here: patch e_machine (bytes 18..20) of a real image.
    let linked = link_fixture("wrong_machine", None, &entries());
    let mut data = read(&linked.image);
    data[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    let report = verify::verify(
        &data,
        Expect {
            entries: &entries(),
            variant: Variant::Host,
            abi: xtask::build_vdso::ABI,
        },
    );
    assert_reports_only(&report, &["machine 0xb7 is not x86-64 (0x3e)"]);
}

#[test]
fn verifier_names_the_wrong_variant() {
    let _fixture = exclusive();
    // The fixture's note says "host"; a timens image must not carry it.
    let linked = link_fixture("wrong_variant", None, &entries());
    assert_reports_only(
        &verify_file(&linked.image, Variant::Timens, &entries()),
        &["the variant note says \"host\", expected \"timens\""],
    );
}

#[test]
fn verifier_names_the_wrong_layout() {
    let _fixture = exclusive();
    // The fixture's layout note says linux-6.6: an image verified for
    // another layout's pages would read the wrong bytes as time.
    let linked = link_fixture("wrong_layout", None, &entries());
    let report = verify::verify(
        &read(&linked.image),
        Expect {
            entries: &entries(),
            variant: Variant::Host,
            abi: common::abi::Abi::Linux6_18,
        },
    );
    assert_reports_only(
        &report,
        &["the layout note says \"linux-6.6\", expected \"linux-6.18\""],
    );
}

#[test]
fn verifier_names_a_variant_note_of_the_wrong_size() {
    let _fixture = exclusive();
    let linked = link_fixture("short_note", Some("short_note"), &entries());
    assert_reports_only(
        &verify_host(&linked.image),
        &["the vdso-rs variant note's descriptor is 4 bytes, not 16"],
    );
}

#[test]
fn verifier_names_an_undefined_symbol() {
    let _fixture = exclusive();
    let linked = link_fixture("undefined_symbol", Some("undefined"), &entries());
    assert_reports(
        &verify_host(&linked.image),
        &["undefined symbol vdso_fixture_elsewhere: an image may not call anything outside itself"],
    );
}

#[test]
fn verifier_names_a_call_through_the_got() {
    let _fixture = exclusive();
    let linked = link_fixture("got_call", Some("got_call"), &entries());
    // The fixture's jump through the GOT is the first instruction of time.
    let at = entry("__vdso_time").slot.offset;
    assert_reports(
        &verify_host(&linked.image),
        &[
            &format!("indirect branch through memory at {at:#x} (a GOT or PLT call)"),
            "writable section .got: an image holds no data",
        ],
    );
}

/// The getrandom fixtures are linux-6.18 images: linked with that layout's
/// entries (getrandom among them) and linker script.
const GETRANDOM_ABI: common::abi::Abi = common::abi::Abi::Linux6_18;

fn getrandom_entries() -> Vec<Placed> {
    build_vdso::entries(GETRANDOM_ABI)
}

/// The fixture with `flaw` (one of the getrandom family), linked and
/// stripped as a linux-6.18 image.
fn link_getrandom_fixture(case: &str, flaw: &'static str) -> Linked {
    let archive = archive(Some(flaw));
    let dir = case_dir(case);
    let sh = shell();
    let dbg = dir.join("image.dbg.so");
    let layout = build_vdso::layout(GETRANDOM_ABI);
    link::link(&sh, &archive, &getrandom_entries(), &layout, &dbg)
        .unwrap_or_else(|e| panic!("linking {}: {e:#}", dbg.display()));
    let image = dir.join("image.so");
    link::strip(&sh, &dbg, &image).unwrap_or_else(|e| panic!("stripping {}: {e:#}", dbg.display()));
    Linked { dbg, image }
}

fn verify_getrandom(path: &Path) -> Report {
    verify::verify(
        &read(path),
        Expect {
            entries: &getrandom_entries(),
            variant: Variant::Host,
            abi: GETRANDOM_ABI,
        },
    )
}

/// Where the fixture's flawed instruction is: its local label in the
/// unstripped link's symbol table.
fn flaw_address(dbg: &Path) -> u64 {
    use object::{Object, ObjectSymbol};
    let data = read(dbg);
    let file = object::File::parse(&*data).expect("an ELF file");
    file.symbols()
        .find(|s| s.name() == Ok("vdso_fixture_flaw"))
        .map(|s| s.address())
        .expect("the fixture's flaw label in the symbol table")
}

#[test]
fn verifier_accepts_a_clean_block_function() {
    let _fixture = exclusive();
    // What the getrandom refusals below rely on: the image with getrandom
    // and a block function that keeps the rules passes, unstripped (where
    // the function is found) and stripped.
    let linked = link_getrandom_fixture("getrandom_clean", "getrandom");
    assert_reports_only(&verify_getrandom(&linked.dbg), &[]);
    assert_reports_only(&verify_getrandom(&linked.image), &[]);
}

#[test]
fn verifier_names_a_missing_block_function() {
    let _fixture = exclusive();
    let linked = link_getrandom_fixture("chacha_absent", "chacha_absent");
    assert_reports_only(
        &verify_getrandom(&linked.dbg),
        &[
            "the image exports getrandom but its link has no ChaCha20 block function vdso_chacha20_blocks_nostack",
        ],
    );
}

#[test]
fn verifier_names_a_block_function_that_spills_to_the_stack() {
    let _fixture = exclusive();
    let linked = link_getrandom_fixture("chacha_spill", "chacha_spill");
    let at = flaw_address(&linked.dbg);
    assert_reports_only(
        &verify_getrandom(&linked.dbg),
        &[
            &format!(
                "the ChaCha20 block function touches the stack at {at:#x}, where a key would outlive the call"
            ),
            &format!(
                "the ChaCha20 block function stores through rsp at {at:#x}; it may store only through rdi (the output) and rdx (the counter)"
            ),
        ],
    );
}

#[test]
fn verifier_names_a_block_function_that_stores_through_another_register() {
    let _fixture = exclusive();
    let linked = link_getrandom_fixture("chacha_store", "chacha_store");
    let at = flaw_address(&linked.dbg);
    assert_reports_only(
        &verify_getrandom(&linked.dbg),
        &[&format!(
            "the ChaCha20 block function stores through rsi at {at:#x}; it may store only through rdi (the output) and rdx (the counter)"
        )],
    );
}

#[test]
fn verifier_names_a_block_function_that_leaves_a_register_dirty() {
    let _fixture = exclusive();
    let linked = link_getrandom_fixture("chacha_dirty", "chacha_dirty");
    assert_reports_only(
        &verify_getrandom(&linked.dbg),
        &["the ChaCha20 block function returns with xmm2 not cleared"],
    );
}

#[test]
fn pipeline_refuses_a_dirty_block_function_and_writes_no_image() {
    let _fixture = exclusive();
    // The block function is found by name only in the unstripped link, so
    // build_image must refuse there, before stripping.
    let out = case_dir("chacha_pipeline");
    let manifest = fixture_manifest();
    let dirs = Dirs {
        build: fixture_target(),
        out: out.clone(),
    };
    let result = build_vdso::build_image(
        &shell(),
        fixture_crate(&manifest),
        Variant::Host,
        &build_vdso::layout(GETRANDOM_ABI),
        &getrandom_entries(),
        &dirs,
        "chacha-pipeline.so",
        &cfgs(Some("chacha_dirty")),
    );
    let err = result.expect_err("build_image accepted a block function that leaves xmm2 dirty");
    let dbg = fixture_target().join("chacha-pipeline.dbg.so");
    assert_eq!(
        err.to_string(),
        format!(
            "{} fails verification:\n  the ChaCha20 block function returns with xmm2 not cleared",
            dbg.display()
        )
    );
    assert!(
        !out.join("chacha-pipeline.so").exists(),
        "build_image wrote an image that failed verification"
    );
}
