//! The running kernel's data layout, recognised from its version and its
//! own pages: which pair of images could replace its vDSO, or why none can.
//!
//! Mapping sizes alone cannot tell: 6.13 and 6.14 map `[vvar]` where 6.10
//! to 6.12 do, 6.15 and 6.16 where 6.17 and later do, and distribution
//! kernels backport. So the version (`uname`) names the layout to expect,
//! and the pages must agree with it:
//!
//! - the two clock entries' sequence counts are equal and even (the kernel
//!   bumps them together), at the layout's stride, which no other layout
//!   shares with its neighbours (240, 248, 248, 232, 232);
//! - both entries hold the same clock mode, one Linux defines;
//! - `hrtimer_res` where the layout keeps it is a resolution (1 ns with
//!   high-resolution timers, else a tick of at most 10 ms); 6.15 and 6.16
//!   keep it at 472, where 6.17 keeps aux clock 0's `cycle_last`, and have
//!   nothing at 2328, where 6.17 keeps it.
//!
//! In a time namespace the page a host process reads holds offsets (both
//! entries `seq = 1`, `clock_mode = INT_MAX`) and the checks read the real
//! data where Linux moved it. No page the kernel leaves unpopulated for
//! this process is touched: those raise SIGBUS.

use std::fmt;
use std::fs;

use common::abi::{Abi, Arch};
use common::layout::LayoutInfo;
use common::vvar::{PAGE_SIZE, RngData};
use vdso_elf::{Elf, HashTable};

/// A data layout of some range of Linux versions (x86_64), served or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelLayout {
    /// 5.7 to 6.9: the `linux-6.6` pair.
    Linux5_7,
    /// 6.10 to 6.12: the `linux-6.12` pair.
    Linux6_10,
    /// 6.13 and 6.14: `vdso_data` at the start of `[vvar]`. Not served.
    Linux6_13,
    /// 6.15 and 6.16: the generic data store without aux clocks. Not served.
    Linux6_15,
    /// 6.17 and later: the `linux-6.18` pair.
    Linux6_17,
}

/// Where a layout keeps what the recognition reads, relative to the image
/// base `B`.
struct Shape {
    /// `[vvar]` starts at `B - vvar_pages * 4096`; its first page is the
    /// time data a host process reads.
    vvar_pages: usize,
    /// The first clock entry's offset in that page, and the stride to the
    /// second.
    clocks_at: usize,
    stride: usize,
    hrtimer_res_at: usize,
    /// Where a namespaced process's real time data is, in pages below `B`.
    real_pages_below: usize,
}

impl KernelLayout {
    pub const ALL: [KernelLayout; 5] = [
        KernelLayout::Linux5_7,
        KernelLayout::Linux6_10,
        KernelLayout::Linux6_13,
        KernelLayout::Linux6_15,
        KernelLayout::Linux6_17,
    ];

    /// The layout a kernel of `major.minor` uses, or `None` before 5.7,
    /// the first version the `linux-6.6` pair is built and checked for.
    pub fn of_version(major: u32, minor: u32) -> Option<KernelLayout> {
        Some(match (major, minor) {
            (0..=4, _) | (5, 0..=6) => return None,
            (5, _) | (6, 0..=9) => KernelLayout::Linux5_7,
            (6, 10..=12) => KernelLayout::Linux6_10,
            (6, 13..=14) => KernelLayout::Linux6_13,
            (6, 15..=16) => KernelLayout::Linux6_15,
            _ => KernelLayout::Linux6_17,
        })
    }

    /// The pair of images that serves it.
    pub fn served(self) -> Option<Abi> {
        match self {
            KernelLayout::Linux5_7 => Some(Abi::Linux6_6),
            KernelLayout::Linux6_10 => Some(Abi::Linux6_12),
            KernelLayout::Linux6_13 | KernelLayout::Linux6_15 => None,
            KernelLayout::Linux6_17 => Some(Abi::Linux6_18),
        }
    }

    /// The versions that use it.
    pub fn kernels(self) -> &'static str {
        match self {
            KernelLayout::Linux5_7 => "5.7 to 6.9",
            KernelLayout::Linux6_10 => "6.10 to 6.12",
            KernelLayout::Linux6_13 => "6.13 to 6.14",
            KernelLayout::Linux6_15 => "6.15 to 6.16",
            KernelLayout::Linux6_17 => "6.17 and later",
        }
    }

    fn shape(self) -> Shape {
        let (vvar_pages, clocks_at, stride, hrtimer_res_at, real_pages_below) = match self {
            KernelLayout::Linux5_7 => (4, 128, 240, 128 + 232, 1),
            KernelLayout::Linux6_10 => (4, 128, 248, 128 + 240, 1),
            KernelLayout::Linux6_13 => (4, 0, 248, 240, 3),
            KernelLayout::Linux6_15 => (6, 0, 232, 472, 5),
            KernelLayout::Linux6_17 => (6, 0, 232, 2328, 5),
        };
        Shape {
            vvar_pages,
            clocks_at,
            stride,
            hrtimer_res_at,
            real_pages_below,
        }
    }
}

impl fmt::Display for KernelLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the Linux {} layout", self.kernels())
    }
}

/// The running kernel, recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recognised {
    /// `uname -r`.
    pub release: String,
    pub layout: KernelLayout,
    /// Whether this process is in a time namespace other than the host's.
    pub namespaced: bool,
    /// The time data's clock mode (`common::vvar::clock_mode`): whether
    /// the vDSO reads the TSC, a paravirtual clock, or asks the kernel.
    pub clock_mode: i32,
}

#[derive(Debug)]
pub enum RecogniseError {
    /// The layouts recognised are x86_64 kernels'; this process runs on
    /// another architecture.
    Architecture(Arch),
    /// No `[vdso]`/`[vvar]` in this process (valgrind, `vdso=0`).
    NoVdso,
    /// A release `uname` gives that names no version.
    Release(String),
    /// A kernel older than 5.7.
    TooOld(String),
    /// The pages match no layout.
    Unknown { release: String },
    /// The pages match another layout than the version's: a backport.
    Mismatch {
        release: String,
        version_says: KernelLayout,
        pages_say: KernelLayout,
    },
}

impl fmt::Display for RecogniseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecogniseError::Architecture(arch) => write!(
                f,
                "recognising the running kernel's data layout is implemented for x86_64 kernels; this is {arch}"
            ),
            RecogniseError::NoVdso => write!(f, "this process has no [vdso] and [vvar] mappings"),
            RecogniseError::Release(r) => write!(f, "cannot read a version from the release {r:?}"),
            RecogniseError::TooOld(r) => {
                write!(
                    f,
                    "Linux {r} predates the data layouts served (5.7 and later): no pair serves it"
                )
            }
            RecogniseError::Unknown { release } => write!(
                f,
                "Linux {release}: its [vvar] pages match no known vDSO data layout"
            ),
            RecogniseError::Mismatch {
                release,
                version_says,
                pages_say,
            } => write!(
                f,
                "Linux {release} should use {version_says}, but its [vvar] pages hold {pages_say}"
            ),
        }
    }
}

impl std::error::Error for RecogniseError {}

/// `uname -r`.
pub fn release() -> String {
    // SAFETY: uname fills the zeroed struct it is given.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: as above; it cannot fail with a valid pointer.
    unsafe { libc::uname(&mut u) };
    // SAFETY: the kernel NUL-terminates `release` within its array.
    let release = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) };
    release.to_string_lossy().into_owned()
}

/// `major.minor` of a release such as `6.18.44-cloud-amd64`.
pub fn version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Recognises the running kernel's layout from its version and this
/// process's `[vvar]` pages.
pub fn recognise() -> Result<Recognised, RecogniseError> {
    if Arch::HOST != Arch::X86_64 {
        return Err(RecogniseError::Architecture(Arch::HOST));
    }
    let release = release();
    let (major, minor) =
        version(&release).ok_or_else(|| RecogniseError::Release(release.clone()))?;
    let expected = KernelLayout::of_version(major, minor)
        .ok_or_else(|| RecogniseError::TooOld(release.clone()))?;
    let vvar = Vvar::find().ok_or(RecogniseError::NoVdso)?;
    let matches = |layout: KernelLayout| vvar.holds(layout);
    if let Some((namespaced, clock_mode)) = matches(expected) {
        return Ok(Recognised {
            release,
            layout: expected,
            namespaced,
            clock_mode,
        });
    }
    let others: Vec<KernelLayout> = KernelLayout::ALL
        .into_iter()
        .filter(|&l| l != expected && matches(l).is_some())
        .collect();
    match others[..] {
        [pages_say] => Err(RecogniseError::Mismatch {
            release,
            version_says: expected,
            pages_say,
        }),
        _ => Err(RecogniseError::Unknown { release }),
    }
}

/// The kernel's random generator data (`generation`, `is_ready`) as this
/// process's `[vvar]` pages show it, on a kernel whose layout a pair serves
/// and whose vDSO has `getrandom`: where the layout keeps it (for a process
/// in a time namespace, where Linux moved it), for whoever must mirror it
/// into data pages of their own (vdso-run replaces a program's `[vvar]`).
/// `None` where the kernel has no such data for this process: a layout
/// without it, or a kernel built without `CONFIG_VDSO_GETRANDOM`, which
/// leaves the page unpopulated (a read would be SIGBUS) and exports no
/// `getrandom` from its vDSO.
pub fn kernel_rng() -> Option<&'static RngData> {
    let recognised = recognise().ok()?;
    let info = LayoutInfo::get(Arch::HOST, recognised.layout.served()?)?;
    let (slot, at) = if recognised.namespaced {
        info.namespaced_rng()?
    } else {
        info.rng?
    };
    if !kernel_vdso_exports("getrandom") {
        return None;
    }
    let vvar = Vvar::find()?;
    let addr = vvar
        .base
        .checked_add_signed(info.offset(slot))?
        .checked_add(at)?;
    let size = std::mem::size_of::<RngData>();
    if addr < vvar.start || addr + size > vvar.end || !addr.is_multiple_of(8) {
        return None;
    }
    // SAFETY: an aligned `vdso_rng_data` inside `[vvar]`, in the page the
    // recognised layout keeps it in, which the kernel populates (its vDSO
    // reads it); `[vvar]` stays mapped for the life of the process, and
    // the data is atomics the kernel writes concurrently.
    Some(unsafe { &*(addr as *const RngData) })
}

/// Whether the kernel's vDSO exports entry `name` (`__vdso_<name>` at the
/// architecture's version), as a libc would find it.
fn kernel_vdso_exports(name: &str) -> bool {
    let arch = Arch::HOST;
    let symbol = format!("{}{name}", arch.symbol_prefix());
    crate::kernel_vdso::image()
        .and_then(|image| Elf::parse(image).ok()?.dynamic().ok())
        .is_some_and(|table| {
            table
                .lookup(HashTable::Gnu, &symbol, arch.symbol_version())
                .is_ok()
        })
}

/// This process's `[vvar]` mapping and the image base above the data pages.
struct Vvar {
    start: usize,
    end: usize,
    /// `B`: the start of `[vdso]`, or where it would be (the end of the data
    /// mappings) when a tool such as valgrind has unmapped it.
    base: usize,
}

impl Vvar {
    fn find() -> Option<Vvar> {
        let maps = fs::read_to_string("/proc/self/maps").ok()?;
        let range = |name: &str| {
            maps.lines()
                .find(|l| l.split_whitespace().nth(5) == Some(name))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|r| r.split_once('-'))
                .and_then(|(s, e)| {
                    Some((
                        usize::from_str_radix(s, 16).ok()?,
                        usize::from_str_radix(e, 16).ok()?,
                    ))
                })
        };
        let (start, end) = range("[vvar]")?;
        let base = match range("[vdso]") {
            Some((b, _)) => b,
            None => range("[vvar_vclock]").map_or(end, |(_, e)| e),
        };
        Some(Vvar { start, end, base })
    }

    /// The word at `B - pages_below * 4096 + at`, if that lies in `[vvar]`.
    fn word(&self, pages_below: usize, at: usize) -> Option<u32> {
        let page = self.base.checked_sub(pages_below * PAGE_SIZE)?;
        let addr = page + at;
        if page < self.start || addr + 4 > self.end.min(page + PAGE_SIZE) || !at.is_multiple_of(4) {
            return None;
        }
        // SAFETY: an aligned word of a page of `[vvar]` that the caller has
        // established the kernel populates for this process (the time slot,
        // or the real data's page once the time slot says namespaced);
        // `[vvar]` stays mapped for the life of the process. Volatile: the
        // kernel writes it concurrently.
        Some(unsafe { std::ptr::read_volatile(addr as *const u32) })
    }

    /// `Some((namespaced, clock mode))` if the pages hold `layout`.
    fn holds(&self, layout: KernelLayout) -> Option<(bool, i32)> {
        let s = layout.shape();
        if self.base.checked_sub(s.vvar_pages * PAGE_SIZE) != Some(self.start) {
            return None;
        }
        let entry = |pages_below: usize, i: usize| {
            let at = s.clocks_at + i * s.stride;
            Some((
                self.word(pages_below, at)?,
                self.word(pages_below, at + 4)? as i32,
            ))
        };
        let namespaced =
            entry(s.vvar_pages, 0)? == (1, i32::MAX) && entry(s.vvar_pages, 1)? == (1, i32::MAX);
        let real = if namespaced {
            s.real_pages_below
        } else {
            s.vvar_pages
        };
        let resolution = |at: usize| {
            self.word(real, at)
                .is_some_and(|r| (1..=10_000_000).contains(&r))
        };
        // A few tries: an update in progress makes the counts differ or odd.
        let mode = (0..8).find_map(|_| {
            let ((seq0, mode0), (seq1, mode1)) = (entry(real, 0)?, entry(real, 1)?);
            let at_rest = seq0 == seq1 && seq0 != 0 && seq0 % 2 == 0;
            (at_rest && mode0 == mode1 && (0..=3).contains(&mode0)).then_some(mode0)
        })?;
        let tail = match layout {
            KernelLayout::Linux6_15 => self.word(real, 2328) == Some(0),
            _ => true,
        };
        (resolution(s.hrtimer_res_at) && tail).then_some((namespaced, mode))
    }
}

#[cfg(test)]
mod tests {
    use common::layout::LayoutInfo;

    use super::*;

    #[test]
    fn versions_name_their_layouts() {
        let of = KernelLayout::of_version;
        assert_eq!(of(5, 6), None);
        assert_eq!(of(5, 7), Some(KernelLayout::Linux5_7));
        assert_eq!(of(6, 9), Some(KernelLayout::Linux5_7));
        assert_eq!(of(6, 10), Some(KernelLayout::Linux6_10));
        assert_eq!(of(6, 12), Some(KernelLayout::Linux6_10));
        assert_eq!(of(6, 13), Some(KernelLayout::Linux6_13));
        assert_eq!(of(6, 16), Some(KernelLayout::Linux6_15));
        assert_eq!(of(6, 17), Some(KernelLayout::Linux6_17));
        assert_eq!(of(7, 2), Some(KernelLayout::Linux6_17));
        assert_eq!(version("6.18.44-cloud-amd64"), Some((6, 18)));
        assert_eq!(version("6.1.0-rc3"), Some((6, 1)));
        assert_eq!(version("unknown"), None);
    }

    /// The served layouts' shapes are the facts the images are built from.
    #[test]
    fn served_shapes_are_the_layouts_facts() {
        for layout in KernelLayout::ALL {
            let Some(abi) = layout.served() else { continue };
            let info = LayoutInfo::of(Arch::X86_64, abi);
            let s = layout.shape();
            assert_eq!(s.vvar_pages, info.data_pages, "{layout}");
            assert_eq!(s.clocks_at, info.clocks_at, "{layout}");
            assert_eq!(s.stride, info.clock_size, "{layout}");
            assert_eq!(s.hrtimer_res_at, info.hrtimer_res_at, "{layout}");
        }
    }

    /// This process's kernel is recognised as its version says, and
    /// nothing else matches its pages; on another architecture than
    /// x86_64 recognition says it does not know its kernels.
    #[test]
    fn the_running_kernel_is_recognised_by_its_pages() {
        if Arch::HOST != Arch::X86_64 {
            let e = recognise().expect_err("an x86_64 layout recognised elsewhere");
            assert!(matches!(e, RecogniseError::Architecture(_)), "{e}");
            return;
        }
        let r = recognise().unwrap_or_else(|e| panic!("{e}"));
        let (major, minor) = version(&r.release).unwrap();
        assert_eq!(Some(r.layout), KernelLayout::of_version(major, minor));
        let vvar = Vvar::find().unwrap();
        let matching: Vec<KernelLayout> = KernelLayout::ALL
            .into_iter()
            .filter(|&l| vvar.holds(l).is_some())
            .collect();
        assert_eq!(matching, [r.layout], "{}", r.release);
        // Whether `namespaced` is right is the live-kernel test's to show,
        // which runs in and out of a time namespace.
    }

    /// Where the running kernel's layout has random generator data and its
    /// vDSO reads it, the data is found, ready, at a generation.
    #[test]
    fn the_kernel_s_random_generator_data_is_found_where_it_has_some() {
        if Arch::HOST != Arch::X86_64 {
            // Its kernels' layouts are not recognised (above), so nothing is
            // found.
            assert!(kernel_rng().is_none());
            return;
        }
        let r = recognise().unwrap_or_else(|e| panic!("{e}"));
        let has = r
            .layout
            .served()
            .and_then(|abi| LayoutInfo::get(Arch::HOST, abi))
            .is_some_and(|l| l.rng.is_some())
            && kernel_vdso_exports("getrandom");
        let rng = kernel_rng();
        assert_eq!(rng.is_some(), has, "{}", r.release);
        if let Some(rng) = rng {
            assert!(rng.is_ready() && rng.generation() != 0, "{}", r.release);
        }
    }
}
