//! What `cargo xtask bench` measures, shared by the criterion benches
//! (`benches/latency.rs`), the instruction counter (`vdso-count`, run under
//! callgrind) and the smoke test that keeps them honest.
//!
//! - [`calls`]: the ten benched calls, and [`Entries`](calls::Entries), the
//!   one way every target is called (a pointer resolved from a dynamic
//!   table, or the raw system call).
//! - [`lab`]: the pages, the timekeeper and every image mapped as its
//!   design maps it, next to the kernel's own vDSO.
//! - [`floor`]: the hardware floor (an ordered TSC read alone) and a no-op
//!   function of our own.
//! - [`cold`]: one call after flushing the image's and the data pages'
//!   cache lines.
//! - [`getrandom`]: reads of 16 to 4096 bytes from a vDSO's `getrandom`,
//!   the system call and a user-space ChaCha20.
//! - [`valgrind`]: callgrind's client requests.

pub mod calls;
pub mod cold;
pub mod floor;
pub mod getrandom;
pub mod lab;
pub mod valgrind;
