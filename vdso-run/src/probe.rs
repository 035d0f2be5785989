//! vdso-run-probe: what a program sees. `vdso-run-probe clocks` prints every
//! clock and sysinfo's uptime; `vdso-run-probe waits` times Rust std's
//! Condvar::wait_timeout and thread::park_timeout (absolute futex waits on
//! CLOCK_MONOTONIC, made through libc's syscall()). Run it under vdso-run and
//! under `unshare --time` to compare.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

const CLOCKS: [(&str, libc::clockid_t); 9] = [
    ("realtime", libc::CLOCK_REALTIME),
    ("monotonic", libc::CLOCK_MONOTONIC),
    ("monotonic_raw", libc::CLOCK_MONOTONIC_RAW),
    ("realtime_coarse", libc::CLOCK_REALTIME_COARSE),
    ("monotonic_coarse", libc::CLOCK_MONOTONIC_COARSE),
    ("boottime", libc::CLOCK_BOOTTIME),
    ("realtime_alarm", libc::CLOCK_REALTIME_ALARM),
    ("boottime_alarm", libc::CLOCK_BOOTTIME_ALARM),
    ("tai", libc::CLOCK_TAI),
];

fn clocks() {
    for (name, id) in CLOCKS {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a writable timespec.
        if unsafe { libc::clock_gettime(id, &mut ts) } == 0 {
            println!("{name} {}.{:09}", ts.tv_sec, ts.tv_nsec);
        } else {
            println!("{name} error {}", std::io::Error::last_os_error());
        }
    }
    // SAFETY: sysinfo is plain data the call fills.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: a writable struct.
    if unsafe { libc::sysinfo(&mut info) } == 0 {
        println!("uptime {}", info.uptime);
    }
}

fn waits(ms: u64) {
    let timeout = Duration::from_millis(ms);
    let pair = (Mutex::new(()), Condvar::new());
    let guard = pair.0.lock().unwrap_or_else(|e| e.into_inner());
    let start = Instant::now();
    let (_guard, result) = pair
        .1
        .wait_timeout(guard, timeout)
        .unwrap_or_else(|e| e.into_inner());
    println!(
        "condvar_wait_timeout_ms {} timed_out {}",
        start.elapsed().as_millis(),
        result.timed_out()
    );
    let start = Instant::now();
    std::thread::park_timeout(timeout);
    println!("park_timeout_ms {}", start.elapsed().as_millis());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("clocks") => clocks(),
        Some("waits") => waits(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(300)),
        _ => {
            eprintln!("usage: vdso-run-probe clocks | waits [MILLISECONDS]");
            std::process::exit(2);
        }
    }
}
