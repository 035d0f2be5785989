//! What a check is, and the registry every check is entered into from the
//! file that defines it.

use std::fmt;
use std::time::Duration;

use linker_set::{set, set_declare};

use crate::target::{Capability, Target};

/// What a check returns: `Err` explains every way the target failed it.
pub type Verdict = Result<(), String>;

/// The groups the `#[test]` functions run, one each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// The C ABI seen from outside: return values, times against the
    /// kernel's, resolutions, cpu numbers. Every target, the kernel's vDSO
    /// included.
    BlackBox,
    /// Time namespaces: offsets, the swap under resolved pointers, the real
    /// kernel's namespaces as the oracle.
    TimeNamespace,
    /// The seqlock with a writer re-anchoring as fast as it can.
    Seqlock,
    /// Data pages a kernel may legitimately publish that are not the happy
    /// path: other clock modes, a counter behind `cycle_last`, stale data.
    Faults,
    /// Damaged image files fed to the loader and the verifier.
    HostileInput,
    /// `getrandom`: the keystream against an independent ChaCha20, the
    /// state's bookkeeping, the fallbacks against the system call, the
    /// system calls it makes, with the kernel's vDSO as the reference.
    Getrandom,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::BlackBox,
        Category::TimeNamespace,
        Category::Seqlock,
        Category::Faults,
        Category::HostileInput,
        Category::Getrandom,
    ];
}

/// One conformance check. Register one with [`register!`](crate::register).
pub struct Check {
    /// The function's name: the behaviour it proves.
    pub name: &'static str,
    pub category: Category,
    /// The check applies to a target that has every one of these...
    pub needs: &'static [Capability],
    /// ...and none of these.
    pub unless: &'static [Capability],
    /// How long the watchdog lets it run on one target before failing it.
    pub budget: Duration,
    pub run: fn(Target) -> Verdict,
}

/// Enough for any check here: the longest takes a few seconds.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(30);

impl Check {
    pub fn applies_to(&self, target: Target) -> bool {
        self.needs.iter().all(|&c| target.has(c)) && !self.unless.iter().any(|&c| target.has(c))
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("category", &self.category)
            .finish()
    }
}

set_declare!(checks, Check);

/// Every registered check, in no particular order.
pub fn registered() -> impl Iterator<Item = &'static Check> {
    set!(checks).iter()
}

/// Enters a check function into the registry:
///
/// ```text
/// register!(served_clocks_lie_between_kernel_reads, BlackBox, needs: [Entries]);
/// register!(torn_updates_are_never_seen, Seqlock, needs: [OwnDataPages], budget: 60);
/// register!(x, TimeNamespace, needs: [OwnDataPages], unless: [TimeNamespace]);
/// ```
#[macro_export]
macro_rules! register {
    ($run:ident, $category:ident, needs: [$($need:ident),* $(,)?]
     $(, unless: [$($unless:ident),* $(,)?])? $(, budget: $secs:expr)? $(,)?) => {
        const _: () = {
            #[linker_set::set_entry(checks)]
            static CHECK: $crate::check::Check = $crate::check::Check {
                name: stringify!($run),
                category: $crate::check::Category::$category,
                needs: &[$($crate::target::Capability::$need),*],
                unless: &[$($($crate::target::Capability::$unless),*)?],
                budget: $crate::register!(@budget $($secs)?),
                run: $run,
            };
        };
    };
    (@budget) => { $crate::check::DEFAULT_BUDGET };
    (@budget $secs:expr) => { ::std::time::Duration::from_secs($secs) };
}
