//! libvdso_run_preload.so: loaded into every process vdso-run starts
//! (`LD_PRELOAD`), it sends the libc clock functions to the vdso-rs image
//! mapped over the namespace's shared data pages, translates absolute-time
//! waits on the namespace's clocks to host time, and keeps exec'd programs
//! in the namespace. See vdso-run/README.md.
//!
//! Rules for everything here: no allocation, no locks, no panics, raw
//! system calls for our own needs (libc's `syscall` and `clock_gettime` are
//! ours). The clock functions run in signal handlers and forked children;
//! the exec functions may run in a `vfork` child.
//!
//! A process started without vdso-run's environment (the library preloaded
//! by hand) is left alone: every function calls libc's.

#[path = "../shared/deadline.rs"]
mod deadline;
#[path = "../shared/elfcheck.rs"]
mod elfcheck;
#[path = "../shared/layout.rs"]
mod layout;
#[path = "../shared/privilege.rs"]
mod privilege;

mod clocks;
mod env;
mod exec;
mod next;
mod ns;
mod sys;
mod timers;
mod waits;

/// Runs when the library is loaded, before `main` (which may clear the
/// environment): copy what we need from the environment, resolve libc's
/// functions while dlsym is still safe to call, and join the namespace
/// while a descriptor is sure to be free.
extern "C" fn constructor() {
    env::capture();
    next::resolve_all();
    ns::join_at_load();
    // SAFETY: registers a handler of this library, which is never
    // unloaded, to run in the child after each fork.
    unsafe { libc::pthread_atfork(None, None, Some(ns::after_fork_in_child)) };
}

#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = constructor;
