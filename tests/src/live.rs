//! A target made ready to call: for an image, data pages of its own kept
//! ticking by a kernel-side timekeeper with the image mapped above them as its
//! design maps it ([`map`]); for the kernel's vDSO, its resolved entry
//! points.

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::clock::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_REALTIME, CLOCK_REALTIME_COARSE,
    Timezone,
};
use common::timens::{Now, Offsets};
use common::vvar::CS_HRES_COARSE;
use kernel_side::targets::Arrangement;
use kernel_side::timekeeper::{CALIBRATION_BOUND, Config};
use kernel_side::variants::{Clocks, Process};
use kernel_side::{DataPages, Image, Mapping, Ticker, Timekeeper, Vdso, kernel_vdso};

use crate::abi;
use crate::target::Target;
use crate::time::ns;

/// The timezone the suite stores in its pages (Nepal: UTC+5:45, DST flag
/// set), so a `gettimeofday` that reports anything else is caught.
pub const DISTINCTIVE_TIMEZONE: Timezone = Timezone {
    tz_minuteswest: -345,
    tz_dsttime: 1,
};

pub struct Live {
    target: Target,
    kind: Kind,
}

enum Kind {
    Image(Box<ImageLive>),
    Kernel(Vdso<'static>),
}

/// One of our images over its own data pages.
pub struct ImageLive {
    // Field order is drop order: unmap the image before the pages go away,
    // and stop the timekeeper before either.
    pub ticker: Ticker,
    pub mapping: Mapped,
    pub pages: Arc<DataPages>,
}

/// An image mapped over the suite's pages as its target's design maps it
/// ([`Target::arrangement`]).
pub enum Mapped {
    /// The kernel side's mapping: the whole data object below the image,
    /// swappable.
    Mapping(Mapping),
    /// The slots as the design's kernel fills them.
    Process(Process),
}

impl Mapped {
    /// The entry points, resolved from what is mapped now.
    pub fn vdso(&self) -> Vdso<'_> {
        match self {
            Mapped::Mapping(m) => m.vdso(),
            Mapped::Process(p) => p.vdso(),
        }
    }

    /// The image's base address `B`.
    pub fn base(&self) -> *const u8 {
        match self {
            Mapped::Mapping(m) => m.base(),
            Mapped::Process(p) => p.base(),
        }
    }

    /// The mapping, for a target that swaps.
    pub fn swappable(&self) -> Result<&Mapping, String> {
        match self {
            Mapped::Mapping(m) => Ok(m),
            Mapped::Process(p) => Err(format!(
                "the {:?} image is mapped as its one-image design maps it, which swaps nothing",
                p.variant()
            )),
        }
    }
}

/// Maps `image` (the target's) over `pages` as the target's design maps
/// it. A namespaced process's namespace page is `pages.timens()`, which
/// the caller writes.
pub fn map(target: Target, pages: &DataPages, image: &Image) -> Result<Mapped, String> {
    match target.arrangement() {
        None => Err(format!("the {target} is not one of our images")),
        Some(Arrangement::Mapping) => Mapping::new(pages, image)
            .map(Mapped::Mapping)
            .map_err(|e| format!("mapping the {target}: {e}")),
        Some(Arrangement::Process { namespaced }) => {
            let clocks = Clocks {
                system: pages,
                namespace: namespaced.then_some(pages),
            };
            Process::new(image, clocks)
                .map(Mapped::Process)
                .map_err(|e| format!("mapping the {target}: {e}"))
        }
    }
}

/// Fresh data pages for `target`, with the zero-offset namespace page a
/// namespaced process needs before it runs.
pub fn pages_for(target: Target) -> Result<Arc<DataPages>, String> {
    let abi = target
        .abi()
        .ok_or_else(|| format!("the {target} has no data pages of the suite's"))?;
    let pages = Arc::new(DataPages::anonymous(abi).map_err(|e| format!("data pages: {e}"))?);
    if target.namespaced() {
        pages
            .write_namespace(&Offsets::default(), &kernel_now())
            .map_err(|e| format!("the zero-offset namespace page: {e}"))?;
    }
    Ok(pages)
}

impl Live {
    /// Makes `target` ready. Image targets get the distinctive timezone and,
    /// for a namespaced process, a namespace page of zero offsets.
    pub fn start(target: Target) -> Result<Live, String> {
        if target.variant().is_none() {
            let vdso = kernel_vdso::vdso().ok_or(
                "the kernel's vDSO is not mapped (no AT_SYSINFO_EHDR) or lacks one of the five entries",
            )?;
            return Ok(Live {
                target,
                kind: Kind::Kernel(vdso),
            });
        }
        let image = target.image()?;
        let pages = pages_for(target)?;
        let ticker = Timekeeper::new(pages.clone(), Config::default())
            .map_err(|e| format!("timekeeper: {e}"))?
            .spawn();
        ticker.pause();
        let tz = pages.writer().set_timezone(
            DISTINCTIVE_TIMEZONE.tz_minuteswest,
            DISTINCTIVE_TIMEZONE.tz_dsttime,
        );
        ticker.resume();
        tz.map_err(|e| format!("setting the timezone: {e}"))?;
        let mapping = map(target, &pages, &image)?;
        Ok(Live {
            target,
            kind: Kind::Image(Box::new(ImageLive {
                ticker,
                mapping,
                pages,
            })),
        })
    }

    pub fn target(&self) -> Target {
        self.target
    }

    /// The entry points, resolved from what is mapped now.
    pub fn vdso(&self) -> Vdso<'_> {
        match &self.kind {
            Kind::Image(i) => i.mapping.vdso(),
            Kind::Kernel(v) => *v,
        }
    }

    /// The image side, for checks that need the pages.
    pub fn image(&self) -> Result<&ImageLive, String> {
        match &self.kind {
            Kind::Image(i) => Ok(i),
            Kind::Kernel(_) => Err(format!("the {} has no data pages of ours", self.target)),
        }
    }

    /// Returns right after a timekeeping update completes, so that the
    /// images are within [`CALIBRATION_BOUND`] of the kernel. The kernel's
    /// vDSO needs no wait.
    pub fn settle(&self) -> Result<(), String> {
        match &self.kind {
            Kind::Image(i) => wait_for_update(&i.pages, Duration::from_secs(2)),
            Kind::Kernel(_) => Ok(()),
        }
    }

    /// How far a high-resolution clock may be from the kernel's right after
    /// [`settle`](Self::settle), in ns: the kernel's vDSO reads the kernel's
    /// own data, so not at all.
    pub fn calibration_ns(&self) -> i128 {
        match &self.kind {
            Kind::Image(_) => CALIBRATION_BOUND.as_nanos() as i128,
            Kind::Kernel(_) => 0,
        }
    }

    /// Waits for a fresh update like [`settle`](Self::settle) and returns
    /// the lowest value a coarse clock may then read, in ns: for an image,
    /// `fine` (the coarse clock's high-resolution twin) read from the kernel
    /// before the wait, less the calibration bound (the update waited for
    /// read its counter later, so its coarse bases are no earlier), however
    /// long this thread is preempted afterwards; for the kernel's vDSO,
    /// which reads the same data as the kernel's coarse system call, that
    /// call's value before the wait.
    pub fn settle_coarse(&self, coarse: i32) -> Result<i128, String> {
        match &self.kind {
            Kind::Image(i) => {
                let floor = abi::sys_ns(fine_twin(coarse));
                wait_for_update(&i.pages, Duration::from_secs(2))?;
                Ok(floor - self.calibration_ns())
            }
            Kind::Kernel(_) => Ok(abi::sys_ns(coarse)),
        }
    }

    /// The timezone `gettimeofday` must report: what the page holds, or for
    /// the kernel's vDSO, what the system call reports.
    pub fn timezone(&self) -> Timezone {
        match &self.kind {
            Kind::Image(i) => {
                let (tz_minuteswest, tz_dsttime) = i.pages.time().timezone();
                Timezone {
                    tz_minuteswest,
                    tz_dsttime,
                }
            }
            Kind::Kernel(_) => abi::sys_gettimeofday(false, true).2.unwrap_or_default(),
        }
    }
}

/// Waits until an update that began after this call has completed (the
/// sequence count of `vd[CS_HRES_COARSE]` has passed through one whole
/// odd-even cycle).
pub fn wait_for_update(pages: &DataPages, limit: Duration) -> Result<(), String> {
    let seq = pages.time().clock(CS_HRES_COARSE).seq();
    let start = seq.load();
    // From an even count, the next update ends two later; an odd count is an
    // update already in progress, and the one after it ends three later.
    let target = start.wrapping_add(if start & 1 == 0 { 2 } else { 3 });
    let deadline = Instant::now() + limit;
    loop {
        let now = seq.load();
        if now.wrapping_sub(target) as i32 >= 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no timekeeping update within {} ms (sequence count stuck at {now}): the timekeeper stopped",
                limit.as_millis()
            ));
        }
        std::thread::yield_now();
    }
}

/// The kernel's tick (its jiffy), the resolution of its coarse clocks.
pub fn kernel_jiffy_ns() -> i128 {
    let (r, res) = abi::sys_clock_getres(CLOCK_MONOTONIC_COARSE, true);
    assert_eq!(r, 0, "clock_getres(CLOCK_MONOTONIC_COARSE) failed");
    ns(res)
}

/// The high-resolution clock a coarse clock copies.
pub fn fine_twin(coarse: i32) -> i32 {
    match coarse {
        CLOCK_REALTIME_COARSE => CLOCK_REALTIME,
        CLOCK_MONOTONIC_COARSE => CLOCK_MONOTONIC,
        other => panic!("clock {other} is not a coarse clock"),
    }
}

/// How far the kernel's coarse clocks may lag its fine ones: a jiffy, plus
/// the lateness of the tick that advances them, which in a virtual machine
/// is itself a good part of a jiffy (measured here: up to 4.6 ms behind at
/// HZ=250), so two.
pub fn kernel_coarse_lag_ns() -> i128 {
    2 * kernel_jiffy_ns()
}

/// The host's MONOTONIC and BOOTTIME now, for the namespace page's checks.
pub fn kernel_now() -> Now {
    Now {
        monotonic: abi::sys_clock_gettime(CLOCK_MONOTONIC).1,
        boottime: abi::sys_clock_gettime(CLOCK_BOOTTIME).1,
    }
}
