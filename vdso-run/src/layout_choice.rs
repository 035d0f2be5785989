//! Which data layout a run uses: `--abi`, else the running kernel's, so
//! that `--as-vdso` can put the image and its pages where the kernel put
//! its own (asvdso/inject.rs) and a program sees the data pages its kernel
//! would give it.

use common::abi::Abi;
use kernel_side::running::{self, KernelLayout, RecogniseError};

/// The layout and, for `--verbose`, why.
pub struct Choice {
    pub abi: Abi,
    pub why: String,
}

pub fn choose(explicit: Option<Abi>) -> Choice {
    if let Some(abi) = explicit {
        return Choice {
            abi,
            why: "--abi".to_string(),
        };
    }
    match running::recognise() {
        Ok(r) => match r.layout.served() {
            Some(abi) => Choice {
                abi,
                why: format!("the running kernel's, Linux {}", r.release),
            },
            None => {
                let abi = nearest(r.layout);
                Choice {
                    abi,
                    why: format!(
                        "Linux {} uses {}, which no pair serves; {abi} has as many data \
                         pages below the vDSO, so --as-vdso can still replace the kernel's",
                        r.release, r.layout
                    ),
                }
            }
        },
        Err(e) => {
            let abi = unrecognised(&e);
            Choice {
                abi,
                why: format!(
                    "the running kernel's layout is not known ({e}); {abi} by its version"
                ),
            }
        }
    }
}

/// The served layout with as many data pages below the vDSO as `layout`:
/// 6.13 and 6.14 map four, as 6.10 to 6.12 do; 6.15 and 6.16 six, as 6.17
/// and later do.
fn nearest(layout: KernelLayout) -> Abi {
    layout.served().unwrap_or(match layout {
        KernelLayout::Linux6_13 => Abi::Linux6_12,
        _ => Abi::Linux6_18,
    })
}

/// A kernel whose pages were not recognised: the layout its pages hold if
/// they match another version's, else its version's, else (a release that
/// names no version) the newest.
fn unrecognised(e: &RecogniseError) -> Abi {
    if let RecogniseError::Mismatch { pages_say, .. } = e {
        return nearest(*pages_say);
    }
    running::version(&running::release()).map_or(Abi::Linux6_18, |(major, minor)| {
        KernelLayout::of_version(major, minor).map_or(Abi::Linux6_6, nearest)
    })
}
