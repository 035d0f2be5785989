//! The kernel-side writer: what each event publishes, and how it refuses to
//! corrupt an update already in progress.

use common::clock::*;
use common::seqlock::WriteError;
use common::vvar::{CS_HRES_COARSE, CS_RAW, ClockData, ShiftedNanos, TimeData, clock_mode};
use common::writer::{Anchor, CoarseBase, HresBase, Scale, VvarWriter, max_cycles_for};

mod support;

fn hres(sec: u64, nsec: u64) -> HresBase {
    HresBase {
        sec,
        nsec: ShiftedNanos(nsec),
    }
}

fn anchor() -> Anchor {
    Anchor {
        cycle_last: 1_000,
        mask: u64::MAX,
        hres: Scale {
            mult: 5_000_000,
            shift: 24,
        },
        raw: Scale {
            mult: 5_000_001,
            shift: 23,
        },
        realtime: hres(1_700_000_000, 1 << 24),
        monotonic: hres(100, 2 << 24),
        boottime: hres(120, 3 << 24),
        tai: hres(1_700_000_037, 4 << 24),
        monotonic_raw: hres(99, 5 << 23),
        realtime_coarse: CoarseBase {
            sec: 1_700_000_000,
            nsec: 6,
        },
        monotonic_coarse: CoarseBase { sec: 100, nsec: 7 },
    }
}

#[test]
fn an_anchor_fills_both_entries_and_leaves_the_counts_even() {
    for_each_layout!(|P| {
        let page = P::new();
        let w = VvarWriter::new(&page);
        w.anchor(&anchor()).unwrap();
        let (h, r) = (page.clock(CS_HRES_COARSE), page.clock(CS_RAW));
        assert_eq!((h.seq().load(), r.seq().load()), (2, 2));
        assert_eq!(
            (h.cycle_last(), h.mult(), h.shift()),
            (1_000, 5_000_000, 24)
        );
        assert_eq!(
            (r.cycle_last(), r.mult(), r.shift()),
            (1_000, 5_000_001, 23)
        );
        assert_eq!(
            h.hres_base(CLOCK_REALTIME as usize),
            (1_700_000_000, ShiftedNanos(1 << 24))
        );
        assert_eq!(
            h.hres_base(CLOCK_MONOTONIC as usize),
            (100, ShiftedNanos(2 << 24))
        );
        assert_eq!(
            h.hres_base(CLOCK_BOOTTIME as usize),
            (120, ShiftedNanos(3 << 24))
        );
        assert_eq!(
            h.hres_base(CLOCK_TAI as usize),
            (1_700_000_037, ShiftedNanos(4 << 24))
        );
        assert_eq!(
            r.hres_base(CLOCK_MONOTONIC_RAW as usize),
            (99, ShiftedNanos(5 << 23))
        );
        assert_eq!(
            h.coarse_base(CLOCK_REALTIME_COARSE as usize),
            (1_700_000_000, 6)
        );
        assert_eq!(h.coarse_base(CLOCK_MONOTONIC_COARSE as usize), (100, 7));
        // Where the layout has `max_cycles`, it is Linux's for each entry's mult.
        let refs = page.refs();
        for (cs, mult) in [(CS_HRES_COARSE, 5_000_000), (CS_RAW, 5_000_001)] {
            if let Some(max) = refs.clock(cs).max_cycles() {
                assert_eq!(max, max_cycles_for(mult, u64::MAX), "entry {cs}");
            }
        }
    });
}

#[test]
fn max_cycles_is_what_linux_computes() {
    // clocks_calc_max_nsecs: ULLONG_MAX / (mult + mult * 11 / 100), at most
    // the mask; this machine's TSC (mult 6462345 at shift 24) gives Linux's
    // 0x256c0731a4e as the live 6.18 page shows.
    assert_eq!(max_cycles_for(6_462_345, u64::MAX), 0x256c0731a4e);
    assert_eq!(max_cycles_for(100, 0xffff), 0xffff);
    assert_eq!(max_cycles_for(0, u64::MAX), u64::MAX);
}

#[test]
fn each_event_is_one_update() {
    for_each_layout!(|P| {
        let page = P::new();
        let w = VvarWriter::new(&page);
        w.set_timezone(-60, 1).unwrap();
        w.set_hrtimer_res(1).unwrap();
        w.set_clock_mode(clock_mode::TSC).unwrap();
        let h = page.clock(CS_HRES_COARSE);
        assert_eq!(h.seq().load(), 6);
        assert_eq!(page.clock(CS_RAW).seq().load(), 6);
        assert_eq!(page.timezone(), (-60, 1));
        assert_eq!(page.hrtimer_res(), 1);
        assert_eq!(
            (h.clock_mode(), page.clock(CS_RAW).clock_mode()),
            (clock_mode::TSC, clock_mode::TSC)
        );
    });
}

#[test]
fn an_update_inside_an_update_is_refused_and_writes_nothing() {
    for_each_layout!(|P| {
        let page = P::new();
        let w = VvarWriter::new(&page);
        let mut inner = None;
        w.update(|_| {
            inner = Some(VvarWriter::new(&page).set_timezone(5, 5));
        })
        .unwrap();
        assert_eq!(inner, Some(Err(WriteError::Busy { seq: 1 })));
        assert_eq!(page.timezone(), (0, 0));
        // The outer update still completed: both counts even, advanced once.
        assert_eq!(
            (page.clock(0).seq().load(), page.clock(1).seq().load()),
            (2, 2)
        );
    });
}

#[test]
fn an_abandoned_raw_entry_blocks_the_writer_without_leaving_the_other_odd() {
    for_each_layout!(|P| {
        let page = P::new();
        // Leave vd[CS_RAW] odd, as a writer that died mid-update would.
        page.clock(CS_RAW).seq().write_begin().unwrap();
        let err = VvarWriter::new(&page).set_hrtimer_res(1).unwrap_err();
        assert_eq!(err, WriteError::Busy { seq: 1 });
        assert_eq!(
            page.clock(CS_HRES_COARSE).seq().load() % 2,
            0,
            "readers of vd[0] must not spin"
        );
        assert_eq!(page.hrtimer_res(), 0);
    });
}

#[test]
fn a_panicking_update_still_closes_both_counts() {
    for_each_layout!(|P| {
        let page = P::new();
        let w = VvarWriter::new(&page);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = w.update(|_| panic!("a kernel bug in the middle of an update"));
        }));
        assert!(unwound.is_err());
        // Readers would spin forever on an odd count.
        assert_eq!(
            (page.clock(0).seq().load(), page.clock(1).seq().load()),
            (2, 2)
        );
        assert_eq!(w.set_hrtimer_res(1), Ok(()), "the page stays writable");
    });
}

/// The rng data's generation is never 0 (what a state without a key
/// holds), and a reseed moves it on.
#[test]
fn rng_generations_skip_zero_and_reseeds_move_them_on() {
    use common::vvar::RngData;
    use common::writer::RngWriter;
    let rng = RngData::new();
    let w = RngWriter::new(&rng);
    assert_eq!((rng.generation(), rng.is_ready()), (0, false));
    w.set_generation(0);
    assert_eq!(rng.generation(), 1, "0 is no generation");
    assert_eq!(w.reseed(), 2);
    w.set_generation(u64::MAX);
    assert_eq!(w.reseed(), 1, "the count wraps past 0");
    w.set_ready(true);
    assert!(rng.is_ready());
    w.set_ready(false);
    assert!(!rng.is_ready());
}
