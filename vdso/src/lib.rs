//! The host image: for processes in the host's time namespace. It never
//! reads a namespace offset.
#![no_std]

common::vdso_image!(variant = Host, design = common::design::Host);
