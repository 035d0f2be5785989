//! The calls under test, made the same way through a vDSO and through the
//! raw system call (never libc's wrapper, which may itself use the vDSO), so
//! return values compare as the kernel returns them: 0 or `-errno`.

use std::io;

use common::clock::{Timespec, Timeval, Timezone};
use kernel_side::Vdso;

/// What an output buffer holds before a call: a call that fails must leave
/// it so, as the kernel does.
pub const UNTOUCHED: Timespec = Timespec {
    tv_sec: 0x5a5a_5a5a_5a5a,
    tv_nsec: 0x5a5a_5a5a,
};

/// Every clock id the issue names, computed on the calling thread (the
/// per-thread CPU clock encodes its thread id).
pub fn every_clock_id() -> Vec<(String, i32)> {
    let mut ids: Vec<(String, i32)> = (0..=11).map(|id| (format!("clock {id}"), id)).collect();
    for id in [-1, 12, 16, i32::MAX, i32::MIN] {
        ids.push((format!("clock {id}"), id));
    }
    ids.push(("this thread's CPU clock".into(), this_thread_cpu_clock()));
    ids.push(("this process's CPU clock".into(), this_process_cpu_clock()));
    ids
}

/// `pthread_getcpuclockid(pthread_self())`: the kernel's encoding
/// `(~tid << 3) | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED`.
pub fn this_thread_cpu_clock() -> i32 {
    let mut id: libc::clockid_t = 0;
    // SAFETY: pthread_self() is a live thread and `id` is writable.
    let err = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
    assert_eq!(err, 0, "pthread_getcpuclockid failed");
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
    assert_eq!(id, (!tid << 3) | 6, "libc's encoding is not the kernel's");
    id
}

/// `clock_getcpuclockid(0)`: `(~pid << 3) | CPUCLOCK_SCHED`.
pub fn this_process_cpu_clock() -> i32 {
    let mut id: libc::clockid_t = 0;
    // SAFETY: pid 0 is the caller and `id` is writable.
    let err = unsafe { libc::clock_getcpuclockid(0, &mut id) };
    assert_eq!(err, 0, "clock_getcpuclockid failed");
    id
}

fn ret(value: libc::c_long) -> i32 {
    if value == -1 {
        -io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        value as i32
    }
}

/// `clock_gettime` through `vdso`, into a buffer holding [`UNTOUCHED`].
pub fn vdso_clock_gettime(vdso: &Vdso<'_>, clock: i32) -> (i32, Timespec) {
    let mut ts = UNTOUCHED;
    let f = vdso.entries.clock_gettime.expect("a clock_gettime entry");
    // SAFETY: a resolved entry of a mapped vDSO and a writable timespec.
    let r = unsafe { f(clock, &mut ts) };
    (r, ts)
}

/// `clock_getres` through `vdso`, with a buffer holding [`UNTOUCHED`] or NULL.
pub fn vdso_clock_getres(vdso: &Vdso<'_>, clock: i32, with_buffer: bool) -> (i32, Timespec) {
    let mut ts = UNTOUCHED;
    let p = if with_buffer {
        &mut ts as *mut Timespec
    } else {
        std::ptr::null_mut()
    };
    let f = vdso.entries.clock_getres.expect("a clock_getres entry");
    // SAFETY: a resolved entry; the pointer is writable or NULL, which
    // clock_getres accepts.
    let r = unsafe { f(clock, p) };
    (r, ts)
}

/// The `clock_gettime` system call, into a buffer holding [`UNTOUCHED`].
pub fn sys_clock_gettime(clock: i32) -> (i32, Timespec) {
    let mut ts = UNTOUCHED;
    // SAFETY: the raw system call with a writable timespec.
    let r = unsafe { libc::syscall(libc::SYS_clock_gettime, clock, &mut ts as *mut Timespec) };
    (ret(r), ts)
}

/// The `clock_getres` system call, with a buffer holding [`UNTOUCHED`] or NULL.
pub fn sys_clock_getres(clock: i32, with_buffer: bool) -> (i32, Timespec) {
    let mut ts = UNTOUCHED;
    let p = if with_buffer {
        &mut ts as *mut Timespec
    } else {
        std::ptr::null_mut()
    };
    // SAFETY: the raw system call; the pointer is writable or NULL.
    let r = unsafe { libc::syscall(libc::SYS_clock_getres, clock, p) };
    (ret(r), ts)
}

/// The kernel's `clock` in nanoseconds, through the system call.
pub fn sys_ns(clock: i32) -> i128 {
    let (r, ts) = sys_clock_gettime(clock);
    assert_eq!(
        r, 0,
        "the clock_gettime system call failed for clock {clock}"
    );
    crate::time::ns(ts)
}

/// The `gettimeofday` system call with each pointer NULL unless wanted.
pub fn sys_gettimeofday(want_tv: bool, want_tz: bool) -> (i32, Option<Timeval>, Option<Timezone>) {
    let (mut tv, mut tz) = (Timeval::default(), Timezone::default());
    let tvp = if want_tv {
        &mut tv as *mut Timeval
    } else {
        std::ptr::null_mut()
    };
    let tzp = if want_tz {
        &mut tz as *mut Timezone
    } else {
        std::ptr::null_mut()
    };
    // SAFETY: the raw system call; each pointer is writable or NULL.
    let r = unsafe { libc::syscall(libc::SYS_gettimeofday, tvp, tzp) };
    (ret(r), want_tv.then_some(tv), want_tz.then_some(tz))
}

/// The `time` system call.
#[cfg(target_arch = "x86_64")]
pub fn sys_time() -> i64 {
    // SAFETY: the raw system call with a NULL pointer, which it accepts.
    unsafe { libc::syscall(libc::SYS_time, std::ptr::null_mut::<i64>()) }
}

/// What a `time` system call would return where the architecture has none
/// (arm64, which has no `time` entry either): REALTIME_COARSE's seconds.
#[cfg(not(target_arch = "x86_64"))]
pub fn sys_time() -> i64 {
    sys_clock_gettime(common::clock::CLOCK_REALTIME_COARSE)
        .1
        .tv_sec
}

/// The `getcpu` system call: (returned, cpu, node).
pub fn sys_getcpu() -> (i32, u32, u32) {
    let (mut cpu, mut node) = (u32::MAX, u32::MAX);
    // SAFETY: the raw system call with writable outputs and a NULL cache.
    let r = unsafe {
        libc::syscall(
            libc::SYS_getcpu,
            &mut cpu as *mut u32,
            &mut node as *mut u32,
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    (ret(r), cpu, node)
}

/// `getcpu` through `vdso` with every pointer NULL.
pub fn vdso_getcpu_nulls(vdso: &Vdso<'_>) -> i64 {
    let f = vdso.entries.getcpu.expect("a getcpu entry");
    // SAFETY: a resolved entry; getcpu accepts NULL for each pointer.
    unsafe {
        f(
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// The CPUs the calling thread may run on.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    let set = affinity()?;
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads a bit of a valid cpu_set_t.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// The calling thread's affinity mask.
pub fn affinity() -> io::Result<libc::cpu_set_t> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is writable and sized.
    let r = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(set)
}

/// Restricts the calling thread to `set`.
pub fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t.
    let r = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Pins the calling thread to `cpu` alone.
pub fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET sets a bit of a valid cpu_set_t (it checks the index).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set_affinity(&set)
}
