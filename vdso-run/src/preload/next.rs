//! The functions this library interposes on, as the next object (libc)
//! defines them: `dlsym(RTLD_NEXT, ...)`, resolved once in the constructor
//! (dlsym is not async-signal-safe) and cached in atomics. A call before the
//! constructor ran resolves on the spot.

use core::ffi::{c_char, c_int, c_long, c_void};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use libc::{clockid_t, pid_t, timespec};

macro_rules! next {
    ($($name:ident: $ty:ty;)*) => {
        $(
            /// The next definition of the symbol of this name, if any.
            pub fn $name() -> Option<$ty> {
                static SLOT: AtomicUsize = AtomicUsize::new(0);
                let mut p = SLOT.load(Relaxed);
                if p == 0 {
                    let sym = concat!(stringify!($name), "\0");
                    // SAFETY: a NUL-terminated name; RTLD_NEXT searches the
                    // objects loaded after this one.
                    p = unsafe { libc::dlsym(libc::RTLD_NEXT, sym.as_ptr().cast()) } as usize;
                    SLOT.store(p, Relaxed);
                }
                // SAFETY: a non-null address dlsym returned for this symbol,
                // whose C signature `$ty` spells out.
                (p != 0).then(|| unsafe { core::mem::transmute::<usize, $ty>(p) })
            }
        )*

        /// Resolves every symbol now (from the constructor).
        pub fn resolve_all() {
            $( let _ = $name(); )*
        }
    };
}

pub type ClockFn = unsafe extern "C" fn(clockid_t, *mut timespec) -> c_int;
pub type TimespecCall = unsafe extern "C" fn(*mut c_void, clockid_t, *const timespec) -> c_int;

next! {
    clock_gettime: ClockFn;
    clock_getres: ClockFn;
    gettimeofday: unsafe extern "C" fn(*mut libc::timeval, *mut c_void) -> c_int;
    time: unsafe extern "C" fn(*mut libc::time_t) -> libc::time_t;
    getcpu: unsafe extern "C" fn(*mut u32, *mut u32) -> c_int;
    sysinfo: unsafe extern "C" fn(*mut libc::sysinfo) -> c_int;
    clock_nanosleep: unsafe extern "C" fn(clockid_t, c_int, *const timespec, *mut timespec) -> c_int;
    timerfd_settime: unsafe extern "C" fn(c_int, c_int, *const libc::itimerspec, *mut libc::itimerspec) -> c_int;
    timer_create: unsafe extern "C" fn(clockid_t, *mut libc::sigevent, *mut libc::timer_t) -> c_int;
    timer_delete: unsafe extern "C" fn(libc::timer_t) -> c_int;
    timer_settime: unsafe extern "C" fn(libc::timer_t, c_int, *const libc::itimerspec, *mut libc::itimerspec) -> c_int;
    pthread_cond_timedwait: unsafe extern "C" fn(*mut libc::pthread_cond_t, *mut libc::pthread_mutex_t, *const timespec) -> c_int;
    pthread_cond_clockwait: unsafe extern "C" fn(*mut libc::pthread_cond_t, *mut libc::pthread_mutex_t, clockid_t, *const timespec) -> c_int;
    sem_clockwait: TimespecCall;
    pthread_mutex_clocklock: TimespecCall;
    pthread_rwlock_clockrdlock: TimespecCall;
    pthread_rwlock_clockwrlock: TimespecCall;
    pthread_clockjoin_np: unsafe extern "C" fn(libc::pthread_t, *mut *mut c_void, clockid_t, *const timespec) -> c_int;
    syscall: unsafe extern "C" fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;
    execve: unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
    execvpe: unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
    execveat: unsafe extern "C" fn(c_int, *const c_char, *const *const c_char, *const *const c_char, c_int) -> c_int;
    fexecve: unsafe extern "C" fn(c_int, *const *const c_char, *const *const c_char) -> c_int;
    posix_spawn: SpawnFn;
    posix_spawnp: SpawnFn;
}

pub type SpawnFn = unsafe extern "C" fn(
    *mut pid_t,
    *const c_char,
    *const libc::posix_spawn_file_actions_t,
    *const libc::posix_spawnattr_t,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
