//! The benched calls and the one way every target is called.

use std::ffi::c_void;

use common::clock::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME,
    CLOCK_REALTIME_COARSE, Timespec, Timeval,
};
use kernel_side::Vdso;

/// One benched call, with the arguments every target gets: `time(NULL)`,
/// `gettimeofday(&tv, NULL)`, `clock_getres(CLOCK_MONOTONIC, &res)`,
/// `getcpu(&cpu, &node, NULL)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    ClockGettime(i32),
    Gettimeofday,
    Time,
    ClockGetres,
    Getcpu,
}

impl Call {
    pub const ALL: [Call; 10] = [
        Call::ClockGettime(CLOCK_MONOTONIC),
        Call::ClockGettime(CLOCK_REALTIME),
        Call::ClockGettime(CLOCK_BOOTTIME),
        Call::ClockGettime(CLOCK_MONOTONIC_RAW),
        Call::ClockGettime(CLOCK_MONOTONIC_COARSE),
        Call::ClockGettime(CLOCK_REALTIME_COARSE),
        Call::Gettimeofday,
        Call::Time,
        Call::ClockGetres,
        Call::Getcpu,
    ];

    /// A name usable in file names (criterion's folders, callgrind dumps).
    pub fn name(self) -> &'static str {
        match self {
            Call::ClockGettime(CLOCK_MONOTONIC) => "monotonic",
            Call::ClockGettime(CLOCK_REALTIME) => "realtime",
            Call::ClockGettime(CLOCK_BOOTTIME) => "boottime",
            Call::ClockGettime(CLOCK_MONOTONIC_RAW) => "monotonic_raw",
            Call::ClockGettime(CLOCK_MONOTONIC_COARSE) => "monotonic_coarse",
            Call::ClockGettime(CLOCK_REALTIME_COARSE) => "realtime_coarse",
            Call::ClockGettime(_) => "clock_gettime",
            Call::Gettimeofday => "gettimeofday",
            Call::Time => "time",
            Call::ClockGetres => "clock_getres",
            Call::Getcpu => "getcpu",
        }
    }

    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Call::ClockGettime(CLOCK_MONOTONIC) => "clock_gettime(MONOTONIC)",
            Call::ClockGettime(CLOCK_REALTIME) => "clock_gettime(REALTIME)",
            Call::ClockGettime(CLOCK_BOOTTIME) => "clock_gettime(BOOTTIME)",
            Call::ClockGettime(CLOCK_MONOTONIC_RAW) => "clock_gettime(MONOTONIC_RAW)",
            Call::ClockGettime(CLOCK_MONOTONIC_COARSE) => "clock_gettime(MONOTONIC_COARSE)",
            Call::ClockGettime(CLOCK_REALTIME_COARSE) => "clock_gettime(REALTIME_COARSE)",
            Call::ClockGettime(_) => "clock_gettime",
            Call::Gettimeofday => "gettimeofday",
            Call::Time => "time",
            Call::ClockGetres => "clock_getres(MONOTONIC)",
            Call::Getcpu => "getcpu",
        }
    }

    /// The entry of the table of entries it calls.
    pub fn entry(self) -> &'static str {
        match self {
            Call::ClockGettime(_) => "clock_gettime",
            Call::Gettimeofday => "gettimeofday",
            Call::Time => "time",
            Call::ClockGetres => "clock_getres",
            Call::Getcpu => "getcpu",
        }
    }

    pub fn from_name(name: &str) -> Option<Call> {
        Call::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The five entry points of one target, called the same way whatever is
/// behind them: the outputs on the caller's stack, the pointers that may be
/// NULL as the benched call says.
pub trait Entries {
    fn clock_gettime(&self, clock: i32) -> (i32, Timespec);
    fn gettimeofday(&self) -> (i32, Timeval);
    fn time(&self) -> i64;
    fn clock_getres(&self, clock: i32) -> (i32, Timespec);
    fn getcpu(&self) -> (i64, u32, u32);
}

/// Makes `call` once through `e`, arguments and result hidden from the
/// optimiser: the loop body of every batch the tools time or count.
#[inline(always)]
pub fn make<E: Entries>(e: &E, call: Call) {
    match call {
        Call::ClockGettime(clock) => {
            std::hint::black_box(e.clock_gettime(std::hint::black_box(clock)));
        }
        Call::Gettimeofday => {
            std::hint::black_box(e.gettimeofday());
        }
        Call::Time => {
            std::hint::black_box(e.time());
        }
        Call::ClockGetres => {
            let clock = std::hint::black_box(common::clock::CLOCK_MONOTONIC);
            std::hint::black_box(e.clock_getres(clock));
        }
        Call::Getcpu => {
            std::hint::black_box(e.getcpu());
        }
    }
}

/// A benched entry: every target the benches map has all of them, and the
/// test of the `Option` is the same for every target, the no-op included,
/// so it cancels out of every figure.
#[inline(always)]
fn entry<F>(f: Option<F>) -> F {
    match f {
        Some(f) => f,
        None => missing(),
    }
}

#[cold]
fn missing() -> ! {
    panic!("a benched target lacks one of the benched entries")
}

impl Entries for Vdso<'_> {
    #[inline(always)]
    fn clock_gettime(&self, clock: i32) -> (i32, Timespec) {
        let mut ts = Timespec::default();
        // SAFETY: a resolved vDSO entry (the `Vdso`'s contract) and a
        // writable timespec.
        let ret = unsafe { entry(self.entries.clock_gettime)(clock, &mut ts) };
        (ret, ts)
    }

    #[inline(always)]
    fn gettimeofday(&self) -> (i32, Timeval) {
        let mut tv = Timeval::default();
        // SAFETY: as above; the timezone pointer may be NULL.
        let ret = unsafe { entry(self.entries.gettimeofday)(&mut tv, std::ptr::null_mut()) };
        (ret, tv)
    }

    #[inline(always)]
    fn time(&self) -> i64 {
        // SAFETY: as above; the pointer may be NULL.
        unsafe { entry(self.entries.time)(std::ptr::null_mut()) }
    }

    #[inline(always)]
    fn clock_getres(&self, clock: i32) -> (i32, Timespec) {
        let mut ts = Timespec::default();
        // SAFETY: as above.
        let ret = unsafe { entry(self.entries.clock_getres)(clock, &mut ts) };
        (ret, ts)
    }

    #[inline(always)]
    fn getcpu(&self) -> (i64, u32, u32) {
        let (mut cpu, mut node) = (0u32, 0u32);
        // SAFETY: as above; the cache pointer may be NULL.
        let ret = unsafe {
            entry(self.entries.getcpu)(&mut cpu, &mut node, std::ptr::null_mut::<c_void>())
        };
        (ret, cpu, node)
    }
}

/// The system calls themselves, made with the `syscall` instruction inline
/// (not through libc's wrapper, which would add its own work).
#[derive(Clone, Copy, Debug, Default)]
pub struct Syscalls;

mod nr {
    pub const GETTIMEOFDAY: usize = 96;
    pub const TIME: usize = 201;
    pub const CLOCK_GETTIME: usize = 228;
    pub const CLOCK_GETRES: usize = 229;
    pub const GETCPU: usize = 309;
}

/// # Safety
/// The arguments must be valid for system call `nr` (pointers writable or
/// NULL where the call allows it).
#[inline(always)]
unsafe fn syscall3(nr: usize, a0: usize, a1: usize, a2: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller vouches for the arguments; `syscall` clobbers only
    // rcx and r11.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") nr as isize => ret,
             in("rdi") a0, in("rsi") a1, in("rdx") a2,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

impl Entries for Syscalls {
    #[inline(always)]
    fn clock_gettime(&self, clock: i32) -> (i32, Timespec) {
        let mut ts = Timespec::default();
        // SAFETY: a writable timespec.
        let ret = unsafe { syscall3(nr::CLOCK_GETTIME, clock as usize, &raw mut ts as usize, 0) };
        (ret as i32, ts)
    }

    #[inline(always)]
    fn gettimeofday(&self) -> (i32, Timeval) {
        let mut tv = Timeval::default();
        // SAFETY: a writable timeval and a NULL timezone.
        let ret = unsafe { syscall3(nr::GETTIMEOFDAY, &raw mut tv as usize, 0, 0) };
        (ret as i32, tv)
    }

    #[inline(always)]
    fn time(&self) -> i64 {
        // SAFETY: NULL is allowed.
        unsafe { syscall3(nr::TIME, 0, 0, 0) as i64 }
    }

    #[inline(always)]
    fn clock_getres(&self, clock: i32) -> (i32, Timespec) {
        let mut ts = Timespec::default();
        // SAFETY: a writable timespec.
        let ret = unsafe { syscall3(nr::CLOCK_GETRES, clock as usize, &raw mut ts as usize, 0) };
        (ret as i32, ts)
    }

    #[inline(always)]
    fn getcpu(&self) -> (i64, u32, u32) {
        let (mut cpu, mut node) = (0u32, 0u32);
        // SAFETY: writable outputs and a NULL cache.
        let ret = unsafe { syscall3(nr::GETCPU, &raw mut cpu as usize, &raw mut node as usize, 0) };
        (ret as i64, cpu, node)
    }
}

/// One call's result, as a number to compare across targets: nanoseconds
/// for the clocks, microseconds' worth of nanoseconds for `gettimeofday`,
/// seconds for `time`, the resolution for `clock_getres`, `(node << 12) |
/// cpu` for `getcpu`; and the return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub ret: i64,
    pub value: i128,
}

/// Makes `call` on `e` once.
pub fn outcome<E: Entries>(e: &E, call: Call) -> Outcome {
    let ns = |ts: Timespec| i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec);
    match call {
        Call::ClockGettime(clock) => {
            let (ret, ts) = e.clock_gettime(clock);
            Outcome {
                ret: ret.into(),
                value: ns(ts),
            }
        }
        Call::Gettimeofday => {
            let (ret, tv) = e.gettimeofday();
            let value = i128::from(tv.tv_sec) * 1_000_000_000 + i128::from(tv.tv_usec) * 1000;
            Outcome {
                ret: ret.into(),
                value,
            }
        }
        Call::Time => Outcome {
            ret: 0,
            value: e.time().into(),
        },
        Call::ClockGetres => {
            let (ret, ts) = e.clock_getres(CLOCK_MONOTONIC);
            Outcome {
                ret: ret.into(),
                value: ns(ts),
            }
        }
        Call::Getcpu => {
            let (ret, cpu, node) = e.getcpu();
            Outcome {
                ret,
                value: (i128::from(node) << 12) | i128::from(cpu),
            }
        }
    }
}
