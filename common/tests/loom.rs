//! Model-checks the seqlock protocol (the real `SeqCount`, `VvarWriter` and
//! reader code, compiled against loom's atomics) under the C++/Rust memory
//! model, which x86 hardware is too strong to exercise:
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p common --test loom --release`
#![cfg(loom)]

use common::clock::{CLOCK_MONOTONIC_COARSE, clock_gettime};
use common::vvar::{TimeData, VvarPage as DataPage};
use common::writer::{CoarseBase, VvarWriter};
use loom::sync::Arc;

const CLOCK: usize = CLOCK_MONOTONIC_COARSE as usize;

/// Runs `f` on a model thread with room for a page of loom atomics (much
/// larger than 4 KiB) on its stack.
fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> loom::thread::JoinHandle<T> {
    loom::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(f)
        .expect("spawn a model thread")
}

/// Explores every interleaving with up to `PREEMPTIONS` forced context
/// switches (the full space of two updates against a read is too large to
/// finish; bugs in a protocol this small show within two or three).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTIONS);
    builder.check(f);
}

const PREEMPTIONS: usize = 3;

fn read(page: &DataPage) -> (i64, i64) {
    let ts = clock_gettime::<false, DataPage>(page, page, CLOCK_MONOTONIC_COARSE)
        .expect("coarse clocks are served");
    (ts.tv_sec, ts.tv_nsec)
}

/// Every update publishes `sec == nsec`; while the count is odd it first
/// writes a pair that breaks that on purpose. A reader that accepts a mix
/// of two updates, or the garbage, sees `sec != nsec`.
fn publish(writer: &VvarWriter<'_>, value: u64) {
    writer
        .update(|[hres, _]| {
            hres.set_coarse_base(CLOCK, CoarseBase { sec: 999, nsec: 0 });
            hres.set_coarse_base(
                CLOCK,
                CoarseBase {
                    sec: value,
                    nsec: value,
                },
            );
        })
        .expect("one writer");
}

#[test]
fn readers_never_accept_a_torn_update() {
    model(|| {
        spawn(|| {
            let page = Arc::new(DataPage::new());
            let writer_page = page.clone();
            let writer = spawn(move || {
                let writer = VvarWriter::new(&*writer_page);
                publish(&writer, 1);
                publish(&writer, 2);
            });
            let (sec, nsec) = read(&page);
            assert_eq!(sec, nsec, "torn read");
            assert!((0..=2).contains(&sec), "garbage accepted: {sec}");
            writer.join().unwrap();
        })
        .join()
        .unwrap();
    });
}

#[test]
fn a_second_writer_is_refused_not_interleaved() {
    model(|| {
        spawn(|| {
            let page = Arc::new(DataPage::new());
            let other = page.clone();
            let theirs = spawn(move || {
                let w = VvarWriter::new(&*other);
                w.update(|[h, _]| h.set_coarse_base(CLOCK, CoarseBase { sec: 7, nsec: 7 }))
                    .is_ok()
            });
            let w = VvarWriter::new(&*page);
            let mine = w
                .update(|[h, _]| h.set_coarse_base(CLOCK, CoarseBase { sec: 5, nsec: 5 }))
                .is_ok();
            let theirs = theirs.join().unwrap();
            assert!(mine || theirs, "at least one update goes through");
            let (sec, nsec) = read(&page);
            assert_eq!(sec, nsec, "two writers interleaved");
        })
        .join()
        .unwrap();
    });
}
