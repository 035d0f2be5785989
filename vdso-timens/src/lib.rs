//! The time-namespace image: the host image's entry points at the same
//! offsets, adding the namespace page's offsets to MONOTONIC, MONOTONIC_RAW,
//! MONOTONIC_COARSE and BOOTTIME.
#![no_std]

common::vdso_image!(variant = Timens, design = common::design::Timens);
