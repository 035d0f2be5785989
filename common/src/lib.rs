//! The vDSO's shared core: the data-page ABI ([`vvar`]), the seqlock
//! ([`seqlock`]), the clock algorithms ([`clock`]) and the entry points' C ABI
//! ([`entry`]), for Linux x86_64. The images instantiate it through
//! [`vdso_image!`]; a kernel uses the ABI types to fill the pages.
//!
//! Data flows one way: the kernel's timekeeper writes the pages, the images
//! only read them.
#![no_std]

mod arch;
mod sync;

pub mod abi;
pub mod clock;
pub mod design;
#[cfg(feature = "designs")]
pub mod designs;
pub mod entries;
pub mod entry;
// The algorithm needs the architecture's ChaCha20 block function, which
// only x86_64 has so far.
#[cfg(target_arch = "x86_64")]
pub mod getrandom;
pub mod image;
pub mod layout;
pub mod note;
pub mod pages;
pub mod route;
pub mod seqlock;
pub mod timens;
pub mod vvar;
pub mod writer;
