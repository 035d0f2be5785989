//! Where the image goes in a new program: in place of the kernel's vDSO
//! when the layout's data pages and the image fit the range of the kernel's
//! special mappings (`[vvar]`, `[vvar_vclock]`, `[vdso]`), so that the
//! image is at the kernel's own `AT_SYSINFO_EHDR` and the program's
//! auxiliary vector, `/proc/PID/auxv` and what the program finds all agree;
//! else elsewhere, with the program's vector rewritten.
//!
//! A special mapping can only be replaced whole (MAP_FIXED over part of one
//! fails with EINVAL), so the whole range is unmapped and the namespace
//! file's data pages are mapped directly below `B` and the image at `B`.
//! A kernel that seals its system mappings (`mseal`) refuses the unmap:
//! the exec then falls back to elsewhere.

use std::fmt;

use super::sys::Pid;

/// The kernel's special mappings in a process: one contiguous range
/// `[low, high)` with the vDSO starting at `base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelRange {
    pub low: u64,
    pub base: u64,
    pub high: u64,
}

/// Why the image cannot go in place of the kernel's vDSO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotInPlace {
    /// The process's maps could not be read, or hold no `[vdso]` at the
    /// auxiliary vector's address.
    NoVdso,
    /// The kernel's mappings are not one range ending with `[vdso]`.
    Scattered,
    /// The data pages or the image do not fit.
    TooSmall {
        below: u64,
        above: u64,
        data: u64,
        image: u64,
    },
    /// The kernel refused to unmap them (sealed system mappings).
    Sealed,
    /// `--keep-kernel-vdso`.
    Kept,
}

impl fmt::Display for NotInPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotInPlace::NoVdso => write!(f, "no [vdso] mapping at AT_SYSINFO_EHDR"),
            NotInPlace::Scattered => {
                write!(
                    f,
                    "the kernel's [vvar] and [vdso] mappings are not one range"
                )
            }
            NotInPlace::TooSmall {
                below,
                above,
                data,
                image,
            } => write!(
                f,
                "the kernel's range has {} pages below its vDSO and {} from it, the layout needs \
                 {} and {}",
                below / 4096,
                above / 4096,
                data / 4096,
                image / 4096
            ),
            NotInPlace::Sealed => write!(f, "the kernel sealed its mappings (mseal)"),
            NotInPlace::Kept => write!(f, "--keep-kernel-vdso"),
        }
    }
}

impl KernelRange {
    /// The range in `maps` (a `/proc/PID/maps` text) around the vDSO at
    /// `base`.
    pub fn parse(maps: &str, base: u64) -> Result<KernelRange, NotInPlace> {
        let mut special: Vec<(u64, u64, &str)> = maps
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let range = fields.next()?;
                let name = fields.nth(4)?;
                matches!(name, "[vvar]" | "[vvar_vclock]" | "[vdso]").then_some(())?;
                let (start, end) = range.split_once('-')?;
                Some((
                    u64::from_str_radix(start, 16).ok()?,
                    u64::from_str_radix(end, 16).ok()?,
                    name,
                ))
            })
            .collect();
        special.sort_unstable();
        let Some(&(vdso, high, "[vdso]")) = special.last() else {
            return Err(NotInPlace::NoVdso);
        };
        if vdso != base {
            return Err(NotInPlace::NoVdso);
        }
        let contiguous = special.windows(2).all(|w| w[0].1 == w[1].0);
        if !contiguous || special[..special.len() - 1].iter().any(|m| m.2 == "[vdso]") {
            return Err(NotInPlace::Scattered);
        }
        Ok(KernelRange {
            low: special[0].0,
            base,
            high,
        })
    }

    /// The range in process `pid`, whose auxiliary vector says `base`.
    pub fn of(pid: Pid, base: u64) -> Result<KernelRange, NotInPlace> {
        let maps =
            std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|_| NotInPlace::NoVdso)?;
        KernelRange::parse(&maps, base)
    }

    /// Whether `data` bytes of data pages fit below the vDSO and `image`
    /// bytes from it.
    pub fn fits(&self, data: u64, image: u64) -> Result<(), NotInPlace> {
        let (below, above) = (self.base - self.low, self.high - self.base);
        if data <= below && image <= above {
            Ok(())
        } else {
            Err(NotInPlace::TooSmall {
                below,
                above,
                data,
                image,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX_6_18: &str = "\
7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]
7fff0000-7fff4000 r--p 00000000 00:00 0                          [vvar]
7fff4000-7fff6000 r--p 00000000 00:00 0                          [vvar_vclock]
7fff6000-7fff8000 r-xp 00000000 00:00 0                          [vdso]
";

    #[test]
    fn the_kernel_s_range_is_its_special_mappings_around_the_vdso() {
        let range = KernelRange::parse(LINUX_6_18, 0x7fff6000).unwrap();
        assert_eq!((range.low, range.high), (0x7fff0000, 0x7fff8000));
        assert_eq!(range.fits(6 * 4096, 2 * 4096), Ok(()));
        assert_eq!(range.fits(4 * 4096, 2 * 4096), Ok(()));
        assert!(range.fits(7 * 4096, 2 * 4096).is_err());
        assert!(range.fits(6 * 4096, 3 * 4096).is_err());
    }

    #[test]
    fn a_range_with_a_gap_or_another_vdso_address_is_refused() {
        assert_eq!(
            KernelRange::parse(LINUX_6_18, 0x1000),
            Err(NotInPlace::NoVdso)
        );
        let gap = LINUX_6_18.replace("7fff4000-7fff6000", "7fff4000-7fff5000");
        assert_eq!(
            KernelRange::parse(&gap, 0x7fff6000),
            Err(NotInPlace::Scattered)
        );
    }
}
