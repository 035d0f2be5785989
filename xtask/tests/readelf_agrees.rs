//! The emitted images keep the image contract, and `layout.json` describes
//! them truthfully, as judged by GNU readelf: a second reader that shares no
//! code with xtask's verifier (nor with the `object` crate it uses), so a
//! bug in the verifier cannot hide the same bug in the images.
//!
//! The images come from `$VDSO_DIR` (set by `cargo xtask test`) or else
//! `target/vdso`: every layout's pair of every architecture in its folder,
//! and the x86_64 `linux-6.6` pair again at the top. The architectures are
//! those `cargo xtask test` says it built (`kernel_side::images::
//! built_arches`: every one, unless a machine lacks a toolchain and is not
//! CI). The tests fail, never skip, when an image is missing. Each
//! architecture's images are read by its own binutils' readelf.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The contract's images, stated here rather than taken from xtask so that
/// a wrong file name or variant there shows up as a failure.
const IMAGES: [(&str, &str); 2] = [("vdso.so", "host"), ("vdso-timens.so", "timens")];
/// The layout of the pair at the top.
const TOP: &str = "linux-6.6";
const SONAME: &str = "linux-vdso.so.1";

/// What one architecture's images are, stated from Linux's own vDSO for it
/// (its `vdso.lds.S`, and the symbols of the images Debian ships).
#[derive(Debug)]
struct ArchFacts {
    /// As `common::abi::Arch` names it.
    arch: &'static str,
    /// Its binutils' readelf.
    readelf: &'static str,
    /// `readelf -h`'s `Machine`.
    machine: &'static str,
    version: &'static str,
    prefix: &'static str,
    /// The C entries every layout has, in slot order.
    functions: &'static [&'static str],
    /// The layouts that also have `getrandom` (after the others).
    getrandom_layouts: &'static [&'static str],
    /// Whether each function has an unprefixed weak alias.
    weak_aliases: bool,
    /// Code labels a return lands on, not functions (`STT_NOTYPE`).
    trampolines: &'static [&'static str],
    /// Each layout's folder below the images' directory, and the layout.
    layouts: &'static [(&'static str, &'static str)],
}

const X86_64: ArchFacts = ArchFacts {
    arch: "x86_64",
    readelf: "readelf",
    machine: "Advanced Micro Devices X86-64",
    version: "LINUX_2.6",
    prefix: "__vdso_",
    functions: &[
        "clock_gettime",
        "gettimeofday",
        "time",
        "clock_getres",
        "getcpu",
    ],
    getrandom_layouts: &["linux-6.12", "linux-6.18"],
    weak_aliases: true,
    trampolines: &[],
    layouts: &[
        ("linux-6.6", "linux-6.6"),
        ("linux-6.12", "linux-6.12"),
        ("linux-6.18", "linux-6.18"),
    ],
};

const AARCH64: ArchFacts = ArchFacts {
    arch: "aarch64",
    readelf: "aarch64-linux-gnu-readelf",
    machine: "AArch64",
    version: "LINUX_2.6.39",
    prefix: "__kernel_",
    functions: &["clock_gettime", "gettimeofday", "clock_getres"],
    // An aarch64 ChaCha without stack use is work of its own.
    getrandom_layouts: &[],
    weak_aliases: false,
    trampolines: &["rt_sigreturn"],
    layouts: &[("aarch64/linux-6.18", "linux-6.18")],
};

/// The architectures whose images this run checks.
fn arches() -> Vec<&'static ArchFacts> {
    let built = kernel_side::images::built_arches();
    [&X86_64, &AARCH64]
        .into_iter()
        .filter(|facts| built.iter().any(|a| a.name() == facts.arch))
        .collect()
}
const MAX_SIZE: u64 = common::entries::MAX_IMAGE_SIZE as u64;

fn vdso_dir() -> PathBuf {
    match std::env::var_os("VDSO_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask sits inside the workspace")
            .join("target")
            .join("vdso"),
    }
}

/// The file at `dir/name`, or a failure that says how to make it.
fn existing(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} does not exist: run `cargo xtask build-vdso` first (or `cargo xtask test`, \
         which builds the images and then runs the tests)",
        path.display()
    );
    path
}

/// One readelf run; `LC_ALL=C` because the parsing below reads its English.
/// Returns what it printed, and appends what it complained of (readelf
/// warns on stderr and carries on) to `complaints`.
fn readelf(readelf: &str, args: &[&str], path: &Path, complaints: &mut Vec<String>) -> String {
    let out = Command::new(readelf)
        .args(args)
        .arg(path)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("running {readelf} (GNU binutils is required): {e}"));
    assert!(
        out.status.success(),
        "{readelf} {args:?} {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    complaints.extend(
        stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("readelf {}: {l}", args.join(" "))),
    );
    String::from_utf8(out.stdout).expect("readelf printed UTF-8")
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("{s:?} is not a hex number: {e}"))
}

/// readelf prints small sizes in decimal and large ones as `0x...`.
fn size(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => hex(h),
        None => s
            .parse()
            .unwrap_or_else(|e| panic!("{s:?} is not a size: {e}")),
    }
}

#[derive(Debug)]
struct Segment {
    kind: String,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    /// As readelf prints them, spaces removed: `RE`, `RW`, `R`.
    flags: String,
}

#[derive(Debug, Clone)]
struct Symbol {
    index: u64,
    value: u64,
    size: u64,
    kind: String,
    bind: String,
    ndx: String,
    name: String,
    /// `@@LINUX_2.6` gives `LINUX_2.6` (`default` true); `@V` gives `V`.
    version: Option<String>,
    default_version: bool,
}

#[derive(Debug)]
struct Note {
    owner: String,
    size: u64,
    kind: String,
    build_id: Option<String>,
    desc: Vec<u8>,
}

/// The folders below the images' directory, with the architecture and the
/// layout of each: the top first.
fn folders() -> Vec<(&'static str, &'static ArchFacts, &'static str)> {
    let mut out = vec![("", &X86_64, TOP)];
    for facts in arches() {
        out.extend(
            facts
                .layouts
                .iter()
                .map(|&(folder, abi)| (folder, facts, abi)),
        );
    }
    out
}

/// What readelf says about one image.
#[derive(Debug)]
struct Image {
    /// Its path below the images' directory, as the messages name it.
    file: String,
    /// Its folder there ("" for the top), its architecture and the layout
    /// it is for.
    folder: &'static str,
    arch: &'static ArchFacts,
    abi: &'static str,
    variant: &'static str,
    len: u64,
    header: BTreeMap<String, String>,
    segments: Vec<Segment>,
    /// Name and size of every section but the null one.
    sections: Vec<(String, u64)>,
    /// Dynamic tags by name, with readelf's rendering of the value.
    dynamic: Vec<(String, String)>,
    relocations: String,
    versions: String,
    symbols: Vec<Symbol>,
    notes: Vec<Note>,
    /// The address ranges the `.eh_frame` FDEs cover.
    fdes: Vec<std::ops::Range<u64>>,
    /// `.text`'s bytes, by address.
    text: BTreeMap<u64, u8>,
    /// What readelf printed on stderr (warnings, errors).
    complaints: Vec<String>,
}

impl Image {
    fn load(
        dir: &Path,
        (folder, arch, abi): (&'static str, &'static ArchFacts, &'static str),
        file: &str,
        variant: &'static str,
    ) -> Image {
        let path = existing(&dir.join(folder), file);
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            .len();
        // Parsing stays lenient: a damaged file (say, section headers past
        // its end) should fail the tests about that damage, not all of them.
        // Each test checks that what it relies on was found, since a rule
        // like "no writable segment" holds vacuously over an empty list.
        let mut c = Vec::new();
        let mut read = |args: &[&str]| readelf(arch.readelf, args, &path, &mut c);
        let (header, segments, sections) = (read(&["-hW"]), read(&["-lW"]), read(&["-SW"]));
        let (dynamic, relocations, versions) = (read(&["-dW"]), read(&["-rW"]), read(&["-VW"]));
        let (symbols, notes) = (read(&["--dyn-syms", "-W"]), read(&["-nW"]));
        let (frames, code) = (read(&["--debug-dump=frames"]), read(&["-x", ".text"]));
        Image {
            file: Path::new(folder).join(file).display().to_string(),
            folder,
            arch,
            abi,
            variant,
            len,
            header: parse_header(&header),
            segments: parse_segments(&segments),
            sections: parse_sections(&sections),
            dynamic: parse_dynamic(&dynamic),
            relocations,
            versions,
            symbols: parse_symbols(&symbols),
            notes: parse_notes(&notes),
            fdes: parse_fdes(&frames),
            text: parse_hex_dump(&code),
            complaints: c,
        }
    }

    fn header(&self, key: &str) -> &str {
        self.header
            .get(key)
            .unwrap_or_else(|| panic!("{}: readelf -h shows no {key:?}", self.file))
    }

    /// The leading number of a header value like `3808 (bytes into file)`.
    fn header_number(&self, key: &str) -> u64 {
        let value = self.header(key);
        let n = value.split_whitespace().next().unwrap_or_default();
        n.parse()
            .unwrap_or_else(|e| panic!("{}: {key} is {value:?}: {e}", self.file))
    }

    fn segments_of(&self, kind: &str) -> Vec<&Segment> {
        self.segments.iter().filter(|s| s.kind == kind).collect()
    }

    fn has_tag(&self, tag: &str) -> bool {
        self.dynamic.iter().any(|(t, _)| t == tag)
    }

    fn symbol(&self, name: &str) -> Option<&Symbol> {
        self.symbols.iter().find(|s| s.name == name)
    }

    /// The symbols a loader can resolve: defined, and not the absolute
    /// symbol ld defines for the version name.
    fn exports(&self) -> Vec<&Symbol> {
        self.symbols
            .iter()
            .filter(|s| {
                s.index != 0 && s.ndx != "UND" && !(s.ndx == "ABS" && s.name == self.arch.version)
            })
            .collect()
    }

    /// The 32-bit words of code at `at` onwards, as the CPU reads them.
    fn words(&self, at: u64, count: u64) -> Option<Vec<u32>> {
        (0..count)
            .map(|i| {
                let a = at + 4 * i;
                let bytes = [0, 1, 2, 3].map(|j| self.text.get(&(a + j)).copied());
                Some(u32::from_le_bytes([
                    bytes[0]?, bytes[1]?, bytes[2]?, bytes[3]?,
                ]))
            })
            .collect()
    }
}

/// `pc=0000000000000800..0000000000000804` of each FDE readelf prints.
fn parse_fdes(text: &str) -> Vec<std::ops::Range<u64>> {
    text.lines()
        .filter(|l| l.contains(" FDE "))
        .filter_map(|l| {
            let (start, end) = l.split_once("pc=")?.1.split_once("..")?;
            Some(hex(start)..hex(end.split_whitespace().next()?))
        })
        .collect()
}

/// `readelf -x`'s dump: `  0x00000800 5f2403d5 1f2c0071 ...  text`.
fn parse_hex_dump(text: &str) -> BTreeMap<u64, u8> {
    let mut bytes = BTreeMap::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        let Some(addr) = t.first().filter(|a| a.starts_with("0x")).map(|a| hex(a)) else {
            continue;
        };
        // Up to four groups of up to 8 hex digits, then the ASCII column.
        let groups = t[1..].iter().take(4).take_while(|g| {
            g.len() <= 8 && g.len() % 2 == 0 && g.chars().all(|c| c.is_ascii_hexdigit())
        });
        let mut at = addr;
        for g in groups {
            for i in (0..g.len()).step_by(2) {
                bytes.insert(at, u8::from_str_radix(&g[i..i + 2], 16).expect("hex"));
                at += 1;
            }
        }
    }
    bytes
}

fn parse_header(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn parse_segments(text: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.first() == Some(&"Type") && t.contains(&"Flg") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        // The table ends at the blank line before the section mapping.
        if t.is_empty() {
            break;
        }
        // A continuation such as `[Requesting program interpreter: ...]`.
        if t.len() < 8 || !t[1].starts_with("0x") {
            continue;
        }
        out.push(Segment {
            kind: t[0].to_string(),
            offset: hex(t[1]),
            vaddr: hex(t[2]),
            filesz: hex(t[4]),
            memsz: hex(t[5]),
            flags: t[6..t.len() - 1].concat(),
        });
    }
    out
}

fn parse_sections(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim_start().strip_prefix('[')?;
            let (index, rest) = rest.split_once(']')?;
            // Skip the column titles (`[Nr]`) and the null section.
            if index.trim().parse::<u32>().ok()? == 0 {
                return None;
            }
            let t: Vec<&str> = rest.split_whitespace().collect();
            // name, type, address, offset, size, ...
            Some((t.first()?.to_string(), hex(t.get(4)?)))
        })
        .collect()
}

fn parse_dynamic(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            if !l.starts_with("0x") {
                return None;
            }
            let open = l.find('(')?;
            let close = open + l[open..].find(')')?;
            let tag = l[open + 1..close].to_string();
            Some((tag, l[close + 1..].trim().to_string()))
        })
        .collect()
}

fn parse_symbols(text: &str) -> Vec<Symbol> {
    text.lines()
        .filter_map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let index = t.first()?.strip_suffix(':')?.parse().ok()?;
            let full = t.get(7).copied().unwrap_or("");
            let (name, version, default_version) = match full.split_once("@@") {
                Some((n, v)) => (n, Some(v.to_string()), true),
                None => match full.split_once('@') {
                    Some((n, v)) => (n, Some(v.to_string()), false),
                    None => (full, None, false),
                },
            };
            Some(Symbol {
                index,
                value: hex(t.get(1)?),
                size: size(t.get(2)?),
                kind: t.get(3)?.to_string(),
                bind: t.get(4)?.to_string(),
                ndx: t.get(6)?.to_string(),
                name: name.to_string(),
                version,
                default_version,
            })
        })
        .collect()
}

fn parse_notes(text: &str) -> Vec<Note> {
    text.lines()
        .filter_map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let size = t.get(1).filter(|s| s.starts_with("0x")).map(|s| hex(s))?;
            let owner = t[0].to_string();
            let after_size = l.split_once(t[1]).map_or("", |(_, rest)| rest);
            let kind = after_size
                .split('\t')
                .find(|s| !s.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string();
            let build_id = l
                .split_once("Build ID:")
                .map(|(_, id)| id.trim().to_string());
            let desc = l
                .split_once("description data:")
                .map(|(_, bytes)| bytes.split_whitespace().map(|b| hex(b) as u8).collect())
                .unwrap_or_default();
            Some(Note {
                owner,
                size,
                kind,
                build_id,
                desc,
            })
        })
        .collect()
}

fn images() -> &'static [Image] {
    static IMAGES_READ: OnceLock<Vec<Image>> = OnceLock::new();
    IMAGES_READ.get_or_init(|| {
        let dir = vdso_dir();
        folders()
            .into_iter()
            .flat_map(|place| {
                let dir = &dir;
                IMAGES
                    .iter()
                    .map(move |(file, variant)| Image::load(dir, place, file, variant))
            })
            .collect()
    })
}

/// The pair in `folder`.
fn pair(folder: &str) -> [&'static Image; 2] {
    let pair: Vec<&Image> = images().iter().filter(|i| i.folder == folder).collect();
    pair.try_into().expect("two images in each folder")
}

fn layout(folder: &str) -> Value {
    let path = existing(&vdso_dir().join(folder), "layout.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Collects every broken rule (across both images) so one run names them all.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    #[track_caller]
    fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "readelf disagrees:\n  {}",
            self.0.join("\n  ")
        );
    }
}

#[test]
fn readelf_reads_the_images_without_complaint() {
    let mut p = Problems::default();
    for img in images() {
        for c in &img.complaints {
            p.check(false, || format!("{}: {c}", img.file));
        }
    }
    p.assert_none();
}

#[test]
fn images_are_shared_objects_of_their_architecture() {
    let mut p = Problems::default();
    for img in images() {
        let f = &img.file;
        p.check(img.header("Class") == "ELF64", || {
            format!("{f}: class {}", img.header("Class"))
        });
        p.check(img.header("Data").contains("little endian"), || {
            format!("{f}: data {}", img.header("Data"))
        });
        p.check(img.header("Machine") == img.arch.machine, || {
            format!("{f}: machine {}", img.header("Machine"))
        });
        p.check(img.header("Type").starts_with("DYN "), || {
            format!("{f}: type {}", img.header("Type"))
        });
    }
    p.assert_none();
}

#[test]
fn images_map_as_one_read_execute_segment() {
    let mut p = Problems::default();
    for img in images() {
        let f = &img.file;
        p.check(!img.segments.is_empty(), || {
            format!("{f}: readelf -l shows no program headers")
        });
        let loads = img.segments_of("LOAD");
        p.check(loads.len() == 1, || {
            format!("{f}: {} LOAD segments, not 1", loads.len())
        });
        for load in loads {
            p.check(load.offset == 0 && load.vaddr == 0, || {
                format!(
                    "{f}: LOAD at offset {:#x}, vaddr {:#x}",
                    load.offset, load.vaddr
                )
            });
            p.check(load.flags == "RE", || {
                format!("{f}: LOAD flags {:?}", load.flags)
            });
            p.check(load.filesz == load.memsz, || {
                format!(
                    "{f}: LOAD FileSiz {:#x} != MemSiz {:#x}",
                    load.filesz, load.memsz
                )
            });
        }
        for kind in ["DYNAMIC", "NOTE", "GNU_EH_FRAME"] {
            p.check(!img.segments_of(kind).is_empty(), || {
                format!("{f}: no {kind} segment")
            });
        }
        for kind in ["INTERP", "GNU_RELRO", "TLS", "GNU_STACK"] {
            p.check(img.segments_of(kind).is_empty(), || {
                format!("{f}: a {kind} segment")
            });
        }
        for s in &img.segments {
            p.check(!s.flags.contains('W'), || {
                format!("{f}: {} segment is writable ({})", s.kind, s.flags)
            });
        }
    }
    p.assert_none();
}

#[test]
fn images_need_no_relocations_or_libraries() {
    let mut p = Problems::default();
    for img in images() {
        let f = &img.file;
        p.check(!img.dynamic.is_empty(), || {
            format!("{f}: readelf -d shows no dynamic table")
        });
        p.check(
            img.relocations.trim() == "There are no relocations in this file.",
            || format!("{f}: readelf -r shows\n{}", img.relocations.trim()),
        );
        for tag in ["NEEDED", "REL", "RELA", "JMPREL", "PLTGOT", "TEXTREL"] {
            p.check(!img.has_tag(tag), || format!("{f}: dynamic tag {tag}"));
        }
        for (tag, value) in &img.dynamic {
            p.check(
                !(tag.starts_with("FLAGS") && value.contains("TEXTREL")),
                || format!("{f}: {tag} {value}"),
            );
        }
    }
    p.assert_none();
}

#[test]
fn images_are_linux_vdso_with_both_hash_tables() {
    let mut p = Problems::default();
    for img in images() {
        let f = &img.file;
        let sonames: Vec<&String> = img
            .dynamic
            .iter()
            .filter(|(t, _)| t == "SONAME")
            .map(|(_, v)| v)
            .collect();
        p.check(sonames == [&format!("Library soname: [{SONAME}]")], || {
            format!("{f}: SONAME entries {sonames:?}")
        });
        for tag in ["HASH", "GNU_HASH"] {
            p.check(img.has_tag(tag), || format!("{f}: no {tag} dynamic tag"));
        }
    }
    p.assert_none();
}

/// Linux's names and version: on x86_64 `__vdso_*` with weak unprefixed
/// aliases at `LINUX_2.6`; on arm64 `__kernel_*` at `LINUX_2.6.39`, no
/// aliases, and the signal trampoline a code label (`NOTYPE`) of 8 bytes.
#[test]
fn images_export_each_entry_under_linuxs_names_and_version() {
    let mut p = Problems::default();
    for img in images() {
        let f = &img.file;
        let facts = img.arch;
        let version = facts.version;
        // `getrandom` from Linux 6.11: in the layouts the contract names,
        // never in the others (the exact set of exports is checked below).
        let has_getrandom = facts.getrandom_layouts.contains(&img.abi);
        let functions = facts
            .functions
            .iter()
            .copied()
            .chain(has_getrandom.then_some("getrandom"));
        let defined: Vec<&str> = img
            .versions
            .lines()
            .filter_map(|l| l.split_once("Name: ").map(|(_, n)| n.trim()))
            .collect();
        p.check(defined.contains(&version), || {
            format!("{f}: version definitions {defined:?} lack {version}")
        });
        let mut expected_exports = BTreeSet::new();
        let mut check = |name: &str, kind: &str, bind: &str, p: &mut Problems| {
            expected_exports.insert(name.to_string());
            let Some(s) = img.symbol(name) else {
                p.check(false, || format!("{f}: {name} is not in .dynsym"));
                return None;
            };
            p.check(s.kind == kind && s.bind == bind, || {
                format!("{f}: {name} is {} {}, not {bind} {kind}", s.bind, s.kind)
            });
            p.check(
                s.version.as_deref() == Some(version) && s.default_version,
                || format!("{f}: {name} has version {:?}, not @@{version}", s.version),
            );
            Some(s.value)
        };
        for name in functions {
            let symbol = format!("{}{name}", facts.prefix);
            let global = check(&symbol, "FUNC", "GLOBAL", &mut p);
            if facts.weak_aliases {
                let weak = check(name, "FUNC", "WEAK", &mut p);
                p.check(global == weak, || {
                    format!("{f}: {name} at {weak:x?}, {symbol} at {global:x?}")
                });
            }
        }
        for name in facts.trampolines {
            let symbol = format!("{}{name}", facts.prefix);
            check(&symbol, "NOTYPE", "GLOBAL", &mut p);
            let size = img.symbol(&symbol).map(|s| s.size);
            p.check(size == Some(8), || {
                format!("{f}: {symbol} is {size:?} bytes, not 8")
            });
        }
        let exported: BTreeSet<String> = img.exports().iter().map(|s| s.name.clone()).collect();
        p.check(exported == expected_exports, || {
            format!("{f}: exports {exported:?}, not {expected_exports:?}")
        });
        for s in &img.symbols {
            p.check(s.index == 0 || s.ndx != "UND", || {
                format!("{f}: undefined symbol {} (index {})", s.name, s.index)
            });
        }
    }
    p.assert_none();
}

/// arm64's `__kernel_rt_sigreturn` is Linux's (`arch/arm64/kernel/vdso/
/// sigreturn.S`): a `nop`, then at the symbol `mov x8, #139` and `svc #0`,
/// the two words libgcc, gdb and libunwind recognise a signal frame by.
/// Linux's image has no unwind entry for it (its CFI is commented out since
/// 2020, and its `.eh_frame` is discarded), so unwinders fall back on
/// those words; none of ours covers the `nop` or the two words either.
/// Every function, on the other hand, has one.
#[test]
fn the_signal_trampoline_is_linuxs_and_no_unwind_entry_covers_it() {
    const NOP: u32 = 0xd503201f;
    const MOV_X8_139: u32 = 0xd2801168;
    const SVC_0: u32 = 0xd4000001;
    let mut p = Problems::default();
    let mut checked = 0;
    for img in images() {
        let f = &img.file;
        p.check(!img.fdes.is_empty(), || {
            format!("{f}: readelf --debug-dump=frames shows no FDE")
        });
        for name in img.arch.trampolines {
            let symbol = format!("{}{name}", img.arch.prefix);
            let Some(at) = img.symbol(&symbol).map(|s| s.value) else {
                continue; // reported by the exports' test
            };
            checked += 1;
            let words = img.words(at - 4, 3);
            p.check(words == Some(vec![NOP, MOV_X8_139, SVC_0]), || {
                format!(
                    "{f}: {symbol} at {at:#x}: the words from {:#x} are {words:x?}",
                    at - 4
                )
            });
            for fde in &img.fdes {
                p.check(fde.end <= at - 4 || fde.start >= at + 8, || {
                    format!(
                        "{f}: the FDE {fde:#x?} covers {symbol}'s code {:#x}..{:#x}",
                        at - 4,
                        at + 8
                    )
                });
            }
        }
        for name in img.arch.functions {
            let symbol = format!("{}{name}", img.arch.prefix);
            if let Some(at) = img.symbol(&symbol).map(|s| s.value) {
                p.check(img.fdes.iter().any(|r| r.contains(&at)), || {
                    format!("{f}: no FDE covers {symbol} at {at:#x}")
                });
            }
        }
    }
    let expected: usize = folders()
        .iter()
        .map(|(_, facts, _)| facts.trampolines.len() * IMAGES.len())
        .sum();
    p.check(checked == expected, || {
        format!("{checked} trampolines found, {expected} expected")
    });
    p.assert_none();
}

#[test]
fn images_have_no_data_got_or_plt_sections() {
    let mut p = Problems::default();
    for img in images() {
        // Every image has .text, so an empty list means unreadable headers.
        p.check(!img.sections.is_empty(), || {
            format!("{}: readelf -S shows no sections", img.file)
        });
        for (name, _) in &img.sections {
            let forbidden = [".data", ".bss", ".got", ".plt"]
                .iter()
                .any(|f| name == f || name.starts_with(&format!("{f}.")));
            p.check(!forbidden, || format!("{}: section {name}", img.file));
        }
    }
    p.assert_none();
}

#[test]
fn images_fit_in_two_pages_with_their_section_headers() {
    let mut p = Problems::default();
    for img in images() {
        let f = &img.file;
        p.check(img.len <= MAX_SIZE, || {
            format!("{f}: {} bytes, more than {MAX_SIZE}", img.len)
        });
        let end = img.header_number("Start of section headers")
            + img.header_number("Number of section headers")
                * img.header_number("Size of section headers");
        p.check(end <= img.len, || {
            format!(
                "{f}: section headers end at {end}, past the file's {} bytes",
                img.len
            )
        });
    }
    p.assert_none();
}

#[test]
fn images_carry_a_build_id_and_their_variant_note() {
    let mut p = Problems::default();
    for img in images() {
        let f = &img.file;
        let build_ids: Vec<&Note> = img
            .notes
            .iter()
            .filter(|n| n.owner == "GNU" && n.kind.starts_with("NT_GNU_BUILD_ID"))
            .collect();
        p.check(
            build_ids.len() == 1
                && build_ids[0]
                    .build_id
                    .as_ref()
                    .is_some_and(|id| !id.is_empty()),
            || format!("{f}: GNU build-id notes {build_ids:?}"),
        );
        // readelf names type 1 of an owner it does not know NT_VERSION,
        // and type 3 not at all.
        let ours: Vec<&Note> = img.notes.iter().filter(|n| n.owner == "vdso-rs").collect();
        let spelled = |text: &str| {
            let mut desc = [0u8; 16];
            desc[..text.len()].copy_from_slice(text.as_bytes());
            desc
        };
        p.check(
            ours.len() == 2
                && ours.iter().all(|n| n.size == 16)
                && ours[0].kind.starts_with("NT_VERSION")
                && ours[0].desc == spelled(img.variant)
                && ours[1].kind.contains("(0x00000003)")
                && ours[1].desc == spelled(img.abi),
            || {
                format!(
                    "{f}: vdso-rs notes {ours:?}, expected type 1 spelling {:?} and type 3 spelling {:?}",
                    img.variant, img.abi
                )
            },
        );
    }
    p.assert_none();
}

fn field<'a>(v: &'a Value, key: &str, what: &str) -> &'a Value {
    v.get(key)
        .unwrap_or_else(|| panic!("layout.json: {what} has no {key:?}"))
}

fn number(v: &Value, key: &str, what: &str) -> u64 {
    field(v, key, what)
        .as_u64()
        .unwrap_or_else(|| panic!("layout.json: {what}.{key} is not an unsigned number"))
}

fn text<'a>(v: &'a Value, key: &str, what: &str) -> &'a str {
    field(v, key, what)
        .as_str()
        .unwrap_or_else(|| panic!("layout.json: {what}.{key} is not a string"))
}

#[test]
fn layout_json_describes_the_images_as_readelf_sees_them() {
    let mut p = Problems::default();
    for (folder, facts, abi) in folders() {
        let layout = layout(folder);
        describes_its_images(&layout, folder, &mut p);
        p.check(text(&layout, "arch", folder) == facts.arch, || {
            format!(
                "{folder}/layout.json names the architecture {}",
                text(&layout, "arch", folder)
            )
        });
        p.check(text(&layout, "abi", folder) == abi, || {
            format!(
                "{folder}/layout.json names the layout {}",
                text(&layout, "abi", folder)
            )
        });
    }
    p.assert_none();
}

fn describes_its_images(layout: &Value, folder: &str, p: &mut Problems) {
    let listed = field(layout, "images", "the top level")
        .as_array()
        .expect("layout.json: images is not an array");
    p.check(listed.len() == IMAGES.len(), || {
        format!(
            "{folder}/layout.json lists {} images, not {}",
            listed.len(),
            IMAGES.len()
        )
    });
    for img in pair(folder) {
        let f = &img.file;
        let name = Path::new(f).file_name().and_then(|n| n.to_str());
        let Some(entry) = listed
            .iter()
            .find(|i| i.get("file").and_then(Value::as_str) == name)
        else {
            p.check(false, || format!("layout.json does not list {f}"));
            continue;
        };
        p.check(text(entry, "variant", f) == img.variant, || {
            format!("layout.json: {f} variant {:?}", text(entry, "variant", f))
        });
        p.check(number(entry, "size", f) == img.len, || {
            format!(
                "layout.json: {f} size {} but the file has {}",
                number(entry, "size", f),
                img.len
            )
        });
        let build_id = img
            .notes
            .iter()
            .find_map(|n| n.build_id.clone())
            .unwrap_or_default();
        p.check(text(entry, "build_id", f) == build_id, || {
            format!(
                "layout.json: {f} build id {} but readelf shows {build_id}",
                text(entry, "build_id", f)
            )
        });
        let text_size = img
            .sections
            .iter()
            .find(|(n, _)| n == ".text")
            .map(|(_, s)| *s);
        p.check(Some(number(entry, "text_size", f)) == text_size, || {
            format!(
                "layout.json: {f} text_size {} but readelf shows .text {text_size:?}",
                number(entry, "text_size", f)
            )
        });
        let symbols = field(entry, "symbols", f)
            .as_array()
            .expect("layout.json: symbols is not an array");
        let in_layout: BTreeSet<&str> = symbols.iter().map(|s| text(s, "name", f)).collect();
        let exported: BTreeSet<&str> = img.exports().iter().map(|s| s.name.as_str()).collect();
        p.check(in_layout == exported, || {
            format!("{f}: layout.json lists symbols {in_layout:?}, readelf exports {exported:?}")
        });
        for s in symbols {
            let name = text(s, "name", f);
            let what = format!("{f} symbol {name}");
            let Some(sym) = img.symbol(name) else {
                continue; // reported above
            };
            let bind = match text(s, "binding", &what) {
                "global" => "GLOBAL",
                "weak" => "WEAK",
                other => other,
            };
            p.check(
                number(s, "offset", &what) == sym.value
                    && number(s, "size", &what) == sym.size
                    && bind == sym.bind
                    && Some(text(s, "version", &what)) == sym.version.as_deref(),
                || format!("layout.json has {s} but readelf shows {sym:?}"),
            );
        }
    }
}

#[test]
fn entries_sit_at_the_same_slots_in_both_images() {
    let mut p = Problems::default();
    for (folder, facts, abi) in folders() {
        same_slots(folder, facts, abi, &mut p);
    }
    p.assert_none();
}

fn same_slots(folder: &str, facts: &ArchFacts, abi: &str, p: &mut Problems) {
    let layout = layout(folder);
    let slots = field(&layout, "slots", "the top level")
        .as_array()
        .expect("layout.json: slots is not an array");
    let listed: Vec<(String, Option<String>, u64, u64)> = slots
        .iter()
        .map(|s| {
            (
                text(s, "symbol", "a slot").to_string(),
                field(s, "alias", "a slot").as_str().map(String::from),
                number(s, "offset", "a slot"),
                number(s, "size", "a slot"),
            )
        })
        .collect();
    let abi = common::abi::Abi::from_name(abi).expect("a layout xtask builds");
    let arch = common::abi::Arch::from_name(facts.arch).expect("an architecture xtask builds");
    let expected: Vec<(String, Option<String>, u64, u64)> = xtask::build_vdso::entries(arch, abi)
        .iter()
        .map(|e| {
            let alias = e.alias.map(String::from);
            (e.symbol.into(), alias, e.offset(), e.symbol_room())
        })
        .collect();
    p.check(listed == expected, || {
        format!(
            "{folder}/layout.json slots {listed:?} differ from the table of entries {expected:?}"
        )
    });
    let [host, timens] = pair(folder);
    let offsets = |img: &Image| -> BTreeMap<String, u64> {
        img.exports()
            .iter()
            .map(|s| (s.name.clone(), s.value))
            .collect()
    };
    let (h, t) = (offsets(host), offsets(timens));
    p.check(h == t, || {
        format!(
            "symbol offsets differ: {} {h:x?}, {} {t:x?}",
            host.file, timens.file
        )
    });
    for (symbol, alias, offset, _) in &listed {
        for img in [host, timens] {
            for name in std::iter::once(symbol).chain(alias) {
                let found = img.symbol(name).map(|s| s.value);
                p.check(found == Some(*offset), || {
                    format!(
                        "{}: {name} at {found:x?}, its slot is at {offset:#x}",
                        img.file
                    )
                });
            }
        }
    }
}

/// Each `layout.json` gives its layout's data pages as Linux places them
/// (offsets from the image base; stated here from the kernels' sources and
/// this machine's 6.18 pages, not taken from `common`).
#[test]
fn layout_json_places_each_layouts_data_pages() {
    let expected = |abi: &str| -> Value {
        let linux_4_pages = |clock_size: u64, rng: Value, in_time_slot: bool| {
            serde_json::json!({
                "count": 4, "page_size": 4096,
                "time": -16384, "pvclock": -12288, "hvclock": -8192, "namespace": -4096,
                "rng": rng, "namespace_page_in_time_slot": in_time_slot,
                "clocks_at": 128, "clock_size": clock_size, "aux_clocks": 0,
                "tz_minuteswest": 128 + clock_size - 16, "hrtimer_res": 128 + clock_size - 8,
                "cs_hres_coarse": 0, "cs_raw": 1,
            })
        };
        match abi {
            "linux-6.6" => linux_4_pages(240, Value::Null, false),
            "linux-6.12" => linux_4_pages(
                248,
                serde_json::json!({"page": -16384, "offset": 640}),
                true,
            ),
            "linux-6.18" => serde_json::json!({
                "count": 6, "page_size": 4096,
                "time": -24576, "namespace": -20480, "rng": {"page": -16384, "offset": 0},
                "pvclock": -8192, "hvclock": -4096, "namespace_page_in_time_slot": true,
                "clocks_at": 0, "clock_size": 232, "aux_clocks": 8,
                "tz_minuteswest": 2320, "hrtimer_res": 2328,
                "cs_hres_coarse": 0, "cs_raw": 1,
            }),
            // arm64's generic data store: four pages, no vclock pages, and
            // `vdso_clock` without `max_cycles` (read from Linux 6.18's
            // arm64 machine code: time at B-16384, the real time data of a
            // namespaced process at B-12288, the rng at B-8192,
            // `hrtimer_res` at 2248).
            "aarch64 linux-6.18" => serde_json::json!({
                "count": 4, "page_size": 4096,
                "time": -16384, "namespace": -12288, "rng": {"page": -8192, "offset": 0},
                "pvclock": null, "hvclock": null, "namespace_page_in_time_slot": true,
                "clocks_at": 0, "clock_size": 224, "aux_clocks": 8,
                "tz_minuteswest": 2240, "hrtimer_res": 2248,
                "cs_hres_coarse": 0, "cs_raw": 1,
            }),
            other => panic!("no facts for {other}"),
        }
    };
    let mut p = Problems::default();
    for (folder, facts, abi) in folders() {
        let pages = field(&layout(folder), "data_pages", "the top level").clone();
        let want = match facts.arch {
            "x86_64" => expected(abi),
            arch => expected(&format!("{arch} {abi}")),
        };
        p.check(pages == want, || {
            format!("{folder}/layout.json: data_pages {pages}, not {want}")
        });
    }
    p.assert_none();
}

/// The pair at the top is the `linux-6.6` pair, byte for byte, for users
/// who took `target/vdso/vdso.so` before each layout had a folder.
#[test]
fn the_top_pair_is_the_linux_6_6_pair() {
    let dir = vdso_dir();
    for (file, _) in IMAGES {
        let top = std::fs::read(existing(&dir, file)).expect("readable");
        let nested = std::fs::read(existing(&dir.join(TOP), file)).expect("readable");
        assert!(top == nested, "{file} differs from {TOP}/{file}");
    }
}
