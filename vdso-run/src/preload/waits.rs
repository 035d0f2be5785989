//! Absolute-time waits on a namespaced clock, translated to host time as a
//! namespaced kernel does (`timens_ktime_to_host`, in shared/deadline.rs):
//! host = namespaced - offset, for CLOCK_MONOTONIC and
//! CLOCK_BOOTTIME(_ALARM); a deadline before the offset has already passed.
//! Without this a program sleeps for the offset (a positive one) or not at
//! all (a negative one).

use core::ffi::{c_int, c_long, c_void};
use core::fmt::Write;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use common::route::deadline_shift;
use libc::{clockid_t, itimerspec, timespec};

use crate::deadline::{self, futex_waits_on_monotonic};
use crate::layout::{
    T_CLOCK_NANOSLEEP, T_CLOCKJOIN, T_COND_CLOCKWAIT, T_COND_TIMEDWAIT, T_FUTEX, T_FUTEX_WAITV,
    T_MUTEX_CLOCKLOCK, T_RWLOCK_CLOCKRDLOCK, T_RWLOCK_CLOCKWRLOCK, T_SEM_CLOCKWAIT,
    T_TIMER_SETTIME, T_TIMERFD_SETTIME,
};
use crate::next;
use crate::ns::{self, Ns};
use crate::sys;
use crate::timers;

/// The namespace's offset for an absolute wait on `clock`, in ns: what
/// Linux moves a deadline on that clock by (`common::route::deadline_shift`).
fn wait_offset(ns: Ns, clock: clockid_t) -> i128 {
    if deadline_shift(clock).is_some() {
        ns.offset_ns(clock)
    } else {
        0
    }
}

/// The host deadline for an absolute `t` on `clock`, or `None` when the
/// call needs no change (another clock, no offset, an invalid time the
/// kernel will refuse itself).
///
/// # Safety
/// `t` must be NULL or point to a readable timespec.
unsafe fn to_host(ns: Ns, clock: clockid_t, t: *const timespec) -> Option<timespec> {
    let offset = wait_offset(ns, clock);
    // Without an offset `t` is not even read: the kernel judges it.
    if t.is_null() || offset == 0 {
        return None;
    }
    // SAFETY: the caller vouches for `t`.
    let t = unsafe { t.read() };
    let (tv_sec, tv_nsec) = deadline::to_host(offset, t.tv_sec, t.tv_nsec)?;
    Some(timespec { tv_sec, tv_nsec })
}

/// A timer's setting with its expiry translated (its interval is relative).
///
/// # Safety
/// `new` must point to a readable itimerspec.
unsafe fn timer_to_host(ns: Ns, clock: clockid_t, new: *const itimerspec) -> Option<itimerspec> {
    // SAFETY: the caller vouches for `new`.
    let mut spec = unsafe { new.read() };
    let value = spec.it_value;
    let (tv_sec, tv_nsec) =
        deadline::expiry_to_host(wait_offset(ns, clock), value.tv_sec, value.tv_nsec)?;
    spec.it_value = timespec { tv_sec, tv_nsec };
    Some(spec)
}

/// The namespace, when it has offsets to translate by.
fn timens() -> Option<Ns> {
    ns::get().filter(|ns| ns.timens())
}

/// `abstime` on `clock` moved to host time, and counted as `counter`, when
/// this process is in a time namespace that shifts that clock; `None` when
/// the call keeps the caller's deadline.
///
/// # Safety
/// `abstime` must be NULL or point to a readable timespec.
unsafe fn translated(
    clock: clockid_t,
    abstime: *const timespec,
    counter: usize,
) -> Option<timespec> {
    let ns = timens()?;
    // SAFETY: forwarded from the caller.
    let host = unsafe { to_host(ns, clock, abstime) }?;
    ns.count_translated(counter);
    Some(host)
}

/// A timer's setting with its absolute expiry moved to host time, and
/// counted as `counter`, as `translated` does for a deadline. `clock` is
/// asked for the timer's clock only in a time namespace.
///
/// # Safety
/// `new` must be NULL or point to a readable itimerspec.
unsafe fn translated_timer(
    clock: impl FnOnce() -> Option<clockid_t>,
    new: *const itimerspec,
    counter: usize,
) -> Option<itimerspec> {
    if new.is_null() {
        return None;
    }
    let ns = timens()?;
    // SAFETY: forwarded from the caller, checked non-NULL.
    let host = unsafe { timer_to_host(ns, clock()?, new) }?;
    ns.count_translated(counter);
    Some(host)
}

/// What to pass on to libc: the translated value if there is one, else the
/// caller's own pointer.
fn or_theirs<T>(host: &Option<T>, theirs: *const T) -> *const T {
    host.as_ref().map_or(theirs, core::ptr::from_ref)
}

/// # Safety
/// As clock_nanosleep(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    let Some(real) = next::clock_nanosleep() else {
        return libc::ENOSYS;
    };
    let host = if flags & libc::TIMER_ABSTIME != 0 {
        // SAFETY: the caller's pointer, as the kernel would read it.
        unsafe { translated(clock, req, T_CLOCK_NANOSLEEP) }
    } else {
        None
    };
    // SAFETY: libc's function with the caller's arguments, the deadline
    // perhaps a local one.
    unsafe { real(clock, flags, or_theirs(&host, req), rem) }
}

/// The clock a timerfd counts on, from /proc/self/fdinfo (which also knows
/// descriptors inherited across exec or duplicated); `Ok(None)` for a
/// descriptor that is not a timerfd (the kernel refuses the call itself),
/// an error when its file cannot be opened for want of a descriptor.
fn timerfd_clock(fd: c_int) -> Result<Option<clockid_t>, c_int> {
    let (path, len) = fdinfo_path(fd);
    match sys::open(&path[..len], libc::O_RDONLY) {
        Ok(file) => {
            let mut buf = [0u8; 1024];
            let got = sys::pread(file, &mut buf, 0);
            sys::close(file);
            Ok(fdinfo_clock(&buf[..got]))
        }
        Err(e @ (libc::EMFILE | libc::ENFILE | libc::ENOMEM)) => Err(e),
        Err(_) => Ok(None),
    }
}

/// `/proc/self/fdinfo/FD`, NUL-terminated, and its length with the NUL.
fn fdinfo_path(fd: c_int) -> ([u8; 32], usize) {
    let mut path = [0u8; 32];
    let prefix = b"/proc/self/fdinfo/";
    path[..prefix.len()].copy_from_slice(prefix);
    let mut len = prefix.len();
    let mut digits = [0u8; 12];
    let mut n = fd as u32;
    let mut d = 0;
    loop {
        digits[d] = b'0' + (n % 10) as u8;
        d += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in (0..d).rev() {
        path[len] = digits[i];
        len += 1;
    }
    (path, len + 1)
}

/// The `clockid:` of a timerfd's fdinfo.
fn fdinfo_clock(text: &[u8]) -> Option<clockid_t> {
    let key = b"clockid:";
    let at = text.windows(key.len()).position(|w| w == key)? + key.len();
    let mut value: i32 = 0;
    let mut seen = false;
    for &b in &text[at..] {
        match b {
            b' ' | b'\t' if !seen => {}
            b'0'..=b'9' => {
                value = value.checked_mul(10)?.checked_add(i32::from(b - b'0'))?;
                seen = true;
            }
            _ => break,
        }
    }
    seen.then_some(value)
}

/// An absolute timerfd setting whose clock cannot be learnt (its fdinfo
/// cannot be opened: every descriptor the hard limit allows is taken)
/// fails with that error, as a call short of a resource does, and says so
/// once, rather than run on an untranslated expiry.
#[cold]
fn cannot_learn_timerfd_clock(e: c_int) -> c_int {
    static SAID: AtomicU32 = AtomicU32::new(0);
    if SAID.swap(1, Ordering::Relaxed) == 0 {
        let mut m = sys::Msg::new();
        let _ = write!(
            m,
            "vdso-run: timerfd_settime in pid {}: cannot open /proc/self/fdinfo to learn the \
             timer's clock (errno {e}: every descriptor the hard limit allows is taken); the \
             call fails rather than set an untranslated expiry",
            sys::getpid()
        );
        m.send();
    }
    sys::set_errno(e);
    -1
}

/// # Safety
/// As timerfd_settime(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timerfd_settime(
    fd: c_int,
    flags: c_int,
    new: *const itimerspec,
    old: *mut itimerspec,
) -> c_int {
    let Some(real) = next::timerfd_settime() else {
        sys::set_errno(libc::ENOSYS);
        return -1;
    };
    let host = if flags & libc::TFD_TIMER_ABSTIME != 0 && timens().is_some() {
        let clock = match timerfd_clock(fd) {
            Ok(clock) => clock,
            Err(e) => return cannot_learn_timerfd_clock(e),
        };
        // SAFETY: the caller's pointer, as the kernel would read it.
        unsafe { translated_timer(|| clock, new, T_TIMERFD_SETTIME) }
    } else {
        None
    };
    // SAFETY: libc's function with the caller's arguments, the expiry
    // perhaps a local one.
    unsafe { real(fd, flags, or_theirs(&host, new), old) }
}

/// # Safety
/// As timer_create(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timer_create(
    clock: clockid_t,
    sevp: *mut libc::sigevent,
    timerid: *mut libc::timer_t,
) -> c_int {
    let Some(real) = next::timer_create() else {
        sys::set_errno(libc::ENOSYS);
        return -1;
    };
    // SAFETY: libc's function with the caller's arguments.
    let ret = unsafe { real(clock, sevp, timerid) };
    // Only a timer on a clock the namespace shifts is recorded: for any
    // other, timer_settime has nothing to translate.
    if ret != 0 || timerid.is_null() || timens().is_none_or(|ns| wait_offset(ns, clock) == 0) {
        return ret;
    }
    // SAFETY: libc just wrote it.
    let timer = unsafe { timerid.read() };
    if timers::record(timer, clock) {
        return ret;
    }
    // No room for its clock: rather than a timer whose absolute expiry
    // would go untranslated, none, as when the kernel runs out.
    if let Some(delete) = next::timer_delete() {
        // SAFETY: the timer libc just created, deleted before anyone saw it.
        unsafe { delete(timer) };
    }
    static SAID: AtomicU32 = AtomicU32::new(0);
    if SAID.swap(1, Ordering::Relaxed) == 0 {
        let mut m = sys::Msg::new();
        let _ = core::fmt::Write::write_fmt(
            &mut m,
            format_args!(
                "vdso-run: pid {}: no memory to record one more POSIX timer's clock for \
                 translation; timer_create fails with EAGAIN, as when the kernel runs out",
                sys::getpid()
            ),
        );
        m.send();
    }
    sys::set_errno(libc::EAGAIN);
    -1
}

/// # Safety
/// As timer_delete(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timer_delete(timerid: libc::timer_t) -> c_int {
    let Some(real) = next::timer_delete() else {
        sys::set_errno(libc::ENOSYS);
        return -1;
    };
    // SAFETY: libc's function with the caller's argument.
    let ret = unsafe { real(timerid) };
    if ret == 0 {
        timers::forget(timerid);
    }
    ret
}

/// # Safety
/// As timer_settime(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timer_settime(
    timerid: libc::timer_t,
    flags: c_int,
    new: *const itimerspec,
    old: *mut itimerspec,
) -> c_int {
    let Some(real) = next::timer_settime() else {
        sys::set_errno(libc::ENOSYS);
        return -1;
    };
    let clock = || timers::clock(timerid);
    let host = if flags & libc::TIMER_ABSTIME != 0 {
        // SAFETY: the caller's pointer, as the kernel would read it.
        unsafe { translated_timer(clock, new, T_TIMER_SETTIME) }
    } else {
        None
    };
    // SAFETY: libc's function with the caller's arguments, the expiry
    // perhaps a local one.
    unsafe { real(timerid, flags, or_theirs(&host, new), old) }
}

/// Which 32-bit word of glibc's `pthread_cond_t` records the clock, and the
/// bit: found once by initialising two condition variables, one per clock,
/// with libc's own functions and comparing them (glibc keeps it in bit 1 of
/// `__wrefs` since 2.25). This is what glibc's pthread_cond_timedwait itself
/// reads, so it is right for condition variables initialised statically,
/// before this library loaded, or in another process (process-shared), and
/// never stale for memory reused after a missing pthread_cond_destroy.
static COND_PROBE: AtomicU32 = AtomicU32::new(PROBE_UNKNOWN);
const PROBE_UNKNOWN: u32 = 0;
const PROBE_FAILED: u32 = u32::MAX;
const COND_WORDS: usize = core::mem::size_of::<libc::pthread_cond_t>() / 4;

/// (word index, bit mask) of the clock in a `pthread_cond_t`.
fn cond_clock_word() -> Option<(usize, u32)> {
    let probe = COND_PROBE.load(Ordering::Relaxed);
    match probe {
        PROBE_FAILED => return None,
        PROBE_UNKNOWN => {}
        known => return Some(((known >> 8) as usize - 1, 1 << (known & 0x1f))),
    }
    let found = probe_cond_clock();
    let value = match found {
        Some((word, bit)) => (((word + 1) as u32) << 8) | bit.trailing_zeros(),
        None => PROBE_FAILED,
    };
    COND_PROBE.store(value, Ordering::Relaxed);
    if found.is_none() {
        let mut m = sys::Msg::new();
        let _ = core::fmt::Write::write_str(
            &mut m,
            "vdso-run: cannot tell which clock glibc's condition variables use; \
             pthread_cond_timedwait on CLOCK_MONOTONIC will not be translated",
        );
        m.send();
    }
    found
}

fn probe_cond_clock() -> Option<(usize, u32)> {
    // SAFETY: plain data, initialised by libc below.
    let mut attr: libc::pthread_condattr_t = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    let mut realtime: libc::pthread_cond_t = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    let mut monotonic: libc::pthread_cond_t = unsafe { core::mem::zeroed() };
    // SAFETY: libc's own functions (not interposed here) on local objects.
    unsafe {
        if libc::pthread_condattr_init(&mut attr) != 0
            || libc::pthread_cond_init(&mut realtime, &attr) != 0
            || libc::pthread_condattr_setclock(&mut attr, libc::CLOCK_MONOTONIC) != 0
            || libc::pthread_cond_init(&mut monotonic, &attr) != 0
        {
            return None;
        }
        libc::pthread_condattr_destroy(&mut attr);
    }
    // SAFETY: pthread_cond_t is plain memory of COND_WORDS words.
    let words = |c: &libc::pthread_cond_t| unsafe {
        core::ptr::read(core::ptr::from_ref(c).cast::<[u32; COND_WORDS]>())
    };
    let (r, m) = (words(&realtime), words(&monotonic));
    // SAFETY: initialised above, never waited on.
    unsafe {
        libc::pthread_cond_destroy(&mut realtime);
        libc::pthread_cond_destroy(&mut monotonic);
    }
    let mut found = None;
    for i in 0..COND_WORDS {
        let diff = r[i] ^ m[i];
        if diff == 0 {
            continue;
        }
        if found.is_some() || diff.count_ones() != 1 || m[i] & diff == 0 {
            return None;
        }
        found = Some((i, diff));
    }
    found
}

/// True if glibc will wait on `cond` against CLOCK_MONOTONIC.
///
/// # Safety
/// `cond` must point to a pthread_cond_t.
unsafe fn cond_is_monotonic(cond: *const libc::pthread_cond_t) -> bool {
    let Some((word, bit)) = cond_clock_word() else {
        return false;
    };
    // SAFETY: inside the object; glibc reads this word atomically itself.
    let w = unsafe { &*cond.cast::<AtomicI32>().add(word) };
    w.load(Ordering::Relaxed) as u32 & bit != 0
}

/// # Safety
/// As pthread_cond_timedwait(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_timedwait(
    cond: *mut libc::pthread_cond_t,
    mutex: *mut libc::pthread_mutex_t,
    abstime: *const timespec,
) -> c_int {
    let Some(real) = next::pthread_cond_timedwait() else {
        return libc::ENOSYS;
    };
    // Only in a time namespace is glibc's clock bit looked for (a process
    // vdso-run did not start never probes its condition variables).
    // SAFETY: the caller's condition variable.
    let host = if timens().is_some() && unsafe { cond_is_monotonic(cond) } {
        // SAFETY: the caller's pointer.
        unsafe { translated(libc::CLOCK_MONOTONIC, abstime, T_COND_TIMEDWAIT) }
    } else {
        None
    };
    // SAFETY: libc's function with the caller's arguments, the deadline
    // perhaps a local one.
    unsafe { real(cond, mutex, or_theirs(&host, abstime)) }
}

/// # Safety
/// As pthread_cond_clockwait(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_clockwait(
    cond: *mut libc::pthread_cond_t,
    mutex: *mut libc::pthread_mutex_t,
    clock: clockid_t,
    abstime: *const timespec,
) -> c_int {
    let Some(real) = next::pthread_cond_clockwait() else {
        return libc::ENOSYS;
    };
    // SAFETY: the caller's pointer.
    let host = unsafe { translated(clock, abstime, T_COND_CLOCKWAIT) };
    // SAFETY: libc's function with the caller's arguments, the deadline
    // perhaps a local one.
    unsafe { real(cond, mutex, clock, or_theirs(&host, abstime)) }
}

/// `f(object, clock, abstime)`: sem_clockwait, pthread_mutex_clocklock,
/// pthread_rwlock_clock{rd,wr}lock.
///
/// # Safety
/// As the function `real` is.
unsafe fn clock_call(
    real: Option<next::TimespecCall>,
    counter: usize,
    object: *mut c_void,
    clock: clockid_t,
    abstime: *const timespec,
) -> c_int {
    let Some(real) = real else {
        return libc::ENOSYS;
    };
    // SAFETY: the caller's pointer.
    let host = unsafe { translated(clock, abstime, counter) };
    // SAFETY: libc's function with the caller's arguments, the deadline
    // perhaps a local one.
    unsafe { real(object, clock, or_theirs(&host, abstime)) }
}

/// # Safety
/// As sem_clockwait(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_clockwait(
    sem: *mut libc::sem_t,
    clock: clockid_t,
    abstime: *const timespec,
) -> c_int {
    // sem_clockwait returns -1 and errno, unlike the pthread functions.
    let Some(real) = next::sem_clockwait() else {
        sys::set_errno(libc::ENOSYS);
        return -1;
    };
    // SAFETY: forwarded from the caller.
    unsafe { clock_call(Some(real), T_SEM_CLOCKWAIT, sem.cast(), clock, abstime) }
}

/// # Safety
/// As pthread_mutex_clocklock(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_clocklock(
    mutex: *mut libc::pthread_mutex_t,
    clock: clockid_t,
    abstime: *const timespec,
) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        clock_call(
            next::pthread_mutex_clocklock(),
            T_MUTEX_CLOCKLOCK,
            mutex.cast(),
            clock,
            abstime,
        )
    }
}

/// # Safety
/// As pthread_rwlock_clockrdlock(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_clockrdlock(
    rwlock: *mut libc::pthread_rwlock_t,
    clock: clockid_t,
    abstime: *const timespec,
) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        clock_call(
            next::pthread_rwlock_clockrdlock(),
            T_RWLOCK_CLOCKRDLOCK,
            rwlock.cast(),
            clock,
            abstime,
        )
    }
}

/// # Safety
/// As pthread_rwlock_clockwrlock(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_clockwrlock(
    rwlock: *mut libc::pthread_rwlock_t,
    clock: clockid_t,
    abstime: *const timespec,
) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        clock_call(
            next::pthread_rwlock_clockwrlock(),
            T_RWLOCK_CLOCKWRLOCK,
            rwlock.cast(),
            clock,
            abstime,
        )
    }
}

/// # Safety
/// As pthread_clockjoin_np(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_clockjoin_np(
    thread: libc::pthread_t,
    retval: *mut *mut c_void,
    clock: clockid_t,
    abstime: *const timespec,
) -> c_int {
    let Some(real) = next::pthread_clockjoin_np() else {
        return libc::ENOSYS;
    };
    // SAFETY: the caller's pointer.
    let host = unsafe { translated(clock, abstime, T_CLOCKJOIN) };
    // SAFETY: libc's function with the caller's arguments, the deadline
    // perhaps a local one.
    unsafe { real(thread, retval, clock, or_theirs(&host, abstime)) }
}

/// syscall(3), which is variadic: on x86-64 its integer arguments arrive in
/// the same registers (and stack slot) as these seven, and reading one the
/// caller did not pass reads an unused register or its frame, harmlessly.
/// Absolute futex waits (Rust's Condvar and park_timeout, many runtimes),
/// futex_waitv, clock_nanosleep and timerfd_settime are translated;
/// clock_gettime and sysinfo are answered as the wrappers answer them.
///
/// # Safety
/// As syscall(2) for system call `nr`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn syscall(
    nr: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let Some(real) = next::syscall() else {
        sys::set_errno(libc::ENOSYS);
        return -1;
    };
    match nr {
        // futex(uaddr, op, val, timeout, ...): an absolute CLOCK_MONOTONIC
        // timeout for the operations that have one.
        libc::SYS_futex if futex_waits_on_monotonic(a2 as c_int) => {
            let timeout = a4 as *const timespec;
            // SAFETY: the caller's timeout, as the kernel would read it.
            let host = unsafe { translated(libc::CLOCK_MONOTONIC, timeout, T_FUTEX) };
            let timeout = or_theirs(&host, timeout) as c_long;
            // SAFETY: the caller's call, the timeout perhaps a local one.
            return unsafe { real(nr, a1, a2, a3, timeout, a5, a6) };
        }
        // futex_waitv(waiters, n, flags, timeout, clock).
        libc::SYS_futex_waitv => {
            let timeout = a4 as *const timespec;
            // SAFETY: the caller's timeout, as the kernel would read it.
            let host = unsafe { translated(a5 as clockid_t, timeout, T_FUTEX_WAITV) };
            let timeout = or_theirs(&host, timeout) as c_long;
            // SAFETY: the caller's call, the timeout perhaps a local one.
            return unsafe { real(nr, a1, a2, a3, timeout, a5, a6) };
        }
        libc::SYS_clock_nanosleep => {
            // SAFETY: forwarded; the result is an error number, which
            // syscall(3) reports as -1 and errno.
            let r = unsafe {
                clock_nanosleep(
                    a1 as clockid_t,
                    a2 as c_int,
                    a3 as *const timespec,
                    a4 as *mut timespec,
                )
            };
            if r != 0 {
                sys::set_errno(r);
                return -1;
            }
            return 0;
        }
        libc::SYS_timerfd_settime => {
            // SAFETY: forwarded; -1 and errno as syscall(3) reports.
            return unsafe {
                timerfd_settime(
                    a1 as c_int,
                    a2 as c_int,
                    a3 as *const itimerspec,
                    a4 as *mut itimerspec,
                )
            } as c_long;
        }
        libc::SYS_clock_gettime => {
            // SAFETY: forwarded; -1 and errno as syscall(3) reports.
            return unsafe { crate::clocks::clock_gettime(a1 as clockid_t, a2 as *mut timespec) }
                as c_long;
        }
        libc::SYS_sysinfo => {
            // SAFETY: forwarded; -1 and errno as syscall(3) reports.
            return unsafe { crate::clocks::sysinfo(a1 as *mut libc::sysinfo) } as c_long;
        }
        _ => {}
    }
    // SAFETY: the caller's call, unchanged.
    unsafe { real(nr, a1, a2, a3, a4, a5, a6) }
}
