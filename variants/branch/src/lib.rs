//! Design (b), for comparison only: one image for every process, with a
//! run-time `if in_namespace` branch on the page one below the image
//! (`common::designs::Branch`). The kernel maps a page there for every
//! process: the namespace's page, or a zeroed one for a host process.
#![no_std]

common::vdso_image!(variant = Branch, design = common::designs::Branch);
