//! The kernel side, in a process: what a kernel does for a vDSO (fill and
//! keep the data pages, check and map images above them, swap them), done
//! with real pages and real concurrency. `vdso-run` runs programs on it in
//! production; the conformance suite and the benches use it as the kernel
//! their images run under.
//!
//! - [`pages::DataPages`]: the data pages, one shared object the kernel side
//!   writes through [`common::writer`].
//! - [`timekeeper::Timekeeper`]: fills the vvar page from the host kernel's
//!   clocks and keeps it ticking, on the counter the images read
//!   ([`counter`]; what differs per architecture is in `arch`).
//! - [`mapping::Mapping`]: maps the pages read-only below an image, as a
//!   process sees them; [`Mapping::swap`](mapping::Mapping::swap) replaces
//!   the image as on `setns`.
//! - [`image::Image`]: an image file, checked by the build's own
//!   [`verify`]er and its entries resolved through the dynamic table as
//!   libcs do it (`vdso-elf`).
//! - [`kernel_vdso`]: the running kernel's own vDSO, the reference;
//!   [`running`]: its data layout, recognised from its version and pages;
//!   [`in_place`]: an image put where the kernel's vDSO was.
//! - [`variants`]: the design variants, mapped as their designs would be.
//! - [`targets`]: every image and variant for each kind of process, the
//!   one table the conformance suite, the benches and the bench report
//!   read.
//!
//! Data flows one way: the timekeeper writes, the images read.

mod arch;
pub mod aux_clocks;
pub mod counter;
pub mod image;
pub mod images;
pub mod in_place;
pub mod kernel_vdso;
pub mod mapping;
pub mod pages;
mod region;
pub mod running;
pub mod targets;
pub mod timekeeper;
// The image verifier: the build's rules, which the loader applies too.
pub mod verify;
// The design variants BENCHMARKS.md compares, mapped as each design would.
pub mod variants;
pub mod vdso;

pub use image::Image;
pub use mapping::Mapping;
pub use pages::DataPages;
pub use timekeeper::{Ticker, Timekeeper};
pub use vdso::Vdso;
