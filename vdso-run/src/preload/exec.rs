//! Descendants stay in the namespace. Every exec and posix_spawn gets an
//! environment that carries `LD_PRELOAD` (this library) and the namespace
//! file's path, put back from the copies taken at load if the program
//! removed them (clearenv, env -i, an explicit envp). And, in a time
//! namespace, a program the library cannot reach (static, Go, musl) is
//! refused instead of silently run on the host's clocks.
//!
//! No allocation and no locks: an exec may run in a `vfork` child, which
//! shares the parent's memory. A repaired environment lives in pages of its
//! own, unmapped if the exec fails (after a successful exec from a `vfork`
//! child they stay in the parent: a page or two, only when a repair was
//! needed).

use core::ffi::{c_char, c_int};
use core::fmt::Write;

use libc::pid_t;

use crate::elfcheck::{self, Kind, MAX_PATH, ShortPath, Source, Unreachable};
use crate::env::{self, c_str, environ_now, lookup};
use crate::layout::ENV_NAMESPACE;
use crate::next;
use crate::ns;
use crate::sys::{self, Bytes, Msg};

type Env = *const *const c_char;

/// Pages holding a repaired environment.
struct Scratch {
    addr: usize,
    len: usize,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: our own mapping; the exec that used it has returned.
        unsafe { sys::munmap(self.addr, self.len) };
    }
}

/// Is `own` one of the entries of an LD_PRELOAD value (separated by ':' or ' ')?
fn preloads(value: &[u8], own: &[u8]) -> bool {
    value
        .split(|&b| b == b':' || b == b' ')
        .any(|entry| entry == own)
}

/// The environment to exec with: `envp` itself when it carries the
/// namespace, else a repaired copy.
///
/// # Safety
/// `envp` must be NULL or a NULL-terminated array of C strings.
unsafe fn repaired(envp: Env) -> (Env, Option<Scratch>) {
    let (Some(path), Some(own)) = (env::namespace(), env::own_path()) else {
        return (envp, None);
    };
    let path = path.strip_suffix(b"\0").unwrap_or(path);
    // SAFETY: forwarded from the caller.
    let has_ns = unsafe { lookup(envp, ENV_NAMESPACE) }.is_some();
    // SAFETY: as above.
    let old_preload = unsafe { lookup(envp, "LD_PRELOAD") };
    let has_preload = old_preload.is_some_and(|v| preloads(v, own));
    if has_ns && has_preload {
        return (envp, None);
    }
    let mut count = 0;
    if !envp.is_null() {
        // SAFETY: NULL-terminated (caller).
        while !unsafe { *envp.add(count) }.is_null() {
            count += 1;
        }
    }
    let old = old_preload.unwrap_or_default();
    let preload_len = b"LD_PRELOAD=".len() + own.len() + 1 + old.len() + 1;
    let ns_len = ENV_NAMESPACE.len() + 1 + path.len() + 1;
    let table = (count + 3) * size_of::<*const c_char>();
    let len = (table + preload_len + ns_len).next_multiple_of(4096);
    // SAFETY: a new private mapping aliasing nothing.
    let Ok(addr) = (unsafe {
        sys::mmap(
            0,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    }) else {
        return (envp, None);
    };
    let scratch = Scratch { addr, len };
    // SAFETY: [addr, addr + len) is ours and writable; the table and the
    // strings after it fit by construction.
    unsafe {
        let out = addr as *mut *const c_char;
        let mut strings = (addr + table) as *mut u8;
        let mut put = |parts: &[&[u8]]| -> *const c_char {
            let start = strings;
            for part in parts {
                core::ptr::copy_nonoverlapping(part.as_ptr(), strings, part.len());
                strings = strings.add(part.len());
            }
            *strings = 0;
            strings = strings.add(1);
            start.cast()
        };
        let mut n = 0;
        for i in 0..count {
            let entry = *envp.add(i);
            if c_str(entry).starts_with(b"LD_PRELOAD=") {
                continue;
            }
            *out.add(n) = entry;
            n += 1;
        }
        let preload = if has_preload {
            put(&[b"LD_PRELOAD=", old])
        } else if old.is_empty() {
            put(&[b"LD_PRELOAD=", own])
        } else {
            put(&[b"LD_PRELOAD=", own, b":", old])
        };
        *out.add(n) = preload;
        n += 1;
        if !has_ns {
            *out.add(n) = put(&[ENV_NAMESPACE.as_bytes(), b"=", path]);
            n += 1;
        }
        *out.add(n) = core::ptr::null();
    }
    if let Some(ns) = ns::get() {
        ns.count(&ns.control().reinjected);
    }
    (addr as Env, Some(scratch))
}

struct Fd(c_int);

impl Source for Fd {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> usize {
        sys::pread(self.0, buf, offset)
    }
}

/// Why the program in `fd` cannot be reached, following `#!` interpreters.
fn unreachable_fd(fd: c_int) -> Option<Unreachable> {
    let mut next = match elfcheck::inspect(&mut Fd(fd)) {
        Kind::Reachable => return None,
        Kind::Unreachable(why) => return Some(why),
        Kind::Script(interp) => interp,
        Kind::Shell => ShortPath::new(b"/bin/sh"),
    };
    for _ in 0..4 {
        let fd = sys::open(next.c_bytes(), libc::O_RDONLY).ok()?;
        let kind = elfcheck::inspect(&mut Fd(fd));
        sys::close(fd);
        next = match kind {
            Kind::Reachable => return None,
            Kind::Unreachable(why) => return Some(why),
            Kind::Script(interp) => interp,
            Kind::Shell => ShortPath::new(b"/bin/sh"),
        };
    }
    None
}

fn unreachable_path(path: &ShortPath) -> Option<Unreachable> {
    let fd = sys::open(path.c_bytes(), libc::O_RDONLY).ok()?;
    let why = unreachable_fd(fd);
    sys::close(fd);
    why
}

/// `file` as execvp finds it: itself if it has a slash, else the first
/// executable match on the caller's `$PATH`.
fn search(file: &[u8]) -> Option<ShortPath> {
    if file.is_empty() || file.len() >= MAX_PATH {
        return None;
    }
    if file.contains(&b'/') {
        return Some(ShortPath::new(file));
    }
    // SAFETY: libc's environment is a NULL-terminated array of C strings.
    let path = unsafe { lookup(environ_now(), "PATH") }.unwrap_or(b"/bin:/usr/bin");
    for dir in path.split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        if dir.len() + 1 + file.len() >= MAX_PATH - 1 {
            continue;
        }
        let mut buf = [0u8; MAX_PATH];
        buf[..dir.len()].copy_from_slice(dir);
        buf[dir.len()] = b'/';
        buf[dir.len() + 1..dir.len() + 1 + file.len()].copy_from_slice(file);
        let candidate = ShortPath::new(&buf[..dir.len() + 1 + file.len()]);
        if sys::executable(candidate.c_bytes()) {
            return Some(candidate);
        }
    }
    None
}

/// In a time namespace, refuses (with one line on stderr) a program the
/// library cannot reach. Returns true if refused.
fn refuse(target: Option<ShortPath>, why: impl FnOnce() -> Option<Unreachable>) -> bool {
    let Some(ns) = ns::get().filter(|ns| ns.timens()) else {
        return false;
    };
    let Some(why) = why() else {
        return false;
    };
    let mut m = Msg::new();
    let name = target
        .as_ref()
        .map_or(&b"the program"[..], ShortPath::bytes);
    let _ = match why {
        Unreachable::Class(_) | Unreachable::Machine(_) => write!(
            m,
            "vdso-run: refusing to run {}: cannot give it the namespace in either mode of \
             vdso-run: {why}, and the images are x86-64 code that only a 64-bit x86-64 program \
             can call",
            Bytes(name)
        ),
        _ => write!(
            m,
            "vdso-run: refusing to run {}: the preload library cannot reach it: {why}; it would \
             run on the host's clocks. Run it with `vdso-run --as-vdso` instead",
            Bytes(name)
        ),
    };
    m.send();
    ns.count(&ns.control().refused);
    true
}

fn refuse_path(path: *const c_char) -> bool {
    if path.is_null() {
        return false;
    }
    // SAFETY: the caller's NUL-terminated path.
    let bytes = unsafe { c_str(path) };
    if bytes.len() >= MAX_PATH {
        return false;
    }
    let target = ShortPath::new(bytes);
    refuse(Some(target), || unreachable_path(&target))
}

fn refuse_search(file: *const c_char) -> bool {
    if file.is_null() {
        return false;
    }
    // SAFETY: the caller's NUL-terminated name.
    let Some(target) = search(unsafe { c_str(file) }) else {
        return false;
    };
    refuse(Some(target), || unreachable_path(&target))
}

/// # Safety
/// As execve(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execve(path: *const c_char, argv: Env, envp: Env) -> c_int {
    let Some(real) = next::execve() else {
        sys::set_errno(libc::ENOSYS);
        return -1;
    };
    if refuse_path(path) {
        sys::set_errno(libc::EPERM);
        return -1;
    }
    // SAFETY: the caller's environment.
    let (envp, _scratch) = unsafe { repaired(envp) };
    // SAFETY: libc's function with the caller's arguments.
    unsafe { real(path, argv, envp) }
}

/// # Safety
/// As execv(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execv(path: *const c_char, argv: Env) -> c_int {
    // SAFETY: forwarded, with the process's environment.
    unsafe { execve(path, argv, environ_now()) }
}

/// # Safety
/// As execvpe(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: Env, envp: Env) -> c_int {
    let Some(real) = next::execvpe() else {
        sys::set_errno(libc::ENOSYS);
        return -1;
    };
    if refuse_search(file) {
        sys::set_errno(libc::EPERM);
        return -1;
    }
    // SAFETY: the caller's environment.
    let (envp, _scratch) = unsafe { repaired(envp) };
    // SAFETY: libc's function with the caller's arguments.
    unsafe { real(file, argv, envp) }
}

/// # Safety
/// As execvp(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: Env) -> c_int {
    // SAFETY: forwarded, with the process's environment.
    unsafe { execvpe(file, argv, environ_now()) }
}

/// # Safety
/// As execveat(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execveat(
    dirfd: c_int,
    path: *const c_char,
    argv: Env,
    envp: Env,
    flags: c_int,
) -> c_int {
    let Some(real) = next::execveat() else {
        sys::set_errno(libc::ENOSYS);
        return -1;
    };
    // Judged only when the path names the file on its own.
    // SAFETY: the caller's NUL-terminated path.
    if !path.is_null() && unsafe { c_str(path) }.starts_with(b"/") && refuse_path(path) {
        sys::set_errno(libc::EPERM);
        return -1;
    }
    // SAFETY: the caller's environment.
    let (envp, _scratch) = unsafe { repaired(envp) };
    // SAFETY: libc's function with the caller's arguments.
    unsafe { real(dirfd, path, argv, envp, flags) }
}

/// # Safety
/// As fexecve(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: Env, envp: Env) -> c_int {
    let Some(real) = next::fexecve() else {
        sys::set_errno(libc::ENOSYS);
        return -1;
    };
    if refuse(None, || unreachable_fd(fd)) {
        sys::set_errno(libc::EPERM);
        return -1;
    }
    // SAFETY: the caller's environment.
    let (envp, _scratch) = unsafe { repaired(envp) };
    // SAFETY: libc's function with the caller's arguments.
    unsafe { real(fd, argv, envp) }
}

/// # Safety
/// As posix_spawn(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut pid_t,
    path: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: Env,
    envp: Env,
) -> c_int {
    let Some(real) = next::posix_spawn() else {
        return libc::ENOSYS;
    };
    if refuse_path(path) {
        return libc::EPERM;
    }
    // SAFETY: the caller's environment.
    let (envp, _scratch) = unsafe { repaired(envp) };
    // SAFETY: libc's function with the caller's arguments.
    unsafe { real(pid, path, actions, attr, argv, envp) }
}

/// # Safety
/// As posix_spawnp(3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut pid_t,
    file: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: Env,
    envp: Env,
) -> c_int {
    let Some(real) = next::posix_spawnp() else {
        return libc::ENOSYS;
    };
    if refuse_search(file) {
        return libc::EPERM;
    }
    // SAFETY: the caller's environment.
    let (envp, _scratch) = unsafe { repaired(envp) };
    // SAFETY: libc's function with the caller's arguments.
    unsafe { real(pid, file, actions, attr, argv, envp) }
}

// execl, execle and execlp are variadic. On x86-64 their pointer arguments
// arrive in rdi, rsi, rdx, rcx, r8, r9, then on the stack above the return
// address. Each trampoline takes the return address off the stack and pushes
// the six registers below the stack arguments, which turns the whole list
// into one array: words[0] the path, words[1..] argv (NULL-terminated, then
// envp for execle). It calls the Rust function with that array, then puts
// the stack back and returns its result. (glibc's own execl calls its
// internal execve, which no preload library can interpose.)
macro_rules! variadic_exec {
    ($name:ident, $imp:ident) => {
        /// # Safety
        /// As the C function of this name.
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name() -> c_int {
            core::arch::naked_asm!(
                "pop r11",
                "push r9",
                "push r8",
                "push rcx",
                "push rdx",
                "push rsi",
                "push rdi",
                "mov rdi, rsp",
                "push r11",
                "sub rsp, 8",
                "call {imp}",
                "add rsp, 8",
                "pop r11",
                "add rsp, 48",
                "push r11",
                "ret",
                imp = sym $imp,
            )
        }
    };
}

variadic_exec!(execl, execl_words);
variadic_exec!(execle, execle_words);
variadic_exec!(execlp, execlp_words);

/// # Safety
/// `words` as the trampoline builds it.
unsafe extern "C" fn execl_words(words: *const *const c_char) -> c_int {
    // SAFETY: words[0] is the path, words[1..] the NULL-terminated argv.
    unsafe { execve(*words, words.add(1), environ_now()) }
}

/// # Safety
/// As for `execl_words`; envp follows argv's NULL.
unsafe extern "C" fn execle_words(words: *const *const c_char) -> c_int {
    // SAFETY: the caller passed a NULL-terminated list followed by envp.
    unsafe {
        let argv = words.add(1);
        let mut n = 0;
        while !(*argv.add(n)).is_null() {
            n += 1;
        }
        let envp = *argv.add(n + 1) as Env;
        execve(*words, argv, envp)
    }
}

/// # Safety
/// As for `execl_words`.
unsafe extern "C" fn execlp_words(words: *const *const c_char) -> c_int {
    // SAFETY: words[0] is the file, words[1..] the NULL-terminated argv.
    unsafe { execvpe(*words, words.add(1), environ_now()) }
}
