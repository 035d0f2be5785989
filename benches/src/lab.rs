//! Everything a run measures, set up once: the system's data pages kept by
//! the kernel side's timekeeper, a time namespace, every image mapped as its
//! design maps it, and the running kernel's own vDSO.

use std::fs;
use std::sync::Arc;

use common::abi::Arch;
use common::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC, Timespec};
use common::note::Variant;
use common::timens::{self, Now, Offsets};
use common::vvar::TimensOffset;
use kernel_side::variants::{self, Clocks, Process};
use kernel_side::{DataPages, Image, Ticker, Timekeeper, Vdso, images, kernel_vdso, pages};

/// The namespace the namespaced setups live in: a day ahead on MONOTONIC
/// and BOOTTIME. Whole seconds, as `unshare -T --monotonic` sets them, so a
/// read never needs the slow normalisation.
pub const NAMESPACE_OFFSET: TimensOffset = TimensOffset {
    sec: 86_400,
    nsec: 0,
};

/// One image mapped for one kind of process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Setup {
    /// `host`, `timens`, `b-host`, ... (criterion's folder names).
    pub name: &'static str,
    /// The design: `a` (two images), `b` (run-time branch), `c` (Linux's
    /// merged design), `d` (static branch).
    pub design: char,
    pub variant: Variant,
    pub namespaced: bool,
    /// RDPID alternatives applied, as a loader on a CPU with RDPID would.
    pub rdpid: bool,
}

const fn setup(
    name: &'static str,
    design: char,
    variant: Variant,
    namespaced: bool,
    rdpid: bool,
) -> Setup {
    Setup {
        name,
        design,
        variant,
        namespaced,
        rdpid,
    }
}

/// The shipped images, (a), for a host and a namespaced process.
pub const SHIPPED: [Setup; 2] = [
    setup("host", 'a', Variant::Host, false, false),
    setup("timens", 'a', Variant::Timens, true, false),
];

/// The other designs, each for a host and a namespaced process (d also
/// with its RDPID alternative applied).
pub const DESIGNS: [Setup; 8] = [
    setup("b-host", 'b', Variant::Branch, false, false),
    setup("b-ns", 'b', Variant::Branch, true, false),
    setup("c-host", 'c', Variant::Merged, false, false),
    setup("c-ns", 'c', Variant::Merged, true, false),
    setup("d-host", 'd', Variant::Static, false, false),
    setup("d-ns", 'd', Variant::StaticTimens, true, false),
    setup("d-host-rdpid", 'd', Variant::Static, false, true),
    setup("d-ns-rdpid", 'd', Variant::StaticTimens, true, true),
];

impl Setup {
    pub fn all() -> impl Iterator<Item = Setup> {
        SHIPPED.into_iter().chain(DESIGNS)
    }

    pub fn by_name(name: &str) -> Option<Setup> {
        Setup::all().find(|s| s.name == name)
    }

    /// The offset a correct image adds to `clock` in this setup (both of
    /// the namespace's offsets are [`NAMESPACE_OFFSET`]).
    pub fn offset_ns(&self, clock: i32) -> i128 {
        if self.namespaced && common::route::route(clock).shift.is_some() {
            NAMESPACE_OFFSET.as_nanos()
        } else {
            0
        }
    }
}

/// The system's pages and a namespace's, filled as a kernel would.
pub struct Clockwork {
    pub system: Arc<DataPages>,
    /// Its `TIMENS_PAGE` is the namespace's page.
    pub namespace: DataPages,
    /// Keeps `system` ticking (see [`Clockwork::ticking`]).
    ticker: Option<Ticker>,
    /// Or re-anchors it on request only (see [`Clockwork::frozen`]).
    keeper: Option<Timekeeper>,
}

impl Clockwork {
    /// Pages the kernel side's timekeeper keeps current (a 4 ms tick, a kernel
    /// at HZ=250).
    pub fn ticking() -> Result<Clockwork, String> {
        let system = Arc::new(DataPages::anonymous().map_err(|e| e.to_string())?);
        let tk = Timekeeper::new(system.clone(), Default::default()).map_err(|e| e.to_string())?;
        let ticker = Some(tk.spawn());
        Ok(Clockwork {
            system,
            namespace: namespace()?,
            ticker,
            keeper: None,
        })
    }

    /// Pages that change only when [`reanchor`](Self::reanchor) says so:
    /// for counting instructions, where a ticking thread would add its own.
    pub fn frozen() -> Result<Clockwork, String> {
        let system = Arc::new(DataPages::anonymous().map_err(|e| e.to_string())?);
        let keeper =
            Timekeeper::new(system.clone(), Default::default()).map_err(|e| e.to_string())?;
        Ok(Clockwork {
            system,
            namespace: namespace()?,
            ticker: None,
            keeper: Some(keeper),
        })
    }

    /// Re-anchors a frozen page so that `clock`'s next reads take the fast
    /// path: its nanoseconds stay below a second for at least 200 ms (waiting
    /// out the end of the current second if need be), as they do on a page a
    /// timekeeper keeps current. Without it, the nanoseconds of a page left
    /// alone pass a second and every read normalises the slow way.
    pub fn reanchor(&mut self, clock: i32) -> Result<(), String> {
        let Some(keeper) = self.keeper.as_mut() else {
            return Ok(());
        };
        let left = 1_000_000_000 - kernel_side::tsc::kernel_ns(clock).rem_euclid(1_000_000_000);
        if left < 200_000_000 {
            std::thread::sleep(std::time::Duration::from_nanos(left as u64 + 1_000_000));
        }
        keeper.tick().map_err(|e| e.to_string())
    }

    pub fn clocks(&self, namespaced: bool) -> Clocks<'_> {
        Clocks {
            system: &self.system,
            namespace: namespaced.then_some(&self.namespace),
        }
    }

    pub fn is_ticking(&self) -> bool {
        self.ticker.is_some()
    }
}

fn namespace() -> Result<DataPages, String> {
    let pages = DataPages::anonymous().map_err(|e| e.to_string())?;
    let now = Now {
        monotonic: kernel_now(CLOCK_MONOTONIC),
        boottime: kernel_now(CLOCK_BOOTTIME),
    };
    let offsets = Offsets {
        monotonic: NAMESPACE_OFFSET,
        boottime: NAMESPACE_OFFSET,
    };
    timens::write_page(pages.timens(), &offsets, &now).map_err(|e| e.to_string())?;
    Ok(pages)
}

fn kernel_now(clock: i32) -> Timespec {
    let ns = kernel_side::tsc::kernel_ns(clock);
    Timespec {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_nsec: (ns % 1_000_000_000) as i64,
    }
}

/// Loads the image of `setup`, with its RDPID alternative applied if asked.
pub fn image(setup: Setup) -> Result<Image, String> {
    let image = images::load(setup.variant).map_err(|e| {
        let hint = if Variant::DESIGNS.contains(&setup.variant) {
            "cargo xtask build-vdso --variants"
        } else {
            "cargo xtask build-vdso"
        };
        format!(
            "cannot load the {} image from {} ({e}); run `{hint}` first",
            setup.variant.name(),
            images::dir().display()
        )
    })?;
    if setup.rdpid {
        return variants::with_rdpid(&image);
    }
    Ok(image)
}

/// Every setup of a run, mapped over `clockwork`'s pages.
pub struct Lab {
    pub clockwork: Clockwork,
    pub processes: Vec<(Setup, Process)>,
}

impl Lab {
    /// Maps `setups` (each needs its image built).
    pub fn new(clockwork: Clockwork, setups: &[Setup]) -> Result<Lab, String> {
        let mut processes = Vec::new();
        for &s in setups {
            if s.rdpid && !variants::cpu_has_rdpid() {
                continue;
            }
            let image = image(s)?;
            let p = Process::new(&image, clockwork.clocks(s.namespaced))
                .map_err(|e| format!("mapping {}: {e}", s.name))?;
            processes.push((s, p));
        }
        Ok(Lab {
            clockwork,
            processes,
        })
    }

    pub fn process(&self, name: &str) -> Option<&Process> {
        self.processes
            .iter()
            .find(|(s, _)| s.name == name)
            .map(|(_, p)| p)
    }
}

/// True when `cargo xtask build-vdso --variants` has written the variants.
pub fn variants_built() -> bool {
    Variant::DESIGNS.iter().all(|&v| {
        images::dir()
            .join(images::path(Arch::HOST, pages::ABI, v))
            .exists()
    })
}

/// The kernel's vDSO, through pointers resolved from `AT_SYSINFO_EHDR`.
pub fn kernel() -> Result<Vdso<'static>, String> {
    kernel_vdso::vdso().ok_or_else(|| "this process has no kernel vDSO (AT_SYSINFO_EHDR)".into())
}

/// The kernel's vDSO text and its time-data page (`[vdso]`, and the first
/// page of `[vvar]`, the only one its clocks read for a host process;
/// touching its namespace page would raise SIGBUS), from /proc/self/maps.
pub fn kernel_flush_ranges() -> Result<Vec<&'static [u8]>, String> {
    let maps = fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let name = line.split_whitespace().nth(5).unwrap_or("");
        let Some((start, end)) = line
            .split_whitespace()
            .next()
            .and_then(|r| r.split_once('-'))
        else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        let len = match name {
            "[vdso]" => end - start,
            "[vvar]" => 4096,
            _ => continue,
        };
        // SAFETY: the kernel maps [vdso] and the time-data page of [vvar]
        // readable for the life of the process.
        out.push(unsafe { std::slice::from_raw_parts(start as *const u8, len) });
    }
    if out.len() != 2 {
        return Err("no [vdso] and [vvar] mappings in /proc/self/maps".into());
    }
    Ok(out)
}

/// The kernel's vDSO under valgrind, which hides `AT_SYSINFO_EHDR` and
/// unmaps `[vdso]` but leaves its data pages (`[vvar]`, `[vvar_vclock]`):
/// maps `image` (the kernel's vDSO as `vdso-count --kernel-vdso` wrote it
/// outside valgrind, alternatives already applied by the kernel) back
/// where the kernel had it, directly above its data pages, and resolves its
/// entries as a libc would. The mapping lives as long as the process.
pub fn kernel_from_copy(image: &[u8]) -> Result<Vdso<'static>, String> {
    let maps = fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    let end_of = |name: &str| {
        maps.lines()
            .find(|l| l.split_whitespace().nth(5) == Some(name))
            .and_then(|l| l.split('-').nth(1))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|e| usize::from_str_radix(e, 16).ok())
    };
    let base = end_of("[vvar_vclock]")
        .or_else(|| end_of("[vvar]"))
        .ok_or("no [vvar] mapping to put the kernel's vDSO above")?;
    let len = image.len().div_ceil(4096) * 4096;
    // SAFETY: a new private mapping at a fixed address that must be free
    // (MAP_FIXED_NOREPLACE fails rather than replace anything).
    let p = unsafe {
        libc::mmap(
            base as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED || p as usize != base {
        return Err(format!(
            "cannot map the kernel's vDSO at {base:#x}: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `len >= image.len()` writable bytes we just mapped.
    unsafe { std::ptr::copy_nonoverlapping(image.as_ptr(), p.cast(), image.len()) };
    // SAFETY: our own mapping, sealed R+X.
    if unsafe { libc::mprotect(p, len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    // SAFETY: mapped readable above, never unmapped.
    let mapped: &'static [u8] = unsafe { std::slice::from_raw_parts(p.cast(), image.len()) };
    let offsets = kernel_vdso::offsets(mapped).ok_or("the kernel's vDSO copy is unreadable")?;
    // SAFETY: resolved from the kernel's own image, mapped where the kernel
    // put it, above the data pages it reads, for the life of the process.
    Ok(unsafe { Vdso::from_offsets(mapped.as_ptr(), &offsets) })
}

/// Pins the calling thread to the last CPU, so that its measurements do not
/// move between cores (the timekeeper's thread, spawned before, keeps every
/// CPU and mostly runs on the others). Returns the CPU, or `None` if it
/// could not pin.
pub fn pin_to_last_cpu() -> Option<usize> {
    let cpus = std::thread::available_parallelism().ok()?.get();
    let cpu = cpus.checked_sub(1)?;
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE on any machine this runs on.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    (r == 0).then_some(cpu)
}
