//! The clock algorithms on pages in memory, with the real counter: the
//! corner cases a running timekeeper never produces on its own.

use std::sync::mpsc;
use std::time::Duration;

use common::clock::*;
use common::timens::{Now, Offsets, write_page};
use common::vvar::{
    CS_HRES_COARSE, CS_RAW, ClockData, ShiftedNanos, TimeData, TimensOffset, clock_mode,
};

mod support;
use common::writer::{AuxAnchor, CoarseBase, HresBase, Scale, VvarWriter};

fn tsc() -> u64 {
    // SAFETY: LFENCE and RDTSC touch no memory and exist on every x86_64 CPU.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// A page anchored at `cycle_last` with `scale`, every hres base `sec` s
/// plus `shifted` (nanoseconds << shift), and coarse bases `sec` s + 7 ns.
fn page<P: TimeData>(mode: i32, cycle_last: u64, scale: Scale, sec: u64, shifted: u64) -> P {
    let page = P::new();
    let writer = VvarWriter::new(&page);
    writer
        .update(|[h, r]| {
            for (e, s) in [(&h, scale), (&r, scale)] {
                e.set_counter(cycle_last, u64::MAX, s);
                e.set_clock_mode(mode);
            }
            for clock in [CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI] {
                h.set_hres_base(
                    clock as usize,
                    HresBase {
                        sec,
                        nsec: ShiftedNanos(shifted),
                    },
                );
            }
            r.set_hres_base(
                CLOCK_MONOTONIC_RAW as usize,
                HresBase {
                    sec,
                    nsec: ShiftedNanos(shifted),
                },
            );
            for clock in [CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE] {
                h.set_coarse_base(clock as usize, CoarseBase { sec, nsec: 7 });
            }
        })
        .unwrap();
    writer.set_hrtimer_res(1).unwrap();
    page
}

const SERVED: [i32; 7] = [0, 1, 4, 5, 6, 7, 11];
const HRES: [i32; 5] = [0, 1, 4, 7, 11];

fn ns(ts: Timespec) -> i128 {
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

#[test]
fn high_resolution_clocks_fall_back_unless_the_mode_is_tsc() {
    for_each_layout!(|P| {
        for mode in [
            clock_mode::NONE,
            clock_mode::PVCLOCK,
            clock_mode::HVCLOCK,
            42,
        ] {
            let p = page::<P>(mode, 0, Scale { mult: 1, shift: 0 }, 5, 0);
            for clock in HRES {
                assert_eq!(
                    clock_gettime::<false, P>(&p, &p, clock),
                    None,
                    "mode {mode}, clock {clock}"
                );
            }
            // Coarse clocks do not depend on the counter, in Linux either.
            assert_eq!(
                clock_gettime::<false, P>(&p, &p, CLOCK_MONOTONIC_COARSE),
                Some(Timespec {
                    tv_sec: 5,
                    tv_nsec: 7
                })
            );
            assert!(gettimeofday(&p).is_none());
        }
    });
}

#[test]
fn ids_the_pages_do_not_hold_fall_back() {
    for_each_layout!(|P| {
        let p = page::<P>(clock_mode::TSC, 0, Scale { mult: 1, shift: 0 }, 5, 0);
        for clock in [
            -1,
            2,
            3,
            8,
            9,
            10,
            12,
            15,
            24,
            i32::MAX,
            i32::MIN,
            !(1234 << 3) | 6,
        ] {
            assert_eq!(
                clock_gettime::<false, P>(&p, &p, clock),
                None,
                "clock {clock}"
            );
            assert_eq!(
                clock_gettime::<true, P>(&p, &p, clock),
                None,
                "clock {clock}"
            );
            assert_eq!(clock_getres(&p, clock), None, "clock {clock}");
        }
        for clock in HRES {
            assert_eq!(
                clock_getres(&p, clock),
                Some(Timespec {
                    tv_sec: 0,
                    tv_nsec: 1
                })
            );
        }
        // The image cannot know the kernel's tick.
        assert_eq!(clock_getres(&p, CLOCK_MONOTONIC_COARSE), None);
        // The aux clocks: off on this page, so the kernel answers their time;
        // their resolution is Linux 6.18's constant where the layout has
        // them, and the kernel's before.
        for clock in 16..24 {
            assert_eq!(
                clock_gettime::<false, P>(&p, &p, clock),
                None,
                "clock {clock}"
            );
            let res = (P::AUX_CLOCKS != 0).then_some(Timespec {
                tv_sec: 0,
                tv_nsec: 1,
            });
            assert_eq!(clock_getres(&p, clock), res, "clock {clock}");
        }
    });
}

#[test]
fn a_counter_behind_cycle_last_reads_the_base_exactly() {
    for_each_layout!(|P| {
        let p = page::<P>(
            clock_mode::TSC,
            u64::MAX - 1,
            Scale {
                mult: 1 << 20,
                shift: 20,
            },
            9,
            5 << 20,
        );
        for clock in HRES {
            assert_eq!(
                clock_gettime::<false, P>(&p, &p, clock),
                Some(Timespec {
                    tv_sec: 9,
                    tv_nsec: 5
                }),
                "clock {clock}"
            );
        }
    });
}

#[test]
fn a_stale_anchor_whose_product_overflows_64_bits_gives_the_exact_time() {
    for_each_layout!(|P| {
        // 2^31 per cycle with shift 31 is one nanosecond per cycle: any delta
        // above 2^33 cycles overflows the 64-bit product.
        let scale = Scale {
            mult: 1 << 31,
            shift: 31,
        };
        let stale = 60 * 4_000_000_000u64;
        let now = tsc();
        let p = page::<P>(clock_mode::TSC, now - stale, scale, 1_000, 0);
        for clock in HRES {
            let before = tsc();
            let t = clock_gettime::<false, P>(&p, &p, clock).unwrap();
            let after = tsc();
            let lo = 1_000_000_000_000 + (before - (now - stale)) as i128;
            let hi = 1_000_000_000_000 + (after - (now - stale)) as i128;
            assert!(
                (lo..=hi).contains(&ns(t)),
                "clock {clock}: {t:?} not in [{lo}, {hi}]"
            );
        }
    });
}

#[test]
fn nanoseconds_beyond_a_second_are_normalised() {
    for_each_layout!(|P| {
        // An hour's worth of nanoseconds in the base, as after a long stall.
        let p = page::<P>(
            clock_mode::TSC,
            u64::MAX - 1,
            Scale { mult: 1, shift: 4 },
            10,
            (3_600_000_000_123) << 4,
        );
        let t = clock_gettime::<false, P>(&p, &p, CLOCK_MONOTONIC).unwrap();
        assert_eq!(
            t,
            Timespec {
                tv_sec: 3_610,
                tv_nsec: 123
            }
        );
        let tv = gettimeofday(&p).unwrap();
        assert_eq!(
            tv,
            Timeval {
                tv_sec: 3_610,
                tv_usec: 0
            }
        );
    });
}

#[test]
fn timens_offsets_shift_only_the_monotonic_family() {
    for_each_layout!(|P| {
        let p = page::<P>(
            clock_mode::TSC,
            u64::MAX - 1,
            Scale { mult: 1, shift: 0 },
            1_000,
            500_000_000,
        );
        let ns_page = P::new();
        let now = Now {
            monotonic: Timespec {
                tv_sec: 1_000,
                tv_nsec: 0,
            },
            boottime: Timespec {
                tv_sec: 1_000,
                tv_nsec: 0,
            },
        };
        let offsets = Offsets {
            monotonic: TimensOffset::from_nanos(-600_700_000_000),
            boottime: TimensOffset::from_nanos(864_000_600_000_000),
        };
        write_page(&ns_page, &offsets, &now).unwrap();
        for clock in SERVED {
            let host = clock_gettime::<false, P>(&p, &ns_page, clock).unwrap();
            let timens = clock_gettime::<true, P>(&p, &ns_page, clock).unwrap();
            let moved = ns(timens) - ns(host);
            let expected = match clock {
                CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE => {
                    offsets.monotonic.as_nanos()
                }
                CLOCK_BOOTTIME => offsets.boottime.as_nanos(),
                _ => 0,
            };
            assert_eq!(moved, expected, "clock {clock}");
            assert!(
                (0..1_000_000_000).contains(&timens.tv_nsec),
                "clock {clock}: {timens:?}"
            );
        }
        // The raw clock takes its offset from the raw entry, like Linux.
        assert_eq!(
            ns_page
                .clock(CS_RAW)
                .timens_offset(CLOCK_MONOTONIC_RAW as usize),
            offsets.monotonic
        );
        assert_eq!(
            ns_page
                .clock(CS_HRES_COARSE)
                .timens_offset(CLOCK_REALTIME as usize),
            TimensOffset::ZERO
        );
    });
}

#[test]
fn a_namespace_page_in_the_vvar_slot_sends_readers_to_the_kernel_instead_of_spinning() {
    for_each_layout!(|P| {
        // Linux's merged arrangement: seq = 1 forever, clock_mode = INT_MAX.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let p = P::new();
            let now = Now {
                monotonic: Timespec {
                    tv_sec: 10,
                    tv_nsec: 0,
                },
                boottime: Timespec {
                    tv_sec: 10,
                    tv_nsec: 0,
                },
            };
            write_page(&p, &Offsets::default(), &now).unwrap();
            let results: Vec<_> = SERVED
                .iter()
                .map(|&c| clock_gettime::<false, P>(&p, &p, c))
                .collect();
            let rest = (time(&p), clock_getres(&p, CLOCK_MONOTONIC), timezone(&p));
            tx.send((results, rest)).unwrap();
        });
        let (results, rest) = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("a reader spun on the namespace page");
        assert!(results.iter().all(Option::is_none), "{results:?}");
        // time, getres and the timezone too: the page holds offsets, not them.
        assert_eq!(rest, (None, None, None));
    });
}

#[test]
fn aux_clocks_read_their_own_line_where_the_layout_has_them() {
    for_each_layout!(|P| {
        let p = page::<P>(clock_mode::TSC, 0, Scale { mult: 1, shift: 0 }, 5, 0);
        let w = VvarWriter::new(&p);
        // Cycle 0 at 1000 s, 3 ns a cycle (shift 1, mult 6), in aux clock 3.
        let aux = AuxAnchor {
            cycle_last: 0,
            mask: u64::MAX,
            scale: Scale { mult: 6, shift: 1 },
            base: HresBase {
                sec: 1_000,
                nsec: ShiftedNanos(0),
            },
        };
        if P::AUX_CLOCKS == 0 {
            assert!(
                w.set_aux(3, Some(&aux)).is_err(),
                "no aux clocks before 6.17"
            );
            assert_eq!(clock_gettime::<false, P>(&p, &p, 19), None);
            return;
        }
        w.set_aux(3, Some(&aux)).unwrap();
        let before = tsc();
        let t = clock_gettime::<false, P>(&p, &p, 19).expect("an aux clock that is on");
        let after = tsc();
        let (lo, hi) = (
            1_000_000_000_000 + 3 * before as i128,
            1_000_000_000_000 + 3 * after as i128,
        );
        assert!((lo..=hi).contains(&ns(t)), "{t:?} not in [{lo}, {hi}]");
        // A namespace never moves an aux clock: the timens reading is the same line.
        let ns_page = P::new();
        let offsets = Offsets {
            monotonic: TimensOffset::from_nanos(3_600_000_000_000),
            boottime: TimensOffset::from_nanos(3_600_000_000_000),
        };
        let now = Now {
            monotonic: Timespec {
                tv_sec: 10,
                tv_nsec: 0,
            },
            boottime: Timespec {
                tv_sec: 10,
                tv_nsec: 0,
            },
        };
        write_page(&ns_page, &offsets, &now).unwrap();
        let t = clock_gettime::<true, P>(&p, &ns_page, 19).unwrap();
        assert!(ns(t) >= lo && ns(t) < 2_000_000_000_000, "{t:?}");
        // The other aux clocks stay off, and turning this one off sends its
        // reads back to the kernel.
        assert_eq!(clock_gettime::<false, P>(&p, &p, 18), None);
        w.set_aux(3, None).unwrap();
        assert_eq!(clock_gettime::<false, P>(&p, &p, 19), None);
    });
}
