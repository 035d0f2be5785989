//! A reseed of the kernel's generator (a new generation in the rng data)
//! must reach every state: the next read fetches a new key.

use common::getrandom::{BATCH_SIZE, KEY_SIZE};

use super::model;
use super::observe;
use super::subject::{State, Subject};
use crate::check::Verdict;
use crate::register;
use crate::target::Target;
use crate::time::Failures;

register!(getrandom_fetches_a_new_key_when_the_generation_moves, Getrandom, needs: [Getrandom]);
/// After a reseed, the next read makes exactly one system call, a key
/// fetch into the state's key (`getrandom(key, 32, 0)`), records the new
/// generation, and gives the model's bytes for the fetched key from an
/// empty batch, not what the old key would have given. The read after it
/// makes none.
fn getrandom_fetches_a_new_key_when_the_generation_moves(target: Target) -> Verdict {
    let s = Subject::start(target)?;
    observe::observe()?;
    let state = State::new(&s)?;
    let mut f = Failures::new();
    s.read(&mut [0u8; 16], &state);
    let first = observe::take_from(s.code())?;
    f.expect(
        "the first read",
        first.len() == 1 && first[0].is_key_fetch(),
        || format!("made system calls {first:x?}, not one key fetch"),
    );
    let before = state.bytes();
    s.reseed()?;
    let mut out = [0u8; 16];
    let ret = s.read(&mut out, &state);
    let calls = observe::take_from(s.code())?;
    let key_at = state.ptr() as usize + BATCH_SIZE;
    let fetch = match calls[..] {
        [c] if c.is_key_fetch() && c.buf == key_at && c.ret == KEY_SIZE as isize => c,
        _ => {
            return Err(format!(
                "after the reseed, made system calls {calls:x?}, not one key fetch into the state's key at {key_at:#x}"
            ));
        }
    };
    let after = state.bytes();
    f.expect("the read after", ret == 16, || format!("returned {ret}"));
    f.expect(
        "the read after",
        after.generation() != before.generation(),
        || format!("kept generation {}", before.generation()),
    );
    if let Some(rng) = s.pages().and_then(|p| p.rng()) {
        f.expect(
            "the read after",
            after.generation() == rng.generation(),
            || {
                format!(
                    "holds generation {}, the rng data {}",
                    after.generation(),
                    rng.generation()
                )
            },
        );
    }
    let mut fetched = before;
    fetched.set_key(&fetch.key.expect("a successful key fetch records its key"));
    fetched.set_pos(BATCH_SIZE);
    let (expected, _) = model::read(&fetched, 16);
    f.expect("the read after", out[..] == expected[..], || {
        "its bytes are not the fetched key's keystream".into()
    });
    let (stale, _) = model::read(&before, 16);
    f.expect("the read after", out[..] != stale[..], || {
        "its bytes are what the old key gives".into()
    });
    s.read(&mut out, &state);
    let calls = observe::take_from(s.code())?;
    f.expect("the next read", calls.is_empty(), || {
        format!("made system calls {calls:x?}")
    });
    f.verdict()
}
