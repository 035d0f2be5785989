//! Seeing the `getrandom` system calls a thread makes, from where, with
//! what, and what they returned, without a tracer: a seccomp filter on the
//! thread traps each one to a SIGSYS handler, which makes the call itself
//! (marked, so that the filter lets it through) and records it.
//!
//! The handler can also stand in for the kernel at a key fetch (a
//! `getrandom(_, 32, 0)`): fail it, or move the rng generation first (a
//! reseed in the middle of a call). That is how the checks reach the
//! fallbacks Linux takes on a failed key fetch and on a generation that
//! moves twice within one call.
//!
//! The filter stays on the thread (seccomp filters cannot be removed) and
//! goes to the threads it starts; each check runs on a fresh thread, and
//! the calls of threads that never ask are made unchanged.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::Once;

const NR_GETRANDOM: u32 = 318;
/// The sixth argument register (r9) of the handler's own calls: getrandom
/// has three, so the kernel ignores it, but the filter sees it.
const MARK: u64 = 0x6f62_7365_7276_6564;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
/// At most this many calls are kept per thread (more is a failed check).
const CAPACITY: usize = 64;

/// One system call, as made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syscall {
    /// The address after the `syscall` instruction.
    pub from: usize,
    pub buf: usize,
    pub len: usize,
    pub flags: usize,
    pub ret: isize,
    /// For a key fetch (32 bytes, flags 0) that succeeded: the key.
    pub key: Option<[u8; 32]>,
}

impl Syscall {
    pub fn is_key_fetch(&self) -> bool {
        self.len == 32 && self.flags == 0
    }
}

/// What the handler does at a key fetch.
#[derive(Clone, Copy)]
pub enum AtKeyFetch {
    /// Makes it.
    Make,
    /// Makes none, and returns this (`-errno`).
    Fail(isize),
    /// Calls this with its argument first (moves the generation), then
    /// makes it.
    Run(fn(usize), usize),
}

struct Log {
    calls: [Option<Syscall>; CAPACITY],
    len: usize,
    lost: usize,
    at_key_fetch: AtKeyFetch,
    filtered: bool,
}

thread_local! {
    static LOG: RefCell<Log> = const {
        RefCell::new(Log {
            calls: [None; CAPACITY],
            len: 0,
            lost: 0,
            at_key_fetch: AtKeyFetch::Make,
            filtered: false,
        })
    };
}

/// Starts observing this thread (and the threads it starts from now on).
/// Idempotent.
pub fn observe() -> Result<(), String> {
    install_handler()?;
    if LOG.with(|l| l.borrow().filtered) {
        return Ok(());
    }
    install_filter()?;
    LOG.with(|l| l.borrow_mut().filtered = true);
    Ok(())
}

/// The calls made since the last `take`, forgetting them.
pub fn take() -> Result<Vec<Syscall>, String> {
    LOG.with(|l| {
        let mut l = l.borrow_mut();
        let calls = l.calls[..l.len].iter().flatten().copied().collect();
        let lost = std::mem::take(&mut l.lost);
        l.len = 0;
        if lost != 0 {
            return Err(format!(
                "{lost} more system calls than the observer keeps ({CAPACITY})"
            ));
        }
        Ok(calls)
    })
}

/// The calls made from inside `code` since the last `take`.
pub fn take_from(code: &Range<usize>) -> Result<Vec<Syscall>, String> {
    Ok(take()?
        .into_iter()
        .filter(|c| code.contains(&c.from))
        .collect())
}

/// How many key fetches and other calls were made from inside `code`
/// since the last `take`, forgetting every call. Allocates nothing (a
/// forked child uses it).
pub fn count_from(code: &Range<usize>) -> (usize, usize) {
    LOG.with(|l| {
        let mut l = l.borrow_mut();
        let mut counts = (0, 0);
        for call in l.calls[..l.len].iter().flatten() {
            if code.contains(&call.from) {
                if call.is_key_fetch() {
                    counts.0 += 1;
                } else {
                    counts.1 += 1;
                }
            }
        }
        counts.1 += std::mem::take(&mut l.lost);
        l.len = 0;
        counts
    })
}

/// Sets what the handler does at key fetches on this thread.
pub fn at_key_fetch(action: AtKeyFetch) {
    LOG.with(|l| l.borrow_mut().at_key_fetch = action);
}

fn install_handler() -> Result<(), String> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction is valid; the handler is a function of
        // the right signature for SA_SIGINFO.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigsys as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) != 0 {
                result = Err(format!(
                    "sigaction(SIGSYS): {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
    });
    result
}

/// The filter: `getrandom` on x86_64 without the mark traps; everything
/// else is allowed.
fn install_filter() -> Result<(), String> {
    let stmt = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = |offset: u32| stmt((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, offset);
    let ret = |k: u32| stmt((libc::BPF_RET | libc::BPF_K) as u16, k);
    // seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8 * i (low word
    // first). Jumps count the instructions skipped.
    let program = [
        load(4),
        jeq(AUDIT_ARCH_X86_64, 0, 7), // to allow
        load(0),
        jeq(NR_GETRANDOM, 0, 5), // to allow
        load(56),
        jeq(MARK as u32, 0, 2), // to trap
        load(60),
        jeq((MARK >> 32) as u32, 1, 0), // to allow, or trap
        ret(SECCOMP_RET_TRAP),
        ret(SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with constant arguments; seccomp reads the program,
    // which outlives the call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(format!(
                "PR_SET_NO_NEW_PRIVS: {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        ) != 0
        {
            return Err(format!(
                "seccomp(SET_MODE_FILTER): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// `getrandom(buf, len, flags)` with the mark, so the filter lets it
/// through.
fn marked_getrandom(buf: usize, len: usize, flags: usize) -> isize {
    let ret: isize;
    // SAFETY: the arguments are the trapped call's own, which the kernel
    // checks as it would have; the mark in r9 is ignored by getrandom.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") NR_GETRANDOM as isize => ret,
            in("rdi") buf, in("rsi") len, in("rdx") flags,
            in("r9") MARK,
            lateout("rcx") _, lateout("r11") _,
            options(nostack)
        );
    }
    ret
}

extern "C" fn on_sigsys(_: libc::c_int, _: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes the interrupted context of this thread,
    // whose registers are the trapped call's.
    let regs = unsafe { &mut (*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    let reg = |r: libc::c_int| regs[r as usize] as usize;
    let (buf, len, flags) = (reg(libc::REG_RDI), reg(libc::REG_RSI), reg(libc::REG_RDX));
    let from = reg(libc::REG_RIP);
    let at_key_fetch = LOG.with(|l| l.try_borrow().map(|l| l.at_key_fetch).ok());
    let Some(at_key_fetch) = at_key_fetch else {
        // The check was reading the log: no call is made there.
        std::process::abort();
    };
    let key_fetch = len == 32 && flags == 0;
    let ret = match at_key_fetch {
        AtKeyFetch::Fail(errno) if key_fetch => errno,
        AtKeyFetch::Run(f, arg) if key_fetch => {
            f(arg);
            marked_getrandom(buf, len, flags)
        }
        _ => marked_getrandom(buf, len, flags),
    };
    let key = (key_fetch && ret == 32).then(|| {
        // SAFETY: the kernel just wrote 32 bytes there.
        unsafe { std::ptr::read_unaligned(buf as *const [u8; 32]) }
    });
    LOG.with(|l| {
        let Ok(mut l) = l.try_borrow_mut() else {
            std::process::abort();
        };
        if l.len < CAPACITY {
            let n = l.len;
            l.calls[n] = Some(Syscall {
                from,
                buf,
                len,
                flags,
                ret,
                key,
            });
            l.len += 1;
        } else {
            l.lost += 1;
        }
    });
    regs[libc::REG_RAX as usize] = ret as i64;
}
