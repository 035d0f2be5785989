//! The namespace file: what `vdso-run` writes and every process of the
//! namespace maps. One shared-memory file per run, named by the environment
//! variable [`ENV_NAMESPACE`]:
//!
//! ```text
//!   0      .. 16384   the data pages (vvar, pvclock, hvclock, time namespace),
//!                     kernel_side::DataPages; processes map them read-only below
//!                     the image, as docs/abi.md says
//!   16384  .. 20480   the control page: magic, flags, counters
//!   20480  .. 28672   the image's bytes (vdso.so or vdso-timens.so), checked
//!                     by vdso-run; processes copy them into private pages
//!                     (a shared-memory folder may be mounted noexec)
//! ```
//!
//! This file is included by path into both the binary and the preload
//! library, so it uses `core` only.

use core::sync::atomic::{AtomicU32, AtomicU64};

use common::entries::PerEntry;

/// The variable naming the namespace file. The preload library copies it
/// at load and puts it back into the environment of every program it execs.
pub const ENV_NAMESPACE: &str = "VDSO_RUN_NAMESPACE";

/// The data layout of the namespace file's pages and the images vdso-run
/// maps over them.
#[allow(dead_code)] // the preload library reads the pages through their type
pub const ABI: common::abi::Abi = common::abi::Abi::Linux6_6;

pub const PAGE_SIZE: usize = 4096;
/// The four data pages.
pub const DATA_SIZE: usize = 4 * PAGE_SIZE;
pub const CONTROL_OFFSET: usize = DATA_SIZE;
pub const CONTROL_SIZE: usize = PAGE_SIZE;
pub const IMAGE_OFFSET: usize = CONTROL_OFFSET + CONTROL_SIZE;
/// Room for the largest image.
pub const IMAGE_ROOM: usize = common::entries::MAX_IMAGE_SIZE.div_ceil(PAGE_SIZE) * PAGE_SIZE;
pub const FILE_SIZE: usize = IMAGE_OFFSET + IMAGE_ROOM;

/// `vdso-run` layout version 1.
pub const MAGIC: u64 = u64::from_le_bytes(*b"vdsorun1");

/// The image is the time-namespace image; the page at B-4096 holds offsets.
pub const FLAG_TIMENS: u32 = 1;
/// Count calls (`--verbose`).
pub const FLAG_COUNT: u32 = 2;

/// Calls whose absolute deadline (or result) the preload library translated.
pub const TRANSLATED: [&str; 14] = [
    "clock_nanosleep",
    "timerfd_settime",
    "timer_settime",
    "pthread_cond_clockwait",
    "pthread_cond_timedwait",
    "sem_clockwait",
    "pthread_mutex_clocklock",
    "pthread_rwlock_clockrdlock",
    "pthread_rwlock_clockwrlock",
    "pthread_clockjoin_np",
    "futex",
    "futex_waitv",
    "sysinfo",
    "clock_gettime offset on a system call",
];
pub const T_CLOCK_NANOSLEEP: usize = 0;
pub const T_TIMERFD_SETTIME: usize = 1;
pub const T_TIMER_SETTIME: usize = 2;
pub const T_COND_CLOCKWAIT: usize = 3;
pub const T_COND_TIMEDWAIT: usize = 4;
pub const T_SEM_CLOCKWAIT: usize = 5;
pub const T_MUTEX_CLOCKLOCK: usize = 6;
pub const T_RWLOCK_CLOCKRDLOCK: usize = 7;
pub const T_RWLOCK_CLOCKWRLOCK: usize = 8;
pub const T_CLOCKJOIN: usize = 9;
pub const T_FUTEX: usize = 10;
pub const T_FUTEX_WAITV: usize = 11;
pub const T_SYSINFO: usize = 12;
pub const T_SYSCALL_OFFSET: usize = 13;

/// The control page. Written by `vdso-run` before any process maps it,
/// except the counters, which every process adds to.
#[repr(C)]
pub struct Control {
    pub magic: AtomicU64,
    pub flags: AtomicU32,
    pub image_len: AtomicU32,
    /// `vdso-run`'s pid, for messages.
    pub timekeeper_pid: AtomicU32,
    pub _reserved: AtomicU32,
    /// Calls the image served, per entry of the table.
    pub served: PerEntry<AtomicU64>,
    pub translated: [AtomicU64; TRANSLATED.len()],
    /// Programs the preload library refused to exec (unreachable).
    pub refused: AtomicU64,
    /// Execs whose environment it had to repair.
    pub reinjected: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<Control>() <= CONTROL_SIZE);
