//! `getrandom` as programs use it: many small reads per thread, threads at
//! once, a process in a time namespace, and one enormous read.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Barrier;

use common::getrandom::{MAX_RW_COUNT, STATE_SIZE};

use super::observe;
use super::subject::{State, Subject};
use crate::check::Verdict;
use crate::register;
use crate::target::Target;
use crate::time::Failures;

/// Small reads per run: enough to refill the batch a thousand times.
const SMALL_READS: usize = 6000;

/// How a run of small reads went wrong, as plain numbers: a forked child
/// reports it without allocating.
#[derive(Clone, Copy, Debug)]
enum Problem {
    /// The first read's return value, key fetches and other system calls.
    First(isize, (usize, usize)),
    /// A later read's return value.
    Short(isize),
    /// Key fetches and other system calls over the later reads.
    Syscalls((usize, usize)),
}

impl Problem {
    fn describe(self) -> String {
        match self {
            Problem::First(ret, (fetches, others)) => format!(
                "the first read returned {ret} with {fetches} key fetches and {others} other system calls, not 16 with one key fetch"
            ),
            Problem::Short(ret) => format!("a read of 16 bytes returned {ret}"),
            Problem::Syscalls((fetches, others)) => format!(
                "{SMALL_READS} reads of 16 bytes made {fetches} key fetches and {others} other system calls"
            ),
        }
    }
}

/// A fresh state's first read fetches a key (exactly one system call);
/// `SMALL_READS` more reads of 16 bytes make none (or one key fetch: the
/// kernel's generator reseeds once in a while).
fn small_reads(s: &Subject, state: &State, code: &Range<usize>) -> Result<(), Problem> {
    let mut buf = [0u8; 16];
    let ret = s.read(&mut buf, state);
    let first = observe::count_from(code);
    if ret != 16 || first != (1, 0) {
        return Err(Problem::First(ret, first));
    }
    for _ in 0..SMALL_READS {
        let ret = s.read(&mut buf, state);
        if ret != 16 {
            return Err(Problem::Short(ret));
        }
    }
    match observe::count_from(code) {
        (0 | 1, 0) => Ok(()),
        counts => Err(Problem::Syscalls(counts)),
    }
}

register!(getrandom_serves_small_reads_without_a_system_call, Getrandom, needs: [Getrandom]);
/// One key fetch, then thousands of 16-byte reads served from the state:
/// in a host process and in a namespaced one (where `linux-6.12` moves the
/// rng data with the time data: read from the wrong slot, it says "not
/// ready", and every read would be a system call).
fn getrandom_serves_small_reads_without_a_system_call(target: Target) -> Verdict {
    let s = Subject::start(target)?;
    observe::observe()?;
    observe::take()?;
    let state = State::new(&s)?;
    small_reads(&s, &state, s.code()).map_err(Problem::describe)
}

register!(getrandom_threads_read_at_once_with_states_of_their_own, Getrandom, needs: [Getrandom]);
/// A thread per CPU, each with its state, reading at once: every read
/// served, each thread one key fetch and no other system call, and no 16
/// bytes handed to two readers.
fn getrandom_threads_read_at_once_with_states_of_their_own(target: Target) -> Verdict {
    let s = Subject::start(target)?;
    observe::observe()?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let start = Barrier::new(threads);
    let results: Vec<Result<Vec<[u8; 16]>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    observe::take()?;
                    let state = State::new(&s)?;
                    start.wait();
                    let mut outs = Vec::with_capacity(SMALL_READS);
                    for i in 0..SMALL_READS {
                        let mut buf = [0u8; 16];
                        // Lengths that wrap the batch at changing places.
                        let len = 8 + i % 9;
                        let ret = s.read(&mut buf[..len], &state);
                        if ret != len as isize {
                            return Err(format!("a read of {len} bytes returned {ret}"));
                        }
                        outs.push(buf);
                    }
                    match observe::count_from(s.code()) {
                        (1 | 2, 0) => Ok(outs),
                        (fetches, others) => Err(format!(
                            "a thread made {fetches} key fetches and {others} other system calls"
                        )),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a reader panicked".into())))
            .collect()
    });
    let mut f = Failures::new();
    let mut seen = HashSet::new();
    for (t, r) in results.into_iter().enumerate() {
        match r {
            Err(e) => f.note(format!("thread {t}"), Err(e)),
            Ok(outs) => {
                for out in outs {
                    // The first 8 bytes of every read are the reader's own.
                    let head: [u8; 8] = out[..8].try_into().unwrap();
                    f.expect(format!("thread {t}"), seen.insert(head), || {
                        "got 8 bytes another read got too".into()
                    });
                }
            }
        }
    }
    f.verdict()
}

register!(getrandom_in_a_real_time_namespace_makes_no_system_call, Getrandom, needs: [Getrandom]);
/// A process in a real time namespace (`unshare(CLONE_NEWTIME)`, as
/// `unshare --time` makes one) reads as a host process does: one key
/// fetch, then no system call. For the kernel's vDSO this is the kernel's
/// own arrangement of a namespaced process's pages; for an image, its
/// mapping as the suite made it for its kind of process.
fn getrandom_in_a_real_time_namespace_makes_no_system_call(target: Target) -> Verdict {
    let s = Subject::start(target)?;
    observe::observe()?;
    observe::take()?;
    // Made before the fork: the child may not allocate. MAP_DROPPABLE
    // memory is wiped in a child, so its state starts with no key.
    let state = State::new(&s)?;
    let code = s.code().clone();
    let mut fds = [0; 2];
    // SAFETY: `fds` is writable for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    let [read_end, write_end] = fds;
    // SAFETY: the child makes system calls and vDSO calls only (no lock
    // another thread might hold, no allocation on its success path) and
    // leaves with _exit.
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: as above.
        unsafe {
            libc::close(read_end);
            let mut answer = [0u8; 1];
            if libc::unshare(libc::CLONE_NEWTIME) != 0 {
                answer[0] = 2;
            } else {
                match libc::fork() {
                    0 => {
                        // In the namespace from birth: reports its problem
                        // as bytes, on the pipe it shares with the parent.
                        let problem = small_reads(&s, &state, &code).err();
                        let bytes = problem_bytes(problem);
                        libc::write(write_end, bytes.as_ptr().cast(), bytes.len());
                        libc::_exit(0)
                    }
                    -1 => answer[0] = 3,
                    reader => {
                        libc::waitpid(reader, std::ptr::null_mut(), 0);
                        libc::_exit(0)
                    }
                }
            }
            libc::write(write_end, answer.as_ptr().cast(), 1);
            libc::_exit(0)
        }
    }
    // SAFETY: closes our copy of the child's end.
    unsafe { libc::close(write_end) };
    if child < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    let mut answer = [0u8; PROBLEM_BYTES];
    // SAFETY: reads into a local, then reaps our child.
    let got = unsafe {
        let got = libc::read(read_end, answer.as_mut_ptr().cast(), answer.len());
        libc::close(read_end);
        libc::waitpid(child, std::ptr::null_mut(), 0);
        got
    };
    match (got, answer[0]) {
        (n, 0) if n == PROBLEM_BYTES as isize => Ok(()),
        (n, 1) if n == PROBLEM_BYTES as isize => {
            Err(format!("in the namespace, {}", problem_from(&answer).describe()))
        }
        (1, 2) => Err(
            "unshare(CLONE_NEWTIME) failed in the child (it needs CAP_SYS_ADMIN and CONFIG_TIME_NS)"
                .into(),
        ),
        (1, 3) => Err("the child could not fork into the namespace".into()),
        _ => Err("the namespace's reader died without an answer".into()),
    }
}

/// A problem (or none) as bytes: a tag, then four numbers.
const PROBLEM_BYTES: usize = 1 + 4 * 8;

fn problem_bytes(problem: Option<Problem>) -> [u8; PROBLEM_BYTES] {
    let (tag, kind, a, b, c) = match problem {
        None => (0, 0, 0, 0, 0),
        Some(Problem::First(ret, (x, y))) => (1, 0, ret as u64, x as u64, y as u64),
        Some(Problem::Short(ret)) => (1, 1, ret as u64, 0, 0),
        Some(Problem::Syscalls((x, y))) => (1, 2, 0, x as u64, y as u64),
    };
    let mut out = [0u8; PROBLEM_BYTES];
    out[0] = tag;
    for (i, v) in [kind, a, b, c].into_iter().enumerate() {
        out[1 + 8 * i..9 + 8 * i].copy_from_slice(&u64::to_le_bytes(v));
    }
    out
}

fn problem_from(bytes: &[u8; PROBLEM_BYTES]) -> Problem {
    let n = |i: usize| u64::from_le_bytes(bytes[1 + 8 * i..9 + 8 * i].try_into().unwrap());
    match n(0) {
        0 => Problem::First(n(1) as isize, (n(2) as usize, n(3) as usize)),
        1 => Problem::Short(n(1) as isize),
        _ => Problem::Syscalls((n(2) as usize, n(3) as usize)),
    }
}

register!(getrandom_caps_one_call_at_max_rw_count, Getrandom, needs: [Getrandom], budget: 90);
/// A read of more than `MAX_RW_COUNT` (0x7ffff000) bytes returns that many,
/// writes up to the last of them and not one byte further.
fn getrandom_caps_one_call_at_max_rw_count(target: Target) -> Verdict {
    let s = Subject::start(target)?;
    let state = State::new(&s)?;
    let asked = MAX_RW_COUNT + 0x2000;
    let mapped = asked + 0x1000;
    // SAFETY: a new private anonymous mapping, ours until unmapped below.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            mapped,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return Err(format!(
            "mapping 2 GiB: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: the whole mapping is ours; hugepages only make faults fewer.
    let buf = unsafe {
        libc::madvise(map, mapped, libc::MADV_HUGEPAGE);
        std::slice::from_raw_parts_mut(map.cast::<u8>(), mapped)
    };
    let edge = MAX_RW_COUNT - 64..MAX_RW_COUNT + 0x1000;
    buf[edge.clone()].fill(0x5a);
    // SAFETY: `asked` bytes of the mapping, and a whole state.
    let ret = unsafe { s.call(buf.as_mut_ptr(), asked, 0, state.ptr(), STATE_SIZE) };
    let last = &buf[edge.start..MAX_RW_COUNT];
    let past = &buf[MAX_RW_COUNT..edge.end];
    let mut f = Failures::new();
    f.expect("the read", ret == MAX_RW_COUNT as isize, || {
        format!("returned {ret:#x}, not {MAX_RW_COUNT:#x}")
    });
    f.expect("the read", last.iter().any(|&b| b != 0x5a), || {
        "its last 64 bytes were not written".into()
    });
    f.expect("the read", past.iter().all(|&b| b == 0x5a), || {
        "it wrote past MAX_RW_COUNT".into()
    });
    // SAFETY: unmaps our mapping; `buf` is not used after this.
    unsafe { libc::munmap(map, mapped) };
    f.verdict()
}
