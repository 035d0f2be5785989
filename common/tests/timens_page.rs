//! The namespace page builder: Linux's range checks and Linux's layout.

use common::clock::{Timespec, *};
use common::timens::{KTIME_SEC_MAX, Now, Offsets, TimensError, validate, write_page};
use common::vvar::{
    CS_BASES, ClockData, ClockRefs, MAX_AUX_CLOCKS, PageRefs, TimeData, TimensOffset, clock_mode,
};

mod support;

const UPTIME: Now = Now {
    monotonic: Timespec {
        tv_sec: 100,
        tv_nsec: 500_000_000,
    },
    boottime: Timespec {
        tv_sec: 120,
        tv_nsec: 0,
    },
};

fn secs(s: i64) -> TimensOffset {
    TimensOffset { sec: s, nsec: 0 }
}

#[test]
fn offsets_normalise_with_the_sign_in_the_seconds() {
    assert_eq!(
        TimensOffset::from_nanos(-1),
        TimensOffset {
            sec: -1,
            nsec: 999_999_999
        }
    );
    assert_eq!(
        TimensOffset::from_nanos(1_500_000_000),
        TimensOffset {
            sec: 1,
            nsec: 500_000_000
        }
    );
    assert_eq!(
        TimensOffset::from_nanos(-1_500_000_000),
        TimensOffset {
            sec: -2,
            nsec: 500_000_000
        }
    );
    assert_eq!(
        TimensOffset::from_nanos(-1_500_000_000).as_nanos(),
        -1_500_000_000
    );
}

#[test]
fn linux_accepts_offsets_that_keep_clocks_in_range() {
    let ten_days = Offsets {
        monotonic: secs(864_000),
        boottime: secs(864_000),
    };
    assert_eq!(validate(&ten_days, &UPTIME), Ok(()));
    // Down to exactly zero is allowed.
    let to_zero = Offsets {
        monotonic: TimensOffset::from_nanos(-100_500_000_000),
        boottime: secs(-120),
    };
    assert_eq!(validate(&to_zero, &UPTIME), Ok(()));
}

#[test]
fn an_offset_that_makes_a_clock_negative_is_refused() {
    let offsets = Offsets {
        monotonic: secs(0),
        boottime: TimensOffset::from_nanos(-120_000_000_001),
    };
    let err = validate(&offsets, &UPTIME).unwrap_err();
    assert!(
        matches!(
            err,
            TimensError::Negative {
                clock: CLOCK_BOOTTIME,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "boottime offset of -120.000000001 s would make the clock negative (it reads 120.000000000 s now)"
    );
}

#[test]
fn an_offset_past_half_of_ktime_is_refused() {
    let offsets = Offsets {
        monotonic: secs(KTIME_SEC_MAX / 2),
        boottime: secs(0),
    };
    let err = validate(&offsets, &UPTIME).unwrap_err();
    assert!(
        matches!(
            err,
            TimensError::TooLarge {
                clock: CLOCK_MONOTONIC,
                ..
            }
        ),
        "{err:?}"
    );
    let offsets = Offsets {
        monotonic: secs(KTIME_SEC_MAX / 2 - 101),
        boottime: secs(0),
    };
    assert_eq!(validate(&offsets, &UPTIME), Ok(()));
}

#[test]
fn an_offset_beyond_ktime_is_refused_whatever_the_clock() {
    let offsets = Offsets {
        monotonic: secs(-KTIME_SEC_MAX - 1),
        boottime: secs(0),
    };
    assert_eq!(
        validate(&offsets, &UPTIME),
        Err(TimensError::OutOfRange {
            clock: CLOCK_MONOTONIC,
            sec: -KTIME_SEC_MAX - 1
        })
    );
}

#[test]
fn unnormalised_nanoseconds_are_refused() {
    let offsets = Offsets {
        monotonic: TimensOffset {
            sec: 0,
            nsec: 1_000_000_000,
        },
        boottime: secs(0),
    };
    assert_eq!(
        validate(&offsets, &UPTIME),
        Err(TimensError::Unnormalised {
            clock: CLOCK_MONOTONIC,
            nsec: 1_000_000_000
        })
    );
}

/// Every clock entry of `page` (the two, then the aux clocks), and whether
/// it is an aux clock.
fn entries<'a>(page: &PageRefs<'a>) -> Vec<(ClockRefs<'a>, bool)> {
    (0..CS_BASES)
        .map(|cs| (page.clock(cs), false))
        .chain(
            (0..MAX_AUX_CLOCKS)
                .filter_map(|n| page.aux(n))
                .map(|c| (c, true)),
        )
        .collect()
}

/// Checks `page` holds exactly what Linux writes into a namespace page
/// with `mono` and `boot` (what an aux-enabled kernel writes into the aux
/// entries), and zero in every other field.
fn assert_linux_namespace_page<P: TimeData>(page: &P, mono: TimensOffset, boot: TimensOffset) {
    let refs = page.refs();
    let entries = entries(&refs);
    assert_eq!(entries.len(), CS_BASES + P::AUX_CLOCKS);
    for (i, (vd, aux)) in entries.into_iter().enumerate() {
        assert_eq!(
            (vd.seq().load(), vd.clock_mode()),
            (1, clock_mode::TIMENS),
            "entry {i}"
        );
        assert_eq!(
            (
                vd.cycle_last(),
                vd.mask(),
                vd.mult(),
                vd.shift(),
                vd.max_cycles().unwrap_or(0)
            ),
            (0, 0, 0, 0, 0),
            "entry {i}"
        );
        if let Some(tail) = vd.tail() {
            assert_eq!(tail, (0, 0, 0, 0), "entry {i}");
        }
        for clock in 0..12 {
            let expected = match clock as i32 {
                _ if aux => TimensOffset::ZERO,
                CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE => mono,
                CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => boot,
                _ => TimensOffset::ZERO,
            };
            assert_eq!(
                vd.timens_offset(clock),
                expected,
                "entry {i}, clock {clock}"
            );
        }
    }
    assert_eq!((refs.timezone(), refs.hrtimer_res()), ((0, 0), 0));
}

#[test]
fn the_page_is_what_linux_writes() {
    for_each_layout!(|P| {
        let page = P::new();
        let mono = TimensOffset::from_nanos(864_000_000_000_123);
        let boot = TimensOffset::from_nanos(-50_250_000_000);
        write_page(
            &page,
            &Offsets {
                monotonic: mono,
                boottime: boot,
            },
            &UPTIME,
        )
        .unwrap();
        assert_linux_namespace_page(&page, mono, boot);
    });
}

#[test]
fn a_refused_offset_writes_nothing() {
    for_each_layout!(|P| {
        let page = P::new();
        let offsets = Offsets {
            monotonic: secs(-1000),
            boottime: secs(0),
        };
        assert!(write_page(&page, &offsets, &UPTIME).is_err());
        assert_eq!(page.clock(0).seq().load(), 0);
        assert_eq!(
            page.clock(0).timens_offset(CLOCK_MONOTONIC as usize),
            TimensOffset::ZERO
        );
    });
}

#[test]
fn an_offset_too_large_for_the_type_saturates_and_is_refused() {
    let huge = TimensOffset::from_nanos(i128::MAX);
    assert_eq!(huge.sec, i64::MAX);
    let offsets = Offsets {
        monotonic: huge,
        boottime: secs(0),
    };
    assert!(matches!(
        validate(&offsets, &UPTIME),
        Err(TimensError::OutOfRange { .. })
    ));
    assert_eq!(TimensOffset::from_nanos(i128::MIN).sec, i64::MIN);
}

#[test]
fn the_page_is_what_linux_writes_whatever_it_held() {
    for_each_layout!(|P| {
        // A page reused from old time data: every byte set.
        let mut page = P::new();
        // SAFETY: the page is ours; its fields are atomics, valid at any
        // bit pattern, and its padding is bytes.
        unsafe { std::ptr::write_bytes(&mut page as *mut P as *mut u8, 7, size_of::<P>()) };
        let mono = TimensOffset::from_nanos(5_000_000_001);
        write_page(
            &page,
            &Offsets {
                monotonic: mono,
                boottime: secs(0),
            },
            &UPTIME,
        )
        .unwrap();
        assert_linux_namespace_page(&page, mono, secs(0));
    });
}
