//! The clock of a POSIX timer, which `timer_settime` does not pass. The
//! kernel lists every timer of a process in `/proc/PID/timers` (`ID:`,
//! then `ClockID:`), newest first, so the timer a program has just created
//! is found in the first lines. Nothing is stopped at `timer_create` or
//! `timer_delete`: they run at full speed, and nothing is kept for a timer
//! no absolute `timer_settime` names.
//!
//! What was read is kept for a second, so that a program re-arming a timer
//! again and again reads the file about once a second. That is safe:
//! Linux hands out a process's timer ids in order and reuses one only after
//! the count has wrapped past INT_MAX, which takes 2^31 `timer_create`
//! calls, far more than a second's worth; so a clock read less than a second
//! ago is still the clock of the timer with that id. What is kept is swept
//! by a reading of the whole list whenever it has doubled, so it stays
//! within twice the timers a process has, and is dropped with the process.

use std::collections::HashMap;
use std::io::{self, Read};
use std::time::{Duration, Instant};

use super::sys::Pid;

/// How long a clock read from the list is trusted (see the module's doc).
const FRESH: Duration = Duration::from_secs(1);

/// What is known of one process's timers: id to (clock, when read).
#[derive(Default)]
struct Known {
    clocks: HashMap<i32, (i32, Instant)>,
    /// How many timers the last reading of the whole list found.
    live: usize,
}

#[derive(Default)]
pub struct Timers {
    by_process: HashMap<Pid, Known>,
}

impl Timers {
    /// The clock of timer `id` of process `tgid` (read through its thread
    /// `tid`); `None` if it has no such timer (the call fails by itself).
    pub fn clock(&mut self, tgid: Pid, tid: Pid, id: i32) -> io::Result<Option<i32>> {
        let known = self.by_process.entry(tgid).or_default();
        if let Some(&(clock, read)) = known.clocks.get(&id)
            && read.elapsed() < FRESH
        {
            return Ok(Some(clock));
        }
        let whole = known.clocks.len() >= 2 * known.live + 64;
        let mut seen = HashMap::new();
        let found = scan(tid, id, whole, &mut seen)?;
        let now = Instant::now();
        if whole {
            known.live = seen.len();
            known.clocks.clear();
        }
        known
            .clocks
            .extend(seen.into_iter().map(|(i, c)| (i, (c, now))));
        Ok(found)
    }

    /// Forgets a process (exec'd or gone).
    pub fn forget(&mut self, tgid: Pid) {
        self.by_process.remove(&tgid);
    }
}

/// Reads `/proc/TID/timers` into `seen` (id to clock), up to timer `id`
/// or, with `whole`, to the end; returns `id`'s clock if it is there.
fn scan(tid: Pid, id: i32, whole: bool, seen: &mut HashMap<i32, i32>) -> io::Result<Option<i32>> {
    let mut file = std::fs::File::open(format!("/proc/{tid}/timers")).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound && std::fs::metadata(format!("/proc/{tid}")).is_ok()
        {
            io::Error::other(
                "the kernel has no /proc/PID/timers (CONFIG_CHECKPOINT_RESTORE), where a timer's \
                 clock is found",
            )
        } else {
            e
        }
    })?;
    let mut found = None;
    let mut current: Option<i32> = None;
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(found);
        }
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = &pending[start..start + end];
            start += end + 1;
            let number = |key: &[u8]| -> Option<i32> {
                std::str::from_utf8(line.strip_prefix(key)?)
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            };
            if let Some(i) = number(b"ID:") {
                current = Some(i);
            } else if let Some(clock) = number(b"ClockID:")
                && let Some(i) = current.take()
            {
                seen.insert(i, clock);
                if i == id {
                    found = Some(clock);
                    if !whole {
                        return Ok(found);
                    }
                }
            }
        }
        pending.drain(..start);
    }
}
