//! The kernel-side writer: what each event publishes, and how it refuses to
//! corrupt an update already in progress.

use common::clock::*;
use common::seqlock::WriteError;
use common::vvar::{CS_HRES_COARSE, CS_RAW, DataPage, ShiftedNanos, clock_mode};
use common::writer::{Anchor, CoarseBase, HresBase, Scale, VvarWriter};

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
    let page = DataPage::new();
    let w = VvarWriter::new(&page);
    w.anchor(&anchor()).unwrap();
    let (h, r) = (page.data(CS_HRES_COARSE), page.data(CS_RAW));
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
}

#[test]
fn each_event_is_one_update() {
    let page = DataPage::new();
    let w = VvarWriter::new(&page);
    w.set_timezone(-60, 1).unwrap();
    w.set_hrtimer_res(1).unwrap();
    w.set_clock_mode(clock_mode::TSC).unwrap();
    let h = page.data(CS_HRES_COARSE);
    assert_eq!(h.seq().load(), 6);
    assert_eq!(page.data(CS_RAW).seq().load(), 6);
    assert_eq!(h.timezone(), (-60, 1));
    assert_eq!(h.hrtimer_res(), 1);
    assert_eq!(
        (h.clock_mode(), page.data(CS_RAW).clock_mode()),
        (clock_mode::TSC, clock_mode::TSC)
    );
}

#[test]
fn an_update_inside_an_update_is_refused_and_writes_nothing() {
    let page = DataPage::new();
    let w = VvarWriter::new(&page);
    let mut inner = None;
    w.update(|_| {
        inner = Some(VvarWriter::new(&page).set_timezone(5, 5));
    })
    .unwrap();
    assert_eq!(inner, Some(Err(WriteError::Busy { seq: 1 })));
    assert_eq!(page.data(CS_HRES_COARSE).timezone(), (0, 0));
    // The outer update still completed: both counts even, advanced once.
    assert_eq!(
        (page.data(0).seq().load(), page.data(1).seq().load()),
        (2, 2)
    );
}

#[test]
fn an_abandoned_raw_entry_blocks_the_writer_without_leaving_the_other_odd() {
    let page = DataPage::new();
    // Leave vd[CS_RAW] odd, as a writer that died mid-update would.
    page.data(CS_RAW).seq().write_begin().unwrap();
    let err = VvarWriter::new(&page).set_hrtimer_res(1).unwrap_err();
    assert_eq!(err, WriteError::Busy { seq: 1 });
    assert_eq!(
        page.data(CS_HRES_COARSE).seq().load() % 2,
        0,
        "readers of vd[0] must not spin"
    );
    assert_eq!(page.data(CS_HRES_COARSE).hrtimer_res(), 0);
}

#[test]
fn a_panicking_update_still_closes_both_counts() {
    let page = DataPage::new();
    let w = VvarWriter::new(&page);
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = w.update(|_| panic!("a kernel bug in the middle of an update"));
    }));
    assert!(unwound.is_err());
    // Readers would spin forever on an odd count.
    assert_eq!(
        (page.data(0).seq().load(), page.data(1).seq().load()),
        (2, 2)
    );
    assert_eq!(w.set_hrtimer_res(1), Ok(()), "the page stays writable");
}
