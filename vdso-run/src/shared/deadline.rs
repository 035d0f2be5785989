//! Absolute deadlines moved to host time as a namespaced Linux kernel moves
//! them (`timens_ktime_to_host`), and which futex operations have one: one
//! rule for the preload library, which translates in the libc functions it
//! interposes on, and for the tracer (`--as-vdso`), which translates at the
//! system call.
//!
//! This file is included by path into both the binary and the preload
//! library, so it uses `core` (and libc's constants) only: no allocation,
//! no locks, safe in a signal handler.

const NSEC: i128 = 1_000_000_000;
const KTIME_MAX: i128 = i64::MAX as i128;

/// The host time for an absolute time `(sec, nsec)` on a clock shifted by
/// `offset` ns: Linux's `timens_ktime_to_host` (`timespec64_to_ktime`
/// saturates first; a deadline before the offset has passed already).
/// `None` when nothing changes: no offset, or a time the kernel refuses
/// (EINVAL) by itself.
pub fn to_host(offset: i128, sec: i64, nsec: i64) -> Option<(i64, i64)> {
    if offset == 0 || sec < 0 || !(0..NSEC as i64).contains(&nsec) {
        return None;
    }
    let tim = (sec as i128 * NSEC + nsec as i128).min(KTIME_MAX);
    let host = if tim < offset {
        0
    } else {
        (tim - offset).min(KTIME_MAX)
    };
    Some(((host / NSEC) as i64, (host % NSEC) as i64))
}

/// A timer's expiry (`it_value`) moved to host time: a zero expiry disarms
/// and is left alone; as in Linux, a non-zero expiry that lands at 0 still
/// fires (at once) rather than disarming the timer.
pub fn expiry_to_host(offset: i128, sec: i64, nsec: i64) -> Option<(i64, i64)> {
    if (sec, nsec) == (0, 0) {
        return None;
    }
    match to_host(offset, sec, nsec)? {
        (0, 0) => Some((0, 1)),
        host => Some(host),
    }
}

/// The futex operations whose timeout is an absolute CLOCK_MONOTONIC time
/// unless `FUTEX_CLOCK_REALTIME` is set. (FUTEX_WAIT's timeout is relative,
/// FUTEX_LOCK_PI's on CLOCK_REALTIME by definition: both are right as they
/// are.)
pub const FUTEX_ABSOLUTE_OPS: [i32; 3] = [
    libc::FUTEX_WAIT_BITSET,
    libc::FUTEX_WAIT_REQUEUE_PI,
    libc::FUTEX_LOCK_PI2,
];

/// Does futex operation `op` (flags included) wait until an absolute
/// CLOCK_MONOTONIC time?
pub fn futex_waits_on_monotonic(op: i32) -> bool {
    let cmd = op & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME);
    op & libc::FUTEX_CLOCK_REALTIME == 0 && FUTEX_ABSOLUTE_OPS.contains(&cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = NSEC;

    #[test]
    fn deadlines_move_back_by_the_offset() {
        assert_eq!(to_host(10 * S, 100, 5), Some((90, 5)));
        assert_eq!(to_host(-10 * S, 100, 5), Some((110, 5)));
        assert_eq!(to_host(S / 2, 100, 0), Some((99, 500_000_000)));
        // No offset, negative or malformed times: unchanged (the kernel
        // refuses the malformed ones itself).
        assert_eq!(to_host(0, 100, 5), None);
        assert_eq!(to_host(S, -1, 5), None);
        assert_eq!(to_host(S, 1, NSEC as i64), None);
        assert_eq!(to_host(S, 1, -1), None);
    }

    #[test]
    fn a_deadline_before_the_offset_has_passed() {
        assert_eq!(to_host(864_000 * S, 5, 0), Some((0, 0)));
        assert_eq!(to_host(10 * S, 10, 0), Some((0, 0)));
    }

    #[test]
    fn huge_deadlines_saturate_as_linux_does() {
        let max = (i64::MAX as i128 / S) as i64;
        // timespec64_to_ktime saturates before the offset comes off.
        let (sec, nsec) = to_host(10 * S, i64::MAX, 0).expect("translated");
        assert_eq!(sec as i128 * S + nsec as i128, KTIME_MAX - 10 * S);
        let (sec, _) = to_host(-10 * S, max, 0).expect("translated");
        assert_eq!(sec, max);
    }

    #[test]
    fn only_absolute_monotonic_futex_waits_count() {
        for op in [9, 9 | 128, 11, 13 | 128] {
            assert!(futex_waits_on_monotonic(op), "{op}");
            // FUTEX_CLOCK_REALTIME.
            assert!(!futex_waits_on_monotonic(op | 256), "{op}");
        }
        // FUTEX_WAIT (relative), FUTEX_LOCK_PI (realtime), FUTEX_WAKE.
        for op in [0, 128, 6, 1] {
            assert!(!futex_waits_on_monotonic(op), "{op}");
        }
    }
}
