//! The kernel side's architecture hooks: the counter the timekeeper reads
//! (the one the images read) and how to map an image's code. `common::arch`
//! is the images' side of the boundary, xtask's `arch` the build's.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::*;
