//! Plain-old-data reads at offsets of untrusted files: out of range and
//! misaligned are told apart, and nothing panics.

use object::pod::{self, Pod};

use crate::error::ElfError;

/// A `T` at `offset` of `bytes`.
pub(crate) fn read<'a, T: Pod>(
    bytes: &'a [u8],
    offset: usize,
    what: &'static str,
) -> Result<&'a T, ElfError> {
    let rest = bytes.get(offset..).ok_or(ElfError::Truncated(what))?;
    check(rest, size_of::<T>(), align_of::<T>(), what)?;
    pod::from_bytes(rest)
        .map(|(t, _)| t)
        .map_err(|()| ElfError::Truncated(what))
}

/// `count` `T`s at `offset` of `bytes`.
pub(crate) fn read_slice<'a, T: Pod>(
    bytes: &'a [u8],
    offset: usize,
    count: usize,
    what: &'static str,
) -> Result<&'a [T], ElfError> {
    let rest = bytes.get(offset..).ok_or(ElfError::Truncated(what))?;
    let size = count
        .checked_mul(size_of::<T>())
        .ok_or(ElfError::Truncated(what))?;
    check(rest, size, align_of::<T>(), what)?;
    pod::slice_from_bytes(rest, count)
        .map(|(t, _)| t)
        .map_err(|()| ElfError::Truncated(what))
}

fn check(rest: &[u8], size: usize, align: usize, what: &'static str) -> Result<(), ElfError> {
    if rest.len() < size {
        return Err(ElfError::Truncated(what));
    }
    if size != 0 && !(rest.as_ptr() as usize).is_multiple_of(align) {
        return Err(ElfError::Misaligned(what));
    }
    Ok(())
}
