//! What the library must remember from the environment it was started with:
//! the namespace file and its own path. Copied in the constructor, before
//! `main` can clear the environment, and put back on every exec.

use core::cell::UnsafeCell;
use core::ffi::{c_char, c_void};
use core::sync::atomic::{AtomicU8, Ordering};

use crate::layout::ENV_NAMESPACE;

const CAP: usize = 4096;

struct Captured {
    namespace: [u8; CAP],
    namespace_len: usize,
    own: [u8; CAP],
    own_len: usize,
}

struct Cell(UnsafeCell<Captured>);

// SAFETY: written only by the one caller that moves STATE from EMPTY to
// WRITING, read only after STATE is DONE (Release/Acquire).
unsafe impl Sync for Cell {}

static CAPTURED: Cell = Cell(UnsafeCell::new(Captured {
    namespace: [0; CAP],
    namespace_len: 0,
    own: [0; CAP],
    own_len: 0,
}));

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const DONE: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(EMPTY);

unsafe extern "C" {
    static mut environ: *const *const c_char;
}

/// The process's environment array as it stands.
pub fn environ_now() -> *const *const c_char {
    // SAFETY: reading the pointer libc keeps; never written here.
    unsafe { core::ptr::read_volatile(&raw const environ) }
}

/// The bytes of a NUL-terminated C string.
///
/// # Safety
/// `s` must be a valid NUL-terminated string that outlives `'a`.
pub unsafe fn c_str<'a>(s: *const c_char) -> &'a [u8] {
    // SAFETY: forwarded from the caller.
    unsafe { core::ffi::CStr::from_ptr(s).to_bytes() }
}

/// Finds `NAME=` in an environment array; returns the value.
///
/// # Safety
/// `envp` must be NULL or a NULL-terminated array of C strings.
pub unsafe fn lookup<'a>(envp: *const *const c_char, name: &str) -> Option<&'a [u8]> {
    if envp.is_null() {
        return None;
    }
    let mut i = 0;
    loop {
        // SAFETY: the array is NULL-terminated (caller).
        let entry = unsafe { *envp.add(i) };
        if entry.is_null() {
            return None;
        }
        // SAFETY: each entry is a C string (caller).
        let bytes = unsafe { c_str(entry) };
        if let Some(value) = bytes
            .strip_prefix(name.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"="))
        {
            return Some(value);
        }
        i += 1;
    }
}

/// Copies the namespace path and this library's path, once.
pub fn capture() {
    if STATE
        .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    // SAFETY: we moved STATE out of EMPTY, so we are the only writer, and
    // no reader looks before DONE.
    let c = unsafe { &mut *CAPTURED.0.get() };
    // SAFETY: libc's environment is a NULL-terminated array of C strings.
    if let Some(value) = unsafe { lookup(environ_now(), ENV_NAMESPACE) }
        && !value.is_empty()
        && value.len() < CAP
    {
        c.namespace[..value.len()].copy_from_slice(value);
        c.namespace[value.len()] = 0;
        c.namespace_len = value.len();
    }
    // SAFETY: dl_info is plain data that dladdr fills.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    // SAFETY: an address inside this library and a writable Dl_info.
    if unsafe { libc::dladdr(capture as *const c_void, &mut info) } != 0
        && !info.dli_fname.is_null()
    {
        // SAFETY: dladdr returns the loader's NUL-terminated name.
        let own = unsafe { c_str(info.dli_fname) };
        if !own.is_empty() && own.len() < CAP {
            c.own[..own.len()].copy_from_slice(own);
            c.own[own.len()] = 0;
            c.own_len = own.len();
        }
    }
    STATE.store(DONE, Ordering::Release);
}

fn captured() -> Option<&'static Captured> {
    if STATE.load(Ordering::Acquire) != DONE {
        capture();
    }
    // SAFETY: DONE: written once, never again.
    (STATE.load(Ordering::Acquire) == DONE).then(|| unsafe { &*CAPTURED.0.get() })
}

/// The namespace file's path, NUL-terminated; `None` when this process was
/// not started by vdso-run (the library then stays out of the way).
pub fn namespace() -> Option<&'static [u8]> {
    let c = captured()?;
    (c.namespace_len != 0).then(|| &c.namespace[..c.namespace_len + 1])
}

/// This library's path as the loader knows it (no NUL).
pub fn own_path() -> Option<&'static [u8]> {
    let c = captured()?;
    (c.own_len != 0).then(|| &c.own[..c.own_len])
}
