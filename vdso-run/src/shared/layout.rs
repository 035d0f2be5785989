//! The namespace file: what `vdso-run` writes and every process of the
//! namespace maps. One shared-memory file per run, named by the environment
//! variable [`ENV_NAMESPACE`], laid out for the run's data layout (`--abi`):
//!
//! ```text
//!   0      .. D          the layout's data pages (kernel_side::DataPages:
//!                        four for linux-6.6 and linux-6.12, six for
//!                        linux-6.18), in slot order; processes map them
//!                        read-only below the image, as docs/abi.md says
//!   D      .. D + 4096   the control page: magic, the layout, flags, counters
//!   D + 4096 ..          the image's bytes (vdso.so or vdso-timens.so),
//!                        checked by vdso-run; processes map them read and
//!                        execute from the start
//! ```
//!
//! A reader learns `D` by finding the control page: the one layout whose
//! control offset holds [`MAGIC`] and that layout's code
//! ([`FileLayout::find`]).
//!
//! This file is included by path into both the binary and the preload
//! library, so it uses `core` only.

use core::sync::atomic::{AtomicU32, AtomicU64};

use common::abi::{Abi, Arch};
use common::entries::PerEntry;
use common::layout::LayoutInfo;

/// The variable naming the namespace file. The preload library copies it
/// at load and puts it back into the environment of every program it execs.
pub const ENV_NAMESPACE: &str = "VDSO_RUN_NAMESPACE";

pub const PAGE_SIZE: usize = 4096;
pub const CONTROL_SIZE: usize = PAGE_SIZE;
/// Room for the largest image.
pub const IMAGE_ROOM: usize = common::entries::MAX_IMAGE_SIZE.div_ceil(PAGE_SIZE) * PAGE_SIZE;

/// `vdso-run` file format 2: the data pages of any layout, the control page
/// naming it.
pub const MAGIC: u64 = u64::from_le_bytes(*b"vdsorun2");

/// Where each part of a namespace file of one layout lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLayout {
    pub abi: Abi,
    pub info: LayoutInfo,
    /// The data pages, from offset 0.
    pub data_size: usize,
    pub control_offset: usize,
    pub image_offset: usize,
    pub file_size: usize,
}

impl FileLayout {
    pub const fn of(abi: Abi) -> FileLayout {
        let info = LayoutInfo::of(Arch::HOST, abi);
        let data_size = info.data_pages * PAGE_SIZE;
        FileLayout {
            abi,
            info,
            data_size,
            control_offset: data_size,
            image_offset: data_size + CONTROL_SIZE,
            file_size: data_size + CONTROL_SIZE + IMAGE_ROOM,
        }
    }

    /// The layout's code in the control page (never 0, which a file not
    /// yet written holds).
    pub fn code(abi: Abi) -> u32 {
        Abi::ALL
            .iter()
            .position(|&a| a == abi)
            .map_or(0, |i| i as u32 + 1)
    }

    /// The layout of a file of `size` bytes whose control page, at the
    /// layout's offset, `read_control` says holds `(magic, code)`.
    pub fn find(
        size: u64,
        mut read_control: impl FnMut(usize) -> Option<(u64, u32)>,
    ) -> Option<FileLayout> {
        Abi::ALL.into_iter().map(FileLayout::of).find(|l| {
            size >= l.file_size as u64
                && read_control(l.control_offset) == Some((MAGIC, FileLayout::code(l.abi)))
        })
    }

    /// The data pages as a process maps them, for a host process or a
    /// namespaced one (`common::layout`'s arrangement): runs of
    /// consecutive pages of the file, each `(first slot, first page of the
    /// file, pages)`, for one `mmap` each.
    pub fn runs(&self, namespaced: bool) -> impl Iterator<Item = (usize, usize, usize)> + use<> {
        let info = self.info;
        let mut slot = 0;
        core::iter::from_fn(move || {
            if slot >= info.data_pages {
                return None;
            }
            let (first, page) = (slot, info.page_in_slot(slot, namespaced));
            slot += 1;
            while slot < info.data_pages
                && info.page_in_slot(slot, namespaced) == page + slot - first
            {
                slot += 1;
            }
            Some((first, page, slot - first))
        })
    }
}

/// The image is the time-namespace image; the data pages are arranged for
/// a namespaced process.
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
    /// [`FileLayout::code`] of the file's layout.
    pub layout: AtomicU32,
    pub flags: AtomicU32,
    pub image_len: AtomicU32,
    /// `vdso-run`'s pid, for messages.
    pub timekeeper_pid: AtomicU32,
    /// Calls the image served, per entry of the table.
    pub served: PerEntry<AtomicU64>,
    pub translated: [AtomicU64; TRANSLATED.len()],
    /// Programs the preload library refused to exec (unreachable).
    pub refused: AtomicU64,
    /// Execs whose environment it had to repair.
    pub reinjected: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<Control>() <= CONTROL_SIZE);
