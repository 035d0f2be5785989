//! The verifier (and the slot check before linking) refuses every kind of
//! broken image, and says exactly what is wrong. The broken images are real:
//! the fixture crate `xtask/fixtures/flawed-vdso` is compiled with one
//! `--cfg flaw="..."` at a time through `compile::staticlib` and linked with
//! `link::link`, so each test exercises the same code paths a broken image
//! crate would. A few cheap cases (not an ELF file, wrong machine) patch or
//! invent bytes instead, since no toolchain here produces them.
//!
//! Every rule is checked for each architecture built
//! (`kernel_side::images::built_arches`): the fixture is cross-built for
//! aarch64 with its toolchain, and the rules only aarch64 has (landing
//! pads, the counter's ordering, the signal trampoline) have flaws of their
//! own.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use common::abi::{Abi, Arch};
use common::entries::{Placed, Slot};
use common::layout::LayoutInfo;
use common::note::Variant;
use xshell::Shell;
use xtask::arch::Tools;
use xtask::build_vdso::{self, Dirs};
use xtask::compile::{self, ImageCrate};
use xtask::verify::{self, Expect, Report};
use xtask::{link, project_root, scripts};

const FIXTURE_PACKAGE: &str = "flawed-vdso";

/// What the fixture's `panic` flaw (a bounds-checked index) is reported as.
const BOUNDS_CHECK_PANIC: &str =
    "panic site: the image links core::panicking::panic_bounds_check, so some code path can panic";

/// Archives already built in this run, by architecture and flaw, so tests
/// sharing a flaw share one copy.
static ARCHIVES: Mutex<BTreeMap<(&'static str, &'static str), PathBuf>> =
    Mutex::new(BTreeMap::new());
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

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// An image linked the project's way, before and after stripping.
struct Linked {
    /// The unstripped link, which `build_image` verifies first.
    dbg: PathBuf,
    /// The stripped file, as an image is shipped.
    image: PathBuf,
}

/// The fixture on one architecture: its layout (the one its notes name),
/// the table's entries as the images place them, and how its images are
/// built and checked.
#[derive(Clone, Copy)]
struct Fixture {
    arch: Arch,
}

/// The architectures the tests run for: x86_64 first.
fn fixtures() -> Vec<Fixture> {
    kernel_side::images::built_arches()
        .into_iter()
        .map(|arch| Fixture { arch })
        .collect()
}

/// Each of the architectures' fixtures, named by the failure message.
fn for_each_fixture(test: impl Fn(Fixture)) {
    for f in fixtures() {
        test(f);
    }
}

impl Fixture {
    fn abi(self) -> Abi {
        match self.arch {
            Arch::X86_64 => build_vdso::ABI,
            Arch::Aarch64 => Abi::Linux6_18,
        }
    }

    fn tools(self) -> Tools {
        Tools::of(self.arch)
    }

    fn target(self) -> PathBuf {
        fixture_target().join(self.arch.name())
    }

    /// The layout the fixture is linked for.
    fn layout(self) -> LayoutInfo {
        build_vdso::layout(self.arch, self.abi())
    }

    /// The table's entries as the images place them.
    fn entries(self) -> Vec<Placed> {
        build_vdso::entries(self.arch, self.abi())
    }

    /// The exported symbol of entry `name` (`__vdso_time`, `__kernel_clock_getres`).
    fn symbol(self, name: &str) -> String {
        format!("{}{name}", self.arch.symbol_prefix())
    }

    fn entry(self, name: &str) -> Placed {
        self.entries()
            .into_iter()
            .find(|e| e.entry.name == name)
            .unwrap_or_else(|| panic!("{name} is not in the {} table of entries", self.arch))
    }

    /// The entry the fixture's `outgrown_slot` flaw makes too long, and by
    /// how much: the names and sizes the fixture spells in its assembly.
    fn outgrown(self) -> (&'static str, u64) {
        match self.arch {
            Arch::X86_64 => ("time", 0x50),
            Arch::Aarch64 => ("clock_getres", 0x90),
        }
    }

    /// Two function entries with slots of one size, which a test swaps.
    fn swappable(self) -> (&'static str, &'static str) {
        match self.arch {
            Arch::X86_64 => ("time", "getcpu"),
            Arch::Aarch64 => ("clock_gettime", "clock_getres"),
        }
    }

    /// The names an entry is exported under: its symbol, and its weak
    /// alias where the architecture has them.
    fn names(self, name: &str) -> Vec<String> {
        let mut names = vec![self.symbol(name)];
        if self.arch.weak_aliases() {
            names.push(name.to_string());
        }
        names
    }

    /// The fixture compiled with `flaw` (or clean), as the image crates are.
    /// Call with the fixture dir held (`exclusive`).
    fn archive(self, flaw: Option<&'static str>) -> PathBuf {
        let name = flaw.unwrap_or("clean");
        let mut archives = ARCHIVES.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(path) = archives.get(&(self.arch.name(), name)) {
            return path.clone();
        }
        let manifest = fixture_manifest();
        let built = compile::staticlib(
            &shell(),
            fixture_crate(&manifest),
            &self.target(),
            &cfgs(flaw),
            self.tools(),
        )
        .unwrap_or_else(|e| {
            panic!(
                "compiling the {} fixture with flaw {name}: {e:#}",
                self.arch
            )
        });
        let dir = self.target().join("archives");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let copy = dir.join(format!("{name}.a"));
        std::fs::copy(&built, &copy)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", built.display(), copy.display()));
        archives.insert((self.arch.name(), name), copy.clone());
        copy
    }

    /// A directory of this test's own under the fixture target dir, emptied.
    fn case_dir(self, case: &str) -> PathBuf {
        let dir = self.target().join("cases").join(case);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .unwrap_or_else(|e| panic!("removing {}: {e}", dir.display()));
        }
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        dir
    }

    /// Links the fixture with `flaw` against `entries` with the project's
    /// linker and version scripts (`link::link`), then strips it
    /// (`link::strip`).
    fn link(self, case: &str, flaw: Option<&'static str>, entries: &[Placed]) -> Linked {
        let archive = self.archive(flaw);
        let dir = self.case_dir(case);
        let sh = shell();
        let dbg = dir.join("image.dbg.so");
        link::link(&sh, &archive, entries, &self.layout(), &dbg)
            .unwrap_or_else(|e| panic!("linking {}: {e:#}", dbg.display()));
        let image = dir.join("image.so");
        link::strip(&sh, self.tools(), &dbg, &image)
            .unwrap_or_else(|e| panic!("stripping {}: {e:#}", dbg.display()));
        Linked { dbg, image }
    }

    /// Links the clean fixture with the same ld flags as link::link, but
    /// with `script` (the project's linker script, edited) in place of the
    /// one link::link always generates, and strips it. `extra` are further
    /// ld arguments.
    fn link_with_script(self, case: &str, script: &str, extra: &[&str]) -> PathBuf {
        let archive = self.archive(None);
        let dir = self.case_dir(case);
        let dbg = dir.join("image.dbg.so");
        link::link_with_script(
            &shell(),
            self.tools(),
            &archive,
            &self.entries(),
            script,
            extra,
            &dbg,
        )
        .unwrap_or_else(|e| panic!("linking {}: {e:#}", dbg.display()));
        let out = dir.join("image.so");
        link::strip(&shell(), self.tools(), &dbg, &out)
            .unwrap_or_else(|e| panic!("stripping {}: {e:#}", dbg.display()));
        out
    }

    /// The project's linker script with `from` replaced by `to`, which must
    /// occur.
    fn edited_linker_script(self, from: &str, to: &str) -> String {
        let script = scripts::linker_script(&self.entries(), &self.layout());
        assert!(
            script.contains(from),
            "the linker script no longer contains `{from}`; update this test"
        );
        script.replace(from, to)
    }

    fn expect<'a>(self, entries: &'a [Placed], variant: Variant) -> Expect<'a> {
        Expect {
            entries,
            variant,
            arch: self.arch,
            abi: self.abi(),
        }
    }

    fn verify_file(self, path: &Path, variant: Variant, entries: &[Placed]) -> Report {
        verify::verify(&read(path), self.expect(entries, variant))
    }

    fn verify_host(self, path: &Path) -> Report {
        self.verify_file(path, Variant::Host, &self.entries())
    }

    /// The unstripped link as `build_image` checks it: every rule but the
    /// size, which is the shipped file's (the link keeps its symbol table,
    /// and on aarch64 the debug info of Debian's `core`).
    fn verify_dbg(self, path: &Path) -> Report {
        let mut report = self.verify_host(path);
        report
            .violations
            .retain(|v| !matches!(v, verify::Violation::FileTooLarge { .. }));
        report
    }

    /// ENTRIES with the two entries of [`swappable`](Self::swappable) in
    /// each other's slots, kept in slot order as the linker script needs:
    /// a valid layout, but not the pinned one.
    fn swapped(self) -> Vec<Placed> {
        let (a, b) = self.swappable();
        let (sa, sb) = (self.entry(a).slot, self.entry(b).slot);
        assert_eq!(
            sa.size, sb.size,
            "the test swaps {a} and {b}, which needs slots of one size"
        );
        let mut entries: Vec<Placed> = self
            .entries()
            .into_iter()
            .map(|e| match e.entry.name {
                n if n == a => Placed { slot: sb, ..e },
                n if n == b => Placed { slot: sa, ..e },
                _ => e,
            })
            .collect();
        entries.sort_by_key(|e| e.slot.offset);
        entries
    }
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

#[test]
fn verifier_accepts_the_clean_fixture() {
    let _fixture = exclusive();
    // Every other test here relies on this: without a flaw the fixture is a
    // valid image, so what the verifier reports there comes from the flaw.
    for_each_fixture(|f| {
        let linked = f.link("clean", None, &f.entries());
        assert_reports_only(&f.verify_dbg(&linked.dbg), &[]);
        assert_reports_only(&f.verify_host(&linked.image), &[]);
    });
}

#[test]
fn verifier_names_a_dynamic_relocation() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        let linked = f.link("relocation", Some("relocation"), &f.entries());
        assert_reports(
            &f.verify_host(&linked.image),
            &[
                "1 dynamic relocation(s) in .rela.dyn; an image must need none",
                "dynamic tag DT_RELA, which an image must not have",
            ],
        );
    });
}

#[test]
fn verifier_names_a_writable_segment() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        // The project's linker script cannot produce a writable segment: make
        // its one PT_LOAD RWX (and silence ld's warning about exactly that).
        let script = f.edited_linker_script(
            "text PT_LOAD FILEHDR PHDRS FLAGS(5);",
            "text PT_LOAD FILEHDR PHDRS FLAGS(7);",
        );
        let out = f.link_with_script("writable_segment", &script, &["--no-warn-rwx-segments"]);
        assert_reports_only(
            &f.verify_host(&out),
            &[
                "PT_LOAD flags 0x7; they must be R+X (0x5)",
                "writable segment: program header 0 (PT_LOAD) has PF_W",
            ],
        );
    });
}

#[test]
fn verifier_names_a_gnu_stack_segment() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        // A read-only PT_GNU_STACK is not writable, so only the segment rule
        // itself can catch it.
        let anchor = "eh_frame_hdr PT_GNU_EH_FRAME FLAGS(4);";
        let script =
            f.edited_linker_script(anchor, &format!("{anchor}\n\tstack PT_GNU_STACK FLAGS(4);"));
        let out = f.link_with_script("gnu_stack", &script, &[]);
        assert_reports_only(
            &f.verify_host(&out),
            &["a PT_GNU_STACK segment, which an image must not have"],
        );
    });
}

#[test]
fn verifier_names_a_missing_symbol() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        // Linking with a list that lacks the entry leaves it unexported (the
        // version script makes everything else local), as if an image crate
        // forgot to define it.
        let (_, missing) = f.swappable();
        let without: Vec<Placed> = f
            .entries()
            .into_iter()
            .filter(|e| e.entry.name != missing)
            .collect();
        let linked = f.link("missing_symbol", None, &without);
        let expected: Vec<String> = f
            .names(missing)
            .iter()
            .map(|n| format!("missing exported symbol {n}"))
            .collect();
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        assert_reports(&f.verify_host(&linked.image), &expected);
    });
}

#[test]
fn verifier_names_an_entry_not_at_its_slot() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        let linked = f.link("entry_off_slot", None, &f.swapped());
        let (a, b) = f.swappable();
        let (at_a, at_b) = (f.entry(a).offset(), f.entry(b).offset());
        let mut expected = Vec::new();
        for (name, found, slot) in [(a, at_b, at_a), (b, at_a, at_b)] {
            for n in f.names(name) {
                expected.push(format!(
                    "symbol {n} is at {found:#x}; its slot is at {slot:#x}"
                ));
            }
        }
        // In the order of the entries' slots, as the verifier goes.
        expected.sort_by_key(|m| !m.contains(&format!("is at {at_b:#x}")));
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        assert_reports_only(&f.verify_host(&linked.image), &expected);
    });
}

#[test]
fn compare_names_offsets_that_differ_between_images() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        let pinned = f.link("offsets_pinned", None, &f.entries());
        let swapped_entries = f.swapped();
        let swapped = f.link("offsets_swapped", None, &swapped_entries);
        // Each image is valid against the list it was linked with: only the
        // comparison can tell they do not agree.
        let host = f.verify_file(&pinned.image, Variant::Host, &f.entries());
        let timens = f.verify_file(&swapped.image, Variant::Host, &swapped_entries);
        assert_reports_only(&host, &[]);
        assert_reports_only(&timens, &[]);
        let (a, b) = f.swappable();
        let (at_a, at_b) = (f.entry(a).offset(), f.entry(b).offset());
        let differ: Vec<String> = verify::compare(&host.facts, &timens.facts)
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut expected = Vec::new();
        for (name, host_at, timens_at) in [(a, at_a, at_b), (b, at_b, at_a)] {
            for n in f.names(name) {
                expected.push(format!(
                    "symbol {n} is at {host_at:#x} in the host image but at {timens_at:#x} in the timens image"
                ));
            }
        }
        // In the order of the export names.
        expected.sort_by(|x, y| x.split(' ').nth(1).cmp(&y.split(' ').nth(1)));
        assert_eq!(
            differ,
            expected,
            "verify::compare reported\n{}",
            listing(&differ)
        );
    });
}

#[test]
fn verifier_names_an_oversized_file() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        let linked = f.link("oversized", Some("oversized"), &f.entries());
        let size = read(&linked.image).len();
        assert_reports_only(
            &f.verify_host(&linked.image),
            &[&format!(
                "the file is {size} bytes; an image may take at most {}",
                verify::MAX_IMAGE_SIZE
            )],
        );
    });
}

#[test]
fn verifier_names_a_panic_site() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        let linked = f.link("panic_site", Some("panic"), &f.entries());
        assert_reports(&f.verify_dbg(&linked.dbg), &[BOUNDS_CHECK_PANIC]);
    });
}

#[test]
fn pipeline_refuses_a_panic_site_and_writes_no_image() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        // Only the unstripped link's symbol table names the panic machinery
        // (stripped, this fixture passes), so build_image must check it first.
        let out = f.case_dir("panic_pipeline");
        let manifest = fixture_manifest();
        let dirs = Dirs {
            build: f.target(),
            out: out.clone(),
        };
        let result = build_vdso::build_image(
            &shell(),
            fixture_crate(&manifest),
            Variant::Host,
            &f.layout(),
            &f.entries(),
            &dirs,
            "panic-pipeline.so",
            &cfgs(Some("panic")),
        );
        let err = result.expect_err("build_image accepted an image with a panic site");
        let text = err.to_string();
        let dbg = f.target().join("panic-pipeline.dbg.so");
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
    });
}

#[test]
fn pipeline_refuses_an_entry_that_outgrows_its_slot() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        let (name, size) = f.outgrown();
        let slot = f.entry(name).slot;
        assert!(
            slot.size < size,
            "the fixture's oversized {name} ({size:#x} bytes) now fits its slot ({:#x}); enlarge it",
            slot.size
        );
        let out = f.case_dir("outgrown_slot");
        let manifest = fixture_manifest();
        let dirs = Dirs {
            build: f.target(),
            out: out.clone(),
        };
        let result = build_vdso::build_image(
            &shell(),
            fixture_crate(&manifest),
            Variant::Host,
            &f.layout(),
            &f.entries(),
            &dirs,
            "outgrown-slot.so",
            &cfgs(Some("outgrown_slot")),
        );
        let err = result.expect_err("build_image accepted an entry larger than its slot");
        assert_eq!(
            err.to_string(),
            format!(
                "entry {} is {size:#x} bytes but its slot holds {:#x} ({:#x}..{:#x})",
                f.symbol(name),
                slot.size,
                slot.offset,
                slot.end()
            )
        );
        assert!(
            !out.join("outgrown-slot.so").exists(),
            "build_image wrote an image whose entry outgrew its slot"
        );
    });
}

#[test]
fn verifier_names_a_symbol_larger_than_its_slot() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        // The slot check stops such an entry before linking (see above); the
        // verifier must catch it too, for an image linked with roomier slots.
        let grow = 0x40;
        let (name, size) = f.outgrown();
        let outgrown = f.entry(name).slot;
        let roomy: Vec<Placed> = f
            .entries()
            .iter()
            .map(|e| {
                let slot = if e.entry.name == name {
                    Slot {
                        size: e.slot.size + grow,
                        ..e.slot
                    }
                } else if e.slot.offset > outgrown.offset {
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
        let linked = f.link("symbol_outgrows_slot", Some("outgrown_slot"), &roomy);
        let room = outgrown.size;
        let expected: Vec<String> = f
            .names(name)
            .iter()
            .map(|n| format!("symbol {n} is {size:#x} bytes; its slot holds {room:#x}"))
            .collect();
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        assert_reports(&f.verify_host(&linked.image), &expected);
    });
}

#[test]
fn verifier_refuses_a_file_that_is_not_elf() {
    // Longer than an ELF header, so the parser gets as far as the ident bytes.
    let script =
        b"#!/bin/sh\n# a shell script, long enough to be mistaken for an ELF header\nexit 0\n";
    for_each_fixture(|f| {
        let entries = f.entries();
        let report = verify::verify(script, f.expect(&entries, Variant::Host));
        assert_reports_only(
            &report,
            &["not a 64-bit little-endian ELF file: Unsupported ELF header"],
        );
    });
}

#[test]
fn verifier_names_the_wrong_machine() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        // Patch e_machine (bytes 18..20) of a real image to the other
        // architecture's.
        let linked = f.link("wrong_machine", None, &f.entries());
        let mut data = read(&linked.image);
        let other = match f.arch {
            Arch::X86_64 => Arch::Aarch64,
            Arch::Aarch64 => Arch::X86_64,
        };
        data[18..20].copy_from_slice(&other.elf_machine().to_le_bytes());
        let entries = f.entries();
        let report = verify::verify(&data, f.expect(&entries, Variant::Host));
        let expected = match f.arch {
            Arch::X86_64 => "machine 0xb7 is not x86-64 (0x3e)",
            Arch::Aarch64 => "machine 0x3e is not AArch64 (0xb7)",
        };
        assert_reports_only(&report, &[expected]);
    });
}

#[test]
fn verifier_names_the_wrong_variant() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        // The fixture's note says "host"; a timens image must not carry it.
        let linked = f.link("wrong_variant", None, &f.entries());
        assert_reports_only(
            &f.verify_file(&linked.image, Variant::Timens, &f.entries()),
            &["the variant note says \"host\", expected \"timens\""],
        );
    });
}

#[test]
fn verifier_names_the_wrong_layout() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        // The fixture's layout note names its architecture's layout: an
        // image verified for another layout's pages would read the wrong
        // bytes as time.
        let linked = f.link("wrong_layout", None, &f.entries());
        let other = match f.abi() {
            Abi::Linux6_18 => Abi::Linux6_6,
            _ => Abi::Linux6_18,
        };
        let entries = f.entries();
        let report = verify::verify(
            &read(&linked.image),
            Expect {
                abi: other,
                ..f.expect(&entries, Variant::Host)
            },
        );
        assert_reports_only(
            &report,
            &[&format!(
                "the layout note says \"{}\", expected \"{other}\"",
                f.abi()
            )],
        );
    });
}

#[test]
fn verifier_names_a_variant_note_of_the_wrong_size() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        let linked = f.link("short_note", Some("short_note"), &f.entries());
        assert_reports_only(
            &f.verify_host(&linked.image),
            &["the vdso-rs variant note's descriptor is 4 bytes, not 16"],
        );
    });
}

#[test]
fn verifier_names_an_undefined_symbol() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        let linked = f.link("undefined_symbol", Some("undefined"), &f.entries());
        assert_reports(
            &f.verify_host(&linked.image),
            &[
                "undefined symbol vdso_fixture_elsewhere: an image may not call anything outside itself",
            ],
        );
    });
}

#[test]
fn verifier_names_a_call_through_the_got() {
    let _fixture = exclusive();
    for_each_fixture(|f| {
        let linked = f.link("got_call", Some("got_call"), &f.entries());
        match f.arch {
            Arch::X86_64 => {
                // The fixture's jump through the GOT is the first
                // instruction of time.
                let at = f.entry("time").offset();
                assert_reports(
                    &f.verify_host(&linked.image),
                    &[
                        &format!("indirect branch through memory at {at:#x} (a GOT or PLT call)"),
                        "writable section .got: an image holds no data",
                    ],
                );
            }
            Arch::Aarch64 => {
                // `bti c; adrp; ldr; br`: the branch is the fourth
                // instruction of clock_getres, and the GOT slot it loads
                // needs a relocation.
                let at = f.entry("clock_getres").offset() + 12;
                assert_reports(
                    &f.verify_host(&linked.image),
                    &[
                        &format!(
                            "branch through a register at {at:#x} (a jump table, or a call through a loaded address): its target would need a landing pad on guarded pages"
                        ),
                        "1 dynamic relocation(s) in .rela.dyn; an image must need none",
                    ],
                );
            }
        }
    });
}

/// The aarch64 fixture, if aarch64 is built (`cargo xtask test` said in
/// one line why it is not, and CI fails instead).
fn aarch64() -> Option<Fixture> {
    let found = fixtures().into_iter().find(|f| f.arch == Arch::Aarch64);
    if found.is_none() {
        eprintln!("aarch64 is not among the architectures built: its rules are not checked");
    }
    found
}

/// A kernel with BTI maps the image with guarded pages, where a call
/// through a pointer that does not land on `bti c` faults: the fixture
/// without clock_gettime's landing pad is refused by name.
#[test]
fn verifier_names_an_entry_without_its_landing_pad() {
    let _fixture = exclusive();
    let Some(f) = aarch64() else { return };
    let linked = f.link("no_bti", Some("no_bti"), &f.entries());
    let at = f.entry("clock_gettime").offset();
    assert_reports_only(
        &f.verify_host(&linked.image),
        &[&format!(
            "__kernel_clock_gettime at {at:#x} does not start with `bti c`: on pages the kernel maps guarded (BTI), a call through a pointer to it faults"
        )],
    );
}

/// Each part of Linux's ordering around the counter read, left out in
/// turn, is named: emulation runs in order and cannot show any of them
/// missing, so the machine code is where it is caught.
#[test]
fn verifier_names_each_missing_part_of_the_counter_ordering() {
    let _fixture = exclusive();
    let Some(f) = aarch64() else { return };
    let ordered_loads = "without a load whose address depends on the value, the seqlock's `dmb ishld` does not order the counter read, and the re-read of `seq` may happen before it";
    for (flaw, part, why) in [
        (
            "no_isb",
            "the `isb` right before it",
            "the CPU may read the counter before the loads ahead of it, so before `cycle_last` was read",
        ),
        (
            "no_eor",
            "the `eor` of its value with itself right after it",
            ordered_loads,
        ),
        (
            "no_add",
            "the `add` of that zero to sp right after the `eor`",
            ordered_loads,
        ),
        (
            "no_ldr",
            "the `ldr xzr` from that address right after the `add`",
            ordered_loads,
        ),
    ] {
        let linked = f.link(flaw, Some(flaw), &f.entries());
        let report = f.verify_host(&linked.image);
        let messages = report.messages();
        let prefix = "the counter read at 0x";
        let [message] = &messages[..] else {
            panic!("{flaw}: the verifier reported\n{}", listing(&messages));
        };
        let at = message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once(' '))
            .map(|(at, _)| at)
            .unwrap_or_else(|| panic!("{flaw}: the verifier reported\n{}", listing(&messages)));
        assert_eq!(
            message,
            &format!("{prefix}{at} lacks {part}: {why}"),
            "{flaw}"
        );
    }
}

/// `__kernel_rt_sigreturn` must be Linux's bytes: a landing pad before
/// them hides the frame from every unwinder that recognises it by them.
#[test]
fn verifier_names_a_signal_trampoline_that_is_not_linuxs() {
    let _fixture = exclusive();
    let Some(f) = aarch64() else { return };
    let linked = f.link("sigreturn_bti", Some("sigreturn_bti"), &f.entries());
    let at = f.entry("rt_sigreturn").offset();
    assert_reports_only(
        &f.verify_host(&linked.image),
        &[&format!(
            "__kernel_rt_sigreturn at {at:#x} is not Linux's signal trampoline (`nop` before it, then `mov x8, #139; svc #0`, nothing else): found nop; hint #0x22; mov x8, #0x8b"
        )],
    );
}

/// The unwind entry Linux's `sigreturn.S` had until 2020 (a signal frame
/// with x29 and x30 at the frame record), over the `nop` and the two words:
/// Linux removed it because libgcc then unwound out of a cancelled
/// thread's signal handler wrongly, and so does the verifier.
#[test]
fn verifier_names_an_unwind_entry_over_the_signal_trampoline() {
    let _fixture = exclusive();
    let Some(f) = aarch64() else { return };
    let linked = f.link("sigreturn_cfi", Some("sigreturn_cfi"), &f.entries());
    let slot = f.entry("rt_sigreturn").slot.offset;
    assert_reports_only(
        &f.verify_host(&linked.image),
        &[&format!(
            "an unwind entry ({slot:#x}..{:#x}) covers __kernel_rt_sigreturn: unwinders must recognise it by its bytes, as Linux's arm64 vDSO (which has no unwind entry for it) makes them",
            slot + 12
        )],
    );
}

/// The getrandom fixtures are x86_64 linux-6.18 images: linked with that
/// layout's entries (getrandom among them) and linker script. (aarch64's
/// images have no getrandom yet.)
const GETRANDOM: Fixture = Fixture { arch: Arch::X86_64 };
const GETRANDOM_ABI: Abi = Abi::Linux6_18;

fn getrandom_entries() -> Vec<Placed> {
    build_vdso::entries(GETRANDOM.arch, GETRANDOM_ABI)
}

fn getrandom_layout() -> LayoutInfo {
    build_vdso::layout(GETRANDOM.arch, GETRANDOM_ABI)
}

/// The fixture with `flaw` (one of the getrandom family), linked and
/// stripped as a linux-6.18 image.
fn link_getrandom_fixture(case: &str, flaw: &'static str) -> Linked {
    let archive = GETRANDOM.archive(Some(flaw));
    let dir = GETRANDOM.case_dir(case);
    let sh = shell();
    let dbg = dir.join("image.dbg.so");
    link::link(
        &sh,
        &archive,
        &getrandom_entries(),
        &getrandom_layout(),
        &dbg,
    )
    .unwrap_or_else(|e| panic!("linking {}: {e:#}", dbg.display()));
    let image = dir.join("image.so");
    link::strip(&sh, GETRANDOM.tools(), &dbg, &image)
        .unwrap_or_else(|e| panic!("stripping {}: {e:#}", dbg.display()));
    Linked { dbg, image }
}

fn verify_getrandom(path: &Path) -> Report {
    verify::verify(
        &read(path),
        Expect {
            entries: &getrandom_entries(),
            variant: Variant::Host,
            arch: GETRANDOM.arch,
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
    let out = GETRANDOM.case_dir("chacha_pipeline");
    let manifest = fixture_manifest();
    let dirs = Dirs {
        build: GETRANDOM.target(),
        out: out.clone(),
    };
    let result = build_vdso::build_image(
        &shell(),
        fixture_crate(&manifest),
        Variant::Host,
        &getrandom_layout(),
        &getrandom_entries(),
        &dirs,
        "chacha-pipeline.so",
        &cfgs(Some("chacha_dirty")),
    );
    let err = result.expect_err("build_image accepted a block function that leaves xmm2 dirty");
    let dbg = GETRANDOM.target().join("chacha-pipeline.dbg.so");
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
