//! Everything a run measures, set up once: the system's data pages kept by
//! the kernel side's timekeeper, a time namespace, every image mapped as its
//! design maps it, and the running kernel's own vDSO.

use std::fs;
use std::sync::Arc;

use common::abi::Abi;
use common::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC, Timespec};
use common::timens::{Now, Offsets};
use common::vvar::TimensOffset;
use kernel_side::targets::{self, Target};
use kernel_side::variants::{Clocks, Process};
use kernel_side::{DataPages, Ticker, Timekeeper, Vdso, kernel_vdso};

/// The namespace the namespaced targets live in: a day ahead on MONOTONIC
/// and BOOTTIME. Whole seconds, as `unshare -T --monotonic` sets them, so a
/// read never needs the slow normalisation.
pub const NAMESPACE_OFFSET: TimensOffset = TimensOffset {
    sec: 86_400,
    nsec: 0,
};

/// Every target of this machine's architecture: the others' images cannot
/// run here (aarch64's are tested under qemu-aarch64, where a latency means
/// nothing).
pub fn measured() -> impl Iterator<Item = Target> {
    targets::all().filter(|t| t.arch == common::abi::Arch::HOST)
}

/// The shipped images, (a), for a host and a namespaced process.
pub fn shipped() -> impl Iterator<Item = Target> {
    measured().filter(|t| !t.is_design())
}

/// The other designs, each for a host and a namespaced process (d also
/// with its RDPID alternative applied).
pub fn designs() -> impl Iterator<Item = Target> {
    measured().filter(|t| t.is_design())
}

/// Each design as BENCHMARKS.md sets it side by side, (a) first: its host
/// process and its namespaced one, where the designs are built, without
/// alternatives.
pub fn design_pairs() -> impl Iterator<Item = (Target, Target)> {
    targets::all()
        .filter(|t| (t.arch, t.abi) == (targets::DESIGN_ARCH, targets::DESIGN_ABI))
        .filter(|t| !t.namespaced && !t.rdpid)
        .map(|t| (t, t.other_process()))
}

/// The offset a correct image adds to `clock` for `target` (both of the
/// namespace's offsets are [`NAMESPACE_OFFSET`]).
pub fn offset_ns(target: Target, clock: i32) -> i128 {
    if target.namespaced && common::route::route(clock).shift.is_some() {
        NAMESPACE_OFFSET.as_nanos()
    } else {
        0
    }
}

/// How a run's pages change: as a kernel's tick changes them, or only on
/// request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// See [`Clockwork::ticking`].
    Ticking,
    /// See [`Clockwork::frozen`].
    Frozen,
}

/// The system's pages and a namespace's, in one layout, filled as a kernel
/// would.
pub struct Clockwork {
    pub abi: Abi,
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
    pub fn ticking(abi: Abi) -> Result<Clockwork, String> {
        let system = Arc::new(DataPages::anonymous(abi).map_err(|e| e.to_string())?);
        let tk = Timekeeper::new(system.clone(), Default::default()).map_err(|e| e.to_string())?;
        let ticker = Some(tk.spawn());
        Ok(Clockwork {
            abi,
            system,
            namespace: namespace(abi)?,
            ticker,
            keeper: None,
        })
    }

    /// Pages that change only when [`reanchor`](Self::reanchor) says so:
    /// for counting instructions, where a ticking thread would add its own.
    pub fn frozen(abi: Abi) -> Result<Clockwork, String> {
        let system = Arc::new(DataPages::anonymous(abi).map_err(|e| e.to_string())?);
        let keeper =
            Timekeeper::new(system.clone(), Default::default()).map_err(|e| e.to_string())?;
        Ok(Clockwork {
            abi,
            system,
            namespace: namespace(abi)?,
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
        let left = 1_000_000_000 - kernel_side::counter::kernel_ns(clock).rem_euclid(1_000_000_000);
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

    pub fn new(abi: Abi, pace: Pace) -> Result<Clockwork, String> {
        match pace {
            Pace::Ticking => Clockwork::ticking(abi),
            Pace::Frozen => Clockwork::frozen(abi),
        }
    }
}

fn namespace(abi: Abi) -> Result<DataPages, String> {
    let pages = DataPages::anonymous(abi).map_err(|e| e.to_string())?;
    let now = Now {
        monotonic: kernel_now(CLOCK_MONOTONIC),
        boottime: kernel_now(CLOCK_BOOTTIME),
    };
    let offsets = Offsets {
        monotonic: NAMESPACE_OFFSET,
        boottime: NAMESPACE_OFFSET,
    };
    pages
        .write_namespace(&offsets, &now)
        .map_err(|e| e.to_string())?;
    Ok(pages)
}

fn kernel_now(clock: i32) -> Timespec {
    let ns = kernel_side::counter::kernel_ns(clock);
    Timespec {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_nsec: (ns % 1_000_000_000) as i64,
    }
}

/// Every target of a run, mapped over the pages of its layout's clockwork.
pub struct Lab {
    /// One per layout the targets read, each with a timekeeper of its own.
    pub clockworks: Vec<Clockwork>,
    pub processes: Vec<(Target, Process)>,
}

impl Lab {
    /// Maps those of `targets` this machine runs (each needs its image
    /// built). Every one is mapped as its design's kernel arranges the
    /// slots, the two-image designs too: a measurement swaps nothing.
    pub fn new(pace: Pace, targets: &[Target]) -> Result<Lab, String> {
        let runs: Vec<Target> = targets.iter().copied().filter(|t| t.runs_here()).collect();
        let mut clockworks: Vec<Clockwork> = Vec::new();
        for t in &runs {
            if !clockworks.iter().any(|c| c.abi == t.abi) {
                clockworks.push(Clockwork::new(t.abi, pace)?);
            }
        }
        let mut processes = Vec::new();
        for t in runs {
            let clockwork = clockworks
                .iter()
                .find(|c| c.abi == t.abi)
                .expect("made above");
            let p = Process::new(&t.image()?, clockwork.clocks(t.namespaced))
                .map_err(|e| format!("mapping {}: {e}", t.name()))?;
            processes.push((t, p));
        }
        Ok(Lab {
            clockworks,
            processes,
        })
    }

    /// [`Clockwork::reanchor`] for every layout's pages.
    pub fn reanchor(clockworks: &mut [Clockwork], clock: i32) -> Result<(), String> {
        clockworks.iter_mut().try_for_each(|c| c.reanchor(clock))
    }

    pub fn process(&self, target: Target) -> Option<&Process> {
        self.processes
            .iter()
            .find(|(t, _)| *t == target)
            .map(|(_, p)| p)
    }
}

/// True when `cargo xtask build-vdso --variants` has written the variants.
pub fn variants_built() -> bool {
    designs().all(|t| t.image_path().exists())
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
