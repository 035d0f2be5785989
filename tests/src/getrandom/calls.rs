//! The calls `getrandom` answers without keystream: the parameter query,
//! the state that straddles a page, and every case it hands to the system
//! call, whose answer must be the call's.

use common::getrandom::{GRND_INSECURE, GRND_NONBLOCK, GRND_RANDOM, PARAMS, STATE_SIZE};

use super::model::StateBytes;
use super::observe::{self, AtKeyFetch, Syscall};
use super::subject::{State, Subject};
use crate::check::Verdict;
use crate::register;
use crate::target::Target;
use crate::time::Failures;

const EFAULT: isize = -14;
const EINVAL: isize = -22;
const EINTR: isize = -4;

/// The one system call the vDSO made, if it made exactly one.
fn only(calls: &[Syscall]) -> Result<Syscall, String> {
    match calls {
        [call] => Ok(*call),
        _ => Err(format!("made {} system calls: {calls:x?}", calls.len())),
    }
}

/// A call that must go to the system call with the caller's arguments:
/// one call from the vDSO, those arguments, and its answer returned.
fn falls_back(
    s: &Subject,
    f: &mut Failures,
    case: &str,
    (buf, len, flags): (*mut u8, usize, u32),
    state: *mut u8,
    opaque_len: usize,
) -> Result<isize, String> {
    // SAFETY: every case passes a buffer writable for `len` or NULL (which
    // the system call refuses), and a whole state or NULL with an
    // `opaque_len` that is not the state's (the vDSO then reads none).
    let ret = unsafe { s.call(buf, len, flags, state, opaque_len) };
    match only(&observe::take_from(s.code())?) {
        Ok(call) => {
            let asked = (call.buf, call.len, call.flags);
            f.expect(case, asked == (buf as usize, len, flags as usize), || {
                format!(
                    "asked the kernel for {asked:x?}, not the caller's {buf:?}, {len}, {flags:#x}"
                )
            });
            f.expect(case, ret == call.ret, || {
                format!("returned {ret}, the system call {}", call.ret)
            });
        }
        Err(e) => f.note(case, Err(e)),
    }
    Ok(ret)
}

register!(getrandom_answers_the_parameter_query_as_the_kernel_does, Getrandom, needs: [Getrandom]);
/// The query (`buf` NULL, `len` 0, `flags` 0, `opaque_len` ~0) gives what
/// the running kernel's vDSO gives (144 bytes of state, read-write,
/// `MAP_DROPPABLE | MAP_ANONYMOUS`, the rest zero), before any other
/// check (a parameter block across a page is answered), with no system
/// call. A call one argument away from it is no query: the system call
/// answers it, and the block is left alone.
fn getrandom_answers_the_parameter_query_as_the_kernel_does(target: Target) -> Verdict {
    let s = Subject::start(target)?;
    let kernel = Subject::start(Target::KernelVdso)?;
    observe::observe()?;
    let mut f = Failures::new();
    let (ret, params) = s.params();
    let (kernel_ret, kernel_params) = kernel.params();
    f.expect(
        "the query",
        (ret, params) == (kernel_ret, kernel_params),
        || format!("gave {ret}, {params:?}; the kernel's vDSO {kernel_ret}, {kernel_params:?}"),
    );
    f.expect("the query", params == PARAMS, || {
        format!("gave {params:?}, not Linux's {PARAMS:?}")
    });
    let straddling = State::at(&s, 4096 - 8)?;
    // SAFETY: the query writes 64 bytes, which the two pages have there.
    let ret = unsafe { s.call(std::ptr::null_mut(), 0, 0, straddling.ptr(), usize::MAX) };
    f.expect("the query across a page", ret == 0, || {
        format!("returned {ret}: it must be answered before the page check")
    });
    let calls = observe::take_from(s.code())?;
    f.expect("the queries", calls.is_empty(), || {
        format!("made system calls: {calls:x?}")
    });
    let mut buf = [0u8; 16];
    let b = buf.as_mut_ptr();
    let null = std::ptr::null_mut();
    // At a page's start: these are no queries, so the page check applies.
    let block = State::new(&s)?;
    let untouched = StateBytes([0xa5; STATE_SIZE]);
    for (case, call, opaque_len) in [
        ("a buffer", (b, 0, 0), usize::MAX),
        ("16 bytes", (null, 16, 0), usize::MAX),
        ("GRND_NONBLOCK", (null, 0, GRND_NONBLOCK), usize::MAX),
        ("opaque_len ~0 - 1", (null, 0, 0), usize::MAX - 1),
    ] {
        block.set(&untouched);
        let ret = falls_back(&s, &mut f, case, call, block.ptr(), opaque_len)?;
        f.expect(case, block.bytes() == untouched, || {
            "wrote into the parameter block of a call that is no query".into()
        });
        // SAFETY: the kernel's vDSO with the same arguments.
        let expected = unsafe { kernel.call(call.0, call.1, call.2, block.ptr(), opaque_len) };
        // The reference's own system call is not the target's.
        observe::take()?;
        f.expect(case, ret == expected, || {
            format!("returned {ret}, the kernel's vDSO {expected}")
        });
    }
    f.verdict()
}

register!(getrandom_refuses_a_state_that_straddles_a_page, Getrandom, needs: [Getrandom]);
/// A state across a page boundary (judged on the state's 144 bytes, before
/// the flags, the length and `opaque_len`) gives `-EFAULT`, with no system
/// call; one that ends at the page's end is used.
fn getrandom_refuses_a_state_that_straddles_a_page(target: Target) -> Verdict {
    let s = Subject::start(target)?;
    observe::observe()?;
    let mut f = Failures::new();
    let straddling = State::at(&s, 4096 - STATE_SIZE + 1)?;
    let mut buf = [0u8; 16];
    for (case, len, flags, opaque_len) in [
        ("16 bytes", 16, 0, STATE_SIZE),
        ("0 bytes", 0, 0, STATE_SIZE),
        ("an unknown flag", 16, 8, STATE_SIZE),
        ("opaque_len 143", 16, 0, STATE_SIZE - 1),
    ] {
        // SAFETY: a buffer of 16 bytes and a state inside our mapping
        // (which the vDSO must not touch).
        let ret = unsafe { s.call(buf.as_mut_ptr(), len, flags, straddling.ptr(), opaque_len) };
        f.expect(case, ret == EFAULT, || {
            format!("returned {ret}, not -EFAULT")
        });
        let calls = observe::take_from(s.code())?;
        f.expect(case, calls.is_empty(), || {
            format!("made system calls: {calls:x?}")
        });
    }
    let at_the_end = State::at(&s, 4096 - STATE_SIZE)?;
    let ret = s.read(&mut buf, &at_the_end);
    f.expect("a state that ends at the page's end", ret == 16, || {
        format!("returned {ret}, not 16")
    });
    f.verdict()
}

register!(getrandom_falls_back_to_the_system_call_exactly, Getrandom, needs: [Getrandom]);
/// Each case Linux hands to the system call makes it, with the caller's
/// arguments, and returns its answer: unknown flags (even for 0 bytes), an
/// `opaque_len` that is not the state's (with a NULL state or buffer too),
/// a state already in use (left in use), a key fetch that fails (the state
/// then holds no generation and is not in use), a generation that moves
/// twice during one call. All three known flags are served.
fn getrandom_falls_back_to_the_system_call_exactly(target: Target) -> Verdict {
    let s = Subject::start(target)?;
    observe::observe()?;
    let mut f = Failures::new();
    let state = State::new(&s)?;
    let mut buf = [0u8; 100];
    let b = buf.as_mut_ptr();
    s.read(&mut [0u8; 16], &state);
    observe::take()?;
    let st = state.ptr();
    let null = std::ptr::null_mut();
    for (case, call, state, opaque_len, expected) in [
        ("flag 8", (b, 16, 8), st, STATE_SIZE, Some(EINVAL)),
        ("flag 8, 0 bytes", (b, 0, 8), st, STATE_SIZE, Some(EINVAL)),
        ("opaque_len 143", (b, 16, 0), st, STATE_SIZE - 1, Some(16)),
        ("opaque_len 4096", (b, 16, 0), st, 4096, Some(16)),
        (
            "opaque_len 143, NULL buffer",
            (null, 16, 0),
            st,
            STATE_SIZE - 1,
            Some(EFAULT),
        ),
        ("NULL state, opaque_len 0", (b, 16, 0), null, 0, Some(16)),
    ] {
        let ret = falls_back(&s, &mut f, case, call, state, opaque_len)?;
        if let Some(expected) = expected {
            f.expect(case, ret == expected, || {
                format!("returned {ret}, not {expected}")
            });
        }
    }
    let mut in_use = state.bytes();
    in_use.set_in_use(1);
    state.set(&in_use);
    falls_back(&s, &mut f, "a state in use", (b, 16, 0), st, STATE_SIZE)?;
    f.expect("a state in use", state.bytes().in_use() == 1, || {
        "the state is no longer in use: the call took it from its user".into()
    });
    in_use.set_in_use(0);
    state.set(&in_use);

    let flags = GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE;
    // SAFETY: 16 writable bytes and a whole state.
    let ret = unsafe { s.call(b, 16, flags, st, STATE_SIZE) };
    let calls = observe::take_from(s.code())?;
    f.expect(
        "all three known flags",
        ret == 16 && calls.is_empty(),
        || format!("returned {ret} with system calls {calls:x?}; Linux serves them"),
    );

    // A key fetch that fails: on a fresh state, which must fetch one.
    let fresh = State::new(&s)?;
    observe::at_key_fetch(AtKeyFetch::Fail(EINTR));
    let ret = s.read(&mut buf[..16], &fresh);
    observe::at_key_fetch(AtKeyFetch::Make);
    let calls = observe::take_from(s.code())?;
    match calls[..] {
        [fetch, fallback] if fetch.is_key_fetch() && fetch.ret == EINTR => {
            let asked = (fallback.buf, fallback.len, fallback.flags);
            f.expect("a failed key fetch", asked == (b as usize, 16, 0), || {
                format!("then asked the kernel for {asked:x?}, not the caller's request")
            });
            f.expect("a failed key fetch", ret == fallback.ret, || {
                format!("returned {ret}, the system call {}", fallback.ret)
            });
        }
        _ => f.note(
            "a failed key fetch",
            Err(format!(
                "made system calls {calls:x?}, not a key fetch and the caller's call"
            )),
        ),
    }
    let after = fresh.bytes();
    f.expect(
        "a failed key fetch",
        (after.generation(), after.in_use()) == (0, 0),
        || {
            format!(
                "left generation {} and in_use {}, not 0 and 0",
                after.generation(),
                after.in_use()
            )
        },
    );

    // A generation that moves at each key fetch: the call starts over
    // once, then asks the kernel for the caller's whole request.
    let fresh = State::new(&s)?;
    observe::at_key_fetch(s.at_key_fetch_reseed());
    let ret = s.read(&mut buf, &fresh);
    observe::at_key_fetch(AtKeyFetch::Make);
    let calls = observe::take_from(s.code())?;
    match calls[..] {
        [a, b2, fallback] if a.is_key_fetch() && b2.is_key_fetch() => {
            let asked = (fallback.buf, fallback.len, fallback.flags);
            f.expect(
                "a generation moving twice",
                asked == (b as usize, 100, 0),
                || format!("then asked the kernel for {asked:x?}, not the caller's 100 bytes"),
            );
            f.expect("a generation moving twice", ret == fallback.ret, || {
                format!("returned {ret}, the system call {}", fallback.ret)
            });
        }
        _ => f.note(
            "a generation moving twice",
            Err(format!(
                "made system calls {calls:x?}, not two key fetches and the caller's call"
            )),
        ),
    }
    f.expect(
        "a generation moving twice",
        fresh.bytes().in_use() == 0,
        || "left the state in use".into(),
    );
    f.verdict()
}

register!(getrandom_asks_the_kernel_while_the_generator_is_not_ready, Getrandom, needs: [Getrandom, OwnDataPages]);
/// While the rng data says the generator is not ready, every call, even
/// for 0 bytes, is the system call's (which waits, or with GRND_NONBLOCK
/// may refuse); once it is ready, reads are served again.
fn getrandom_asks_the_kernel_while_the_generator_is_not_ready(target: Target) -> Verdict {
    let s = Subject::start(target)?;
    let rng = s
        .pages()
        .and_then(|p| p.rng_writer())
        .ok_or("the target's pages have no rng data")?;
    observe::observe()?;
    let mut f = Failures::new();
    let state = State::new(&s)?;
    let mut buf = [0u8; 16];
    let b = buf.as_mut_ptr();
    s.read(&mut [0u8; 16], &state);
    observe::take()?;
    rng.set_ready(false);
    for (case, len, flags) in [
        ("16 bytes", 16, 0),
        ("0 bytes", 0, 0),
        ("GRND_NONBLOCK", 16, GRND_NONBLOCK),
    ] {
        falls_back(&s, &mut f, case, (b, len, flags), state.ptr(), STATE_SIZE)?;
    }
    rng.set_ready(true);
    let ret = s.read(&mut buf, &state);
    let calls = observe::take_from(s.code())?;
    f.expect("ready again", ret == 16 && calls.is_empty(), || {
        format!("returned {ret} with system calls {calls:x?}")
    });
    f.verdict()
}
