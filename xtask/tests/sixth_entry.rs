//! Adding an entry is one row in the table of entries and the entry's
//! implementation, nothing else: the fixture `xtask/fixtures/sixth-entry`
//! is the project's image with exactly that added (its `table.rs` and one
//! function), and every consumer of the table is expanded here over the
//! same six rows. Each must follow without a change of its own: the slots,
//! the linker and version scripts, the verifier, the image's exports, the
//! typed pointers a loader calls through, and the per-entry counters.

use common::abi::{Abi, Arch};
use common::entries::{ENTRIES, Entry, Placed};
use common::note::Variant;
use kernel_side::{DataPages, Image, Mapping};
use vdso_elf::{Elf, HashTable};
use xshell::Shell;
use xtask::build_vdso::{self, Dirs};
use xtask::compile::ImageCrate;
use xtask::verify::{self, Expect};
use xtask::{project_root, scripts};

include!("../fixtures/sixth-entry/src/table.rs");

table_with_sixth!(common::__entry_list { SIXTH_TABLE });
table_with_sixth!(common::__entry_pointers { SixthPointers });
table_with_sixth!(common::__entry_per_entry { SixthCounts });
table_with_sixth!(common::__entry_in_every_layout {
    common::__entry_per_entry { SixthCountsOfEveryLayout }
});

/// The six rows as an x86_64 linux-6.6 image places them.
fn placed() -> Vec<Placed> {
    Entry::placed(SIXTH_TABLE, Arch::X86_64, Abi::Linux6_6).collect()
}

/// The fixture built and verified the project's way, against the six rows.
fn built() -> Vec<u8> {
    let manifest = project_root().join("xtask/fixtures/sixth-entry/Cargo.toml");
    let build = project_root().join("target/fixture-build-sixth");
    let dirs = Dirs {
        build: build.clone(),
        out: build.join("out"),
    };
    let sh = Shell::new().expect("creating an xshell Shell");
    let krate = ImageCrate {
        manifest: &manifest,
        package: "sixth-entry",
    };
    let staged = build_vdso::build_image(
        &sh,
        krate,
        Variant::Host,
        &build_vdso::layout(Arch::X86_64, Abi::Linux6_6),
        &placed(),
        &dirs,
        "sixth.so",
        &[build_vdso::abi_cfg(Abi::Linux6_6)],
    )
    .unwrap_or_else(|e| panic!("building the sixth-entry fixture: {e:#}"));
    std::fs::read(&staged.path).expect("reading the built fixture")
}

#[test]
fn a_sixth_row_gets_the_next_slot() {
    let five: Vec<Placed> = Entry::placed(ENTRIES, Arch::X86_64, Abi::Linux6_6).collect();
    let six = placed();
    assert_eq!(six.len(), five.len() + 1);
    assert_eq!(six[..five.len()], five[..], "the five keep their slots");
    let sixth = six.last().unwrap();
    assert_eq!(sixth.symbol, "__vdso_sixth");
    assert_eq!(sixth.alias, Some("sixth"));
    assert_eq!(sixth.section, ".text.vdso.sixth");
    assert_eq!(sixth.slot.offset, five.last().unwrap().slot.end());
    let linker = scripts::linker_script(&six, &build_vdso::layout(Arch::X86_64, Abi::Linux6_6));
    assert!(linker.contains("KEEP(*(.text.vdso.sixth))"), "{linker}");
    let version = scripts::version_script(&six);
    assert!(version.contains("__vdso_sixth; sixth;"), "{version}");
}

#[test]
fn a_sixth_row_is_exported_checked_and_callable() {
    let bytes = built();
    // The verifier held it to six entries (build_image refuses otherwise);
    // against the project's five it finds one export too many.
    let five: Vec<Placed> = Entry::placed(ENTRIES, Arch::X86_64, Abi::Linux6_6).collect();
    let report = verify::verify(
        &bytes,
        Expect {
            arch: Arch::X86_64,
            entries: &five,
            variant: Variant::Host,
            abi: Abi::Linux6_6,
        },
    );
    assert_eq!(
        report.messages(),
        [
            "exported symbol __vdso_sixth is not an entry point of the list",
            "exported symbol sixth is not an entry point of the list",
        ]
    );
    let table = Elf::parse(&bytes)
        .and_then(|e| e.dynamic())
        .expect("a dynamic table");
    let offset = |name: &str| {
        let e = placed().into_iter().find(|e| e.entry.name == name)?;
        let gnu = table.lookup(HashTable::Gnu, e.symbol, e.version).ok()?;
        let sysv = table.lookup(HashTable::Sysv, e.symbol, e.version).ok()?;
        assert_eq!(gnu, sysv, "{name}: the hash tables disagree");
        assert_eq!(gnu.offset, e.offset(), "{name}: not at its slot");
        Some(gnu.offset)
    };
    let pages = DataPages::anonymous(Abi::Linux6_6).expect("data pages");
    // The loader holds it to the build's rules for its own list of six.
    let refused = Image::parse(bytes.clone())
        .map(|_| ())
        .expect_err("an extra export");
    assert!(
        refused
            .to_string()
            .contains("__vdso_sixth is not an entry point"),
        "{refused}"
    );
    let image =
        Image::parse_exporting(bytes.clone(), |_| placed()).expect("the kernel side loads it");
    let mapping = Mapping::new(&pages, &image).expect("mapping it");
    let base = mapping.base() as usize;
    // SAFETY: each address is the entry of that name in the image just
    // mapped above its data pages, resolved through its dynamic table;
    // `mapping` outlives every call below.
    let entries = unsafe { SixthPointers::resolve(|name| Some(base + offset(name)? as usize)) };
    let sixth = entries
        .sixth
        .expect("the typed pointers have the sixth entry");
    // SAFETY: the sixth entry takes and returns a plain integer.
    assert_eq!(unsafe { sixth(7) }, 43);
    let mut ts = common::clock::Timespec::default();
    let clock_gettime = entries.clock_gettime.expect("clock_gettime");
    // SAFETY: the image's clock_gettime with a writable timespec.
    let ret = unsafe { clock_gettime(common::clock::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(ret, 0);
    assert!(ts.tv_sec > 0, "the five still work beside it");
}

/// The per-entry types follow: the one of every entry has it after the
/// table's rows (`getrandom` among them, which only some layouts have),
/// and the one of the entries every layout has (what `vdso-run` counts)
/// too, since the sixth row is for every layout.
#[test]
fn a_sixth_row_gets_a_counter() {
    let five = [
        "clock_gettime",
        "gettimeofday",
        "time",
        "clock_getres",
        "getcpu",
    ];
    assert_eq!(
        SixthCounts::<u64>::NAMES,
        [&five[..], &["getrandom", "sixth"]].concat()
    );
    assert_eq!(
        SixthCountsOfEveryLayout::<u64>::NAMES,
        [&five[..], &["sixth"]].concat()
    );
    let mut counts = SixthCounts::<u64>::default();
    counts.sixth += 3;
    assert_eq!(counts.get("sixth"), Some(&3));
}
