//! Architecture hooks. Another architecture is one more file here providing
//! the same functions and macros: the data slots' addresses, the counter
//! and the clock modes that read it, the system call, the entries' symbols,
//! landing pads and trampolines, and the trap.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;
