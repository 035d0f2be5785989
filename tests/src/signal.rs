//! The signal trampoline (arm64's `__kernel_rt_sigreturn`): a signal
//! handler returns through it, and an unwinder walking out of the handler
//! recognises it by its bytes and carries on into the code the signal
//! interrupted, as with Linux's.
//!
//! The kernel points a handler's return address at the trampoline unless
//! the program set `SA_RESTORER`; here, where the image is not the
//! kernel's vDSO (and under qemu-user, which has its own), the check sets
//! `SA_RESTORER` to the trampoline's address, which leads to the same
//! return.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::entries::Trampoline;

use crate::check::Verdict;
use crate::live::Live;
use crate::register;
use crate::target::Target;

/// Linux's words (`sigreturn.S`): `nop`, then at the symbol
/// `mov x8, #139` and `svc #0`.
const SIGRETURN: [u32; 3] = [0xd503201f, 0xd2801168, 0xd4000001];

/// True if the mapped code at `trampoline` is Linux's signal trampoline,
/// its `nop` included.
pub fn is_sigreturn(trampoline: Trampoline) -> bool {
    let start = trampoline.0.wrapping_sub(4) as *const u32;
    // SAFETY: the trampoline was resolved from the mapped image's dynamic
    // table and checked to lie inside it, past its slot's 4-byte lead; the
    // image stays mapped (readable) while its `Vdso` is in use.
    let words = unsafe { std::ptr::read_unaligned(start.cast::<[u32; 3]>()) };
    words == SIGRETURN
}

const SA_SIGINFO: u64 = 4;
const SA_RESTORER: u64 = 0x0400_0000;

/// `struct sigaction` as the `rt_sigaction` system call takes it
/// (asm-generic: the handler, the flags, the restorer, the mask).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

type TraceFn = extern "C" fn(context: *mut c_void, arg: *mut c_void) -> c_int;

// libgcc's unwinder, which Rust's standard library links on this target.
unsafe extern "C" {
    fn _Unwind_Backtrace(trace: TraceFn, arg: *mut c_void) -> c_int;
    fn _Unwind_GetIP(context: *mut c_void) -> usize;
    fn _Unwind_FindEnclosingFunction(pc: *mut c_void) -> *mut c_void;
}

const MAX_FRAMES: usize = 256;

/// Return addresses, innermost first, as libgcc's unwinder finds them.
struct Frames {
    ips: [AtomicUsize; MAX_FRAMES],
    len: AtomicUsize,
}

impl Frames {
    const fn new() -> Frames {
        Frames {
            ips: [const { AtomicUsize::new(0) }; MAX_FRAMES],
            len: AtomicUsize::new(0),
        }
    }

    /// Walks this thread's stack into `self`. Allocates nothing: it runs
    /// in the signal handler.
    fn capture(&self) {
        extern "C" fn each(context: *mut c_void, arg: *mut c_void) -> c_int {
            // SAFETY: `arg` is the `Frames` `capture` passed, alive for the
            // walk; `context` is the unwinder's.
            let (frames, ip) = unsafe { (&*(arg as *const Frames), _Unwind_GetIP(context)) };
            let n = frames.len.load(Ordering::Relaxed);
            if n == MAX_FRAMES {
                return 5; // _URC_END_OF_STACK: enough
            }
            frames.ips[n].store(ip, Ordering::Relaxed);
            frames.len.store(n + 1, Ordering::Relaxed);
            0 // _URC_NO_REASON
        }
        self.len.store(0, Ordering::Relaxed);
        // SAFETY: walks this thread's own stack, calling `each` with `self`.
        unsafe { _Unwind_Backtrace(each, (self as *const Frames).cast_mut().cast()) };
    }

    fn to_vec(&self) -> Vec<usize> {
        let n = self.len.load(Ordering::Relaxed);
        self.ips[..n]
            .iter()
            .map(|ip| ip.load(Ordering::Relaxed))
            .collect()
    }
}

static IN_HANDLER: Frames = Frames::new();
static HANDLED: AtomicBool = AtomicBool::new(false);

extern "C" fn handler(_sig: c_int, _info: *mut c_void, _context: *mut c_void) {
    IN_HANDLER.capture();
    HANDLED.store(true, Ordering::Relaxed);
}

/// The function that raises the signal: the frame both walks must reach.
#[inline(never)]
fn raise_and_trace(outside: &Frames) {
    outside.capture();
    // SAFETY: raises SIGUSR1 in this thread, whose handler is ours.
    unsafe { libc::raise(libc::SIGUSR1) };
    std::hint::black_box(());
}

/// The start of the function holding `ip`, from its unwind entry.
fn function_of(ip: usize) -> usize {
    // SAFETY: a lookup in the unwinder's tables; no memory is touched.
    unsafe { _Unwind_FindEnclosingFunction((ip.saturating_sub(1)) as *mut c_void) as usize }
}

register!(signal_handlers_return_through_the_trampoline_and_unwind_past_it, BlackBox, needs: [Entries, SignalTrampoline]);
/// A handler installed with `SA_RESTORER` at the trampoline returns
/// through it (the signal's return works); walking the stack inside the
/// handler with libgcc's unwinder passes the trampoline (its return
/// address), then the interrupted frames: from the function that raised the
/// signal outwards, the same return addresses a walk taken there finds.
fn signal_handlers_return_through_the_trampoline_and_unwind_past_it(target: Target) -> Verdict {
    let live = Live::start(target)?;
    let vdso = live.vdso();
    let trampoline = vdso
        .entries
        .rt_sigreturn
        .ok_or_else(|| format!("the {target} has no rt_sigreturn"))?;
    if !is_sigreturn(trampoline) {
        return Err(format!(
            "the mapped code at {:#x} is not Linux's signal trampoline",
            trampoline.0
        ));
    }
    let action = KernelSigaction {
        handler: handler as *const () as usize,
        flags: SA_SIGINFO | SA_RESTORER,
        restorer: trampoline.0,
        mask: 0,
    };
    let mut old = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: the raw system call with the kernel's struct, 8 bytes of mask.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            libc::SIGUSR1,
            &action,
            &mut old,
            8usize,
        )
    };
    if r != 0 {
        return Err(format!("rt_sigaction: {}", std::io::Error::last_os_error()));
    }
    HANDLED.store(false, Ordering::Relaxed);
    let outside = Frames::new();
    raise_and_trace(&outside);
    // SAFETY: puts the previous action back.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            libc::SIGUSR1,
            &old,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        )
    };
    if !HANDLED.load(Ordering::Relaxed) {
        return Err("the handler did not run".into());
    }
    let (inside, outside) = (IN_HANDLER.to_vec(), outside.to_vec());
    let raiser = raise_and_trace as *const () as usize;
    let at_raiser = |frames: &[usize]| frames.iter().position(|&ip| function_of(ip) == raiser);
    let Some(t) = inside.iter().position(|&ip| ip == trampoline.0) else {
        return Err(format!(
            "the walk from the handler does not pass the trampoline at {:#x}: {inside:#x?}",
            trampoline.0
        ));
    };
    let (Some(r_in), Some(r_out)) = (at_raiser(&inside), at_raiser(&outside)) else {
        return Err(format!(
            "a walk does not reach the function that raised the signal: from the handler {inside:#x?}, from the function {outside:#x?}"
        ));
    };
    if r_in < t {
        return Err(format!(
            "the walk from the handler reached the raising function before the trampoline: {inside:#x?}"
        ));
    }
    if inside[r_in + 1..] != outside[r_out + 1..] {
        return Err(format!(
            "past the signal, the walk from the handler finds {:#x?}, the walk from the raising function {:#x?}",
            &inside[r_in + 1..],
            &outside[r_out + 1..]
        ));
    }
    Ok(())
}
