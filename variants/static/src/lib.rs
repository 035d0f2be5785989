//! Design (d), for comparison only: the seed's static branch
//! (`common::designs::Static`). This compiled image serves host processes;
//! `cargo xtask build-vdso --variants` writes the namespace image by
//! patching each of its static-branch NOPs into a `jmp` (`vdso_elf::patch`).
#![no_std]

common::vdso_image!(variant = Static, design = common::designs::Static);
