//! `getrandom` (Linux 6.11+), on every target that has it: the images of
//! the layouts with rng data, and the running kernel's vDSO, which shows
//! that each check tests Linux's behaviour and not this project's habits.
//!
//! - [`calls`]: the parameter query, the state across a page, and every
//!   case handed to the system call, whose answer must be returned;
//! - [`keystream`]: the bytes and the state after reads of every shape,
//!   against a model over an independent ChaCha20 ([`model`]), fast key
//!   erasure, and no key on the stack;
//! - [`reseed`]: a new generation reaches the state;
//! - [`load`]: small reads without system calls (in a real time namespace
//!   too), threads at once, the cap on one call.
//!
//! The system calls a target makes are seen by [`observe`], a seccomp
//! filter on the checking thread; [`subject`] makes a target callable.

mod calls;
mod keystream;
mod load;
mod model;
mod observe;
mod reseed;
mod subject;
