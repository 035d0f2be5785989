//! Design (c), for comparison only: Linux's merged design
//! (`common::designs::Merged`). One image for every process; a namespaced
//! process gets the namespace page in the vvar slot and the real vvar page
//! one below the image, which the readers find in the seqlock's slow path.
#![no_std]

common::vdso_image!(variant = Merged, design = common::designs::Merged);
