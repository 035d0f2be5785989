//! The one table of the images' entry points, and what is derived from it.
//!
//! [`entry_table!`](crate::entry_table) holds a row per entry: its name, its
//! C signature, the function that implements it, the room its slot gives
//! it, and the architectures and data layouts that have it. Everything
//! else is expanded from the rows, so that adding an entry is one row plus
//! the entry's code:
//!
//! - the exported functions of every image ([`vdso_image!`](crate::vdso_image));
//! - [`ENTRIES`], the rows as data, from which xtask writes the linker and
//!   version scripts and checks every image, and loaders find the symbols
//!   ([`Entry::placed`]);
//! - [`Pointers`], the entries as typed function pointers, for whoever calls
//!   a mapped image (the kernel side, `vdso-run`'s preload library);
//! - [`PerEntryOfAnyLayout`], one value per entry (where the kernel side
//!   finds each in an image: `None` for an entry its layout lacks);
//! - [`PerEntry`], one value per entry every layout has (`vdso-run`'s call
//!   counters, and the entries its preload library requires of an image).
//!
//! The consumers are macros themselves (`__entry_*`), so a test can expand
//! them over a table with one more row and see every one of them follow.

use crate::abi::{Abi, Arch};

/// The image's `DT_SONAME`.
pub const SONAME: &str = "linux-vdso.so.1";

/// The largest an image file may be: two pages, like Linux's x86_64 vDSO.
/// The verifier enforces it; loaders reserve this much room for an image.
pub const MAX_IMAGE_SIZE: usize = 8192;

/// Where the first slot starts, from the image's base. Everything before it
/// (ELF header, dynamic symbols, notes, `.dynamic`) is the same size in every
/// image, and the linker script fails the link if it grows past this.
pub const TEXT_START: u64 = 0x800;

/// Slots are aligned like the functions in them.
pub const SLOT_ALIGN: u64 = 16;

/// The table. `entry_table!(consumer { context })` expands to
/// `consumer! { { context } row* }`, one row per entry:
///
/// ```text
/// { name: clock_gettime, kind: function,
///   args: (clock: i32, ts: *mut Timespec), ret: i32,
///   implementation: entry::clock_gettime, slot: 0x80,
///   arches: ["x86_64", "aarch64"], abis: all }
/// ```
///
/// `kind` is `function` (a C function, called) or `trampoline` (code a
/// return lands on, never called: arm64's `__kernel_rt_sigreturn`; see
/// [`EntryKind`]). A function's `implementation` is generic over the
/// image (`implementation::<Image>(args)`); a trampoline's names the code
/// the architecture's file writes for it, and its `args` and `ret` are
/// empty. `slot` is the room the entry may take (sized from the larger,
/// namespace image, with room to spare; xtask names the entry and both
/// sizes if one outgrows its slot). `arches` spells architectures as
/// `target_arch` does; `abis` is `all` or a list of [`Abi`] names. Slots
/// follow each other in table order, each architecture's entries packed
/// from [`TEXT_START`].
#[macro_export]
macro_rules! entry_table {
    ($consumer:path { $($context:tt)* }) => {
        $consumer! {
            { $($context)* }
            {
                name: clock_gettime,
                kind: function,
                args: (clock: i32, ts: *mut $crate::clock::Timespec),
                ret: i32,
                implementation: $crate::entry::clock_gettime,
                slot: 0x80,
                arches: ["x86_64", "aarch64"],
                abis: all,
            }
            {
                name: gettimeofday,
                kind: function,
                args: (tv: *mut $crate::clock::Timeval, tz: *mut $crate::clock::Timezone),
                ret: i32,
                implementation: $crate::entry::gettimeofday,
                slot: 0x200,
                arches: ["x86_64", "aarch64"],
                abis: all,
            }
            {
                name: time,
                kind: function,
                args: (t: *mut i64),
                ret: i64,
                implementation: $crate::entry::time,
                slot: 0x40,
                arches: ["x86_64"],
                abis: all,
            }
            {
                name: clock_getres,
                kind: function,
                args: (clock: i32, res: *mut $crate::clock::Timespec),
                ret: i32,
                implementation: $crate::entry::clock_getres,
                slot: 0x80,
                arches: ["x86_64", "aarch64"],
                abis: all,
            }
            {
                name: getcpu,
                kind: function,
                args: (cpu: *mut u32, node: *mut u32, cache: *mut ::core::ffi::c_void),
                ret: i64,
                implementation: $crate::entry::getcpu,
                slot: 0x40,
                arches: ["x86_64"],
                abis: all,
            }
            // From Linux 6.11: the layouts with rng data.
            {
                name: getrandom,
                kind: function,
                args: (
                    buffer: *mut ::core::ffi::c_void,
                    len: usize,
                    flags: u32,
                    opaque_state: *mut ::core::ffi::c_void,
                    opaque_len: usize,
                ),
                ret: isize,
                implementation: $crate::entry::getrandom,
                slot: 0x380,
                arches: ["x86_64"],
                abis: ["linux-6.12", "linux-6.18"],
            }
            {
                name: rt_sigreturn,
                kind: trampoline,
                args: (),
                ret: (),
                implementation: rt_sigreturn,
                slot: 0x10,
                arches: ["aarch64"],
                abis: all,
            }
        }
    };
}

/// What an entry is, and so how images export it, loaders hold it, and
/// the verifier checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A C function the libc calls: `STT_FUNC`, unwind info, and on arm64 a
    /// `bti c` landing pad at its first byte.
    Function,
    /// Code the kernel makes a return land on, never called: arm64's
    /// `__kernel_rt_sigreturn`, where a signal handler returns unless the
    /// program set `SA_RESTORER`. Unwinders recognise it by its exact bytes,
    /// and no landing pad may precede them. Like Linux's, it is a plain
    /// code label (`STT_NOTYPE`) preceded by the architecture's
    /// [`trampoline_lead`](Arch::trampoline_lead) bytes inside its slot, and
    /// no unwind entry covers it (docs/abi.md says why).
    Trampoline,
}

/// One row of the table, as data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name: `clock_gettime`.
    pub name: &'static str,
    pub kind: EntryKind,
    /// Its symbol on architectures that prefix with `__vdso_`.
    pub vdso_symbol: &'static str,
    /// Its symbol on architectures that prefix with `__kernel_`.
    pub kernel_symbol: &'static str,
    /// The input section holding the function, which the linker script
    /// places at the slot.
    pub section: &'static str,
    /// The most bytes the entry may take, its lead included.
    pub slot_size: u64,
    /// The architectures that have it, as `target_arch` spells them.
    pub arches: &'static [&'static str],
    /// The data layouts that have it; `None`: every one.
    pub abis: Option<&'static [&'static str]>,
}

impl Entry {
    /// Does an image for `arch` and `abi` export it?
    pub fn exists_in(&self, arch: Arch, abi: Abi) -> bool {
        self.arches.contains(&arch.name()) && self.abis.is_none_or(|l| l.contains(&abi.name()))
    }

    /// Its symbol on `arch`.
    pub fn symbol(&self, arch: Arch) -> &'static str {
        match arch.symbol_prefix() {
            "__kernel_" => self.kernel_symbol,
            _ => self.vdso_symbol,
        }
    }

    /// `entries` as an image for `arch` and `abi` exports them, each in its
    /// slot: slots follow each other from [`TEXT_START`], in table order.
    pub fn placed(
        entries: &'static [Entry],
        arch: Arch,
        abi: Abi,
    ) -> impl Iterator<Item = Placed> + Clone {
        let mut next = TEXT_START;
        entries
            .iter()
            .filter(move |e| e.exists_in(arch, abi))
            .map(move |entry| {
                let slot = Slot {
                    offset: next,
                    size: entry.slot_size,
                };
                next = slot.end();
                Placed {
                    entry,
                    symbol: entry.symbol(arch),
                    alias: arch.weak_aliases().then_some(entry.name),
                    version: arch.symbol_version(),
                    section: entry.section,
                    kind: entry.kind,
                    lead: match entry.kind {
                        EntryKind::Function => 0,
                        EntryKind::Trampoline => arch.trampoline_lead(),
                    },
                    slot,
                }
            })
    }
}

/// An entry's place in the text: it starts at `offset` from the image's
/// base, in every image of one architecture and layout, and may take up to
/// `size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub offset: u64,
    pub size: u64,
}

impl Slot {
    pub const fn end(&self) -> u64 {
        self.offset + self.size
    }
}

/// An entry as one image exports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    pub entry: &'static Entry,
    /// The exported symbol (`__vdso_clock_gettime`).
    pub symbol: &'static str,
    /// Its weak alias at the same address (`clock_gettime`), where the
    /// architecture's vDSO has them.
    pub alias: Option<&'static str>,
    /// The symbol version both are defined at.
    pub version: &'static str,
    /// The input section the linker script places at the slot.
    pub section: &'static str,
    pub kind: EntryKind,
    /// Bytes of the slot before the symbol (a trampoline's lead).
    pub lead: u64,
    pub slot: Slot,
}

impl Placed {
    /// Where the symbol is, from the image's base: the slot's start, past
    /// its lead. What a loader, and a kernel pointing a signal's return
    /// at the trampoline, adds to the base.
    pub const fn offset(&self) -> u64 {
        self.slot.offset + self.lead
    }

    /// The most bytes the symbol itself may take.
    pub const fn symbol_room(&self) -> u64 {
        self.slot.size - self.lead
    }
}

/// The address of a trampoline in a mapped image: code a return lands on
/// (a signal handler's, with `SA_RESTORER` pointing here), never called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trampoline(pub usize);

/// Expands the rows into [`Entry`] data: `pub const $name: &[Entry]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __entry_list {
    ({ $list:ident } $({
        name: $name:ident,
        kind: $kind:ident,
        args: ($($arg:ident: $ty:ty),* $(,)?),
        ret: $ret:ty,
        implementation: $implementation:path,
        slot: $slot:expr,
        arches: [$($arch:literal),* $(,)?],
        abis: $abis:tt $(,)?
    })*) => {
        /// The table's rows, in slot order.
        pub const $list: &[$crate::entries::Entry] = &[$(
            $crate::entries::Entry {
                name: stringify!($name),
                kind: $crate::__entry_list!(@kind $kind),
                vdso_symbol: concat!("__vdso_", stringify!($name)),
                kernel_symbol: concat!("__kernel_", stringify!($name)),
                section: concat!(".text.vdso.", stringify!($name)),
                slot_size: $slot,
                arches: &[$($arch),*],
                abis: $crate::__entry_list!(@abis $abis),
            }
        ),*];
        const _: () = {
            let mut i = 0;
            while i < $list.len() {
                assert!($list[i].slot_size % $crate::entries::SLOT_ALIGN == 0);
                i += 1;
            }
        };
    };
    (@abis all) => { None };
    (@abis [$($abi:literal),* $(,)?]) => { Some(&[$($abi),*]) };
    (@kind function) => { $crate::entries::EntryKind::Function };
    (@kind trampoline) => { $crate::entries::EntryKind::Trampoline };
}

/// Expands the rows into typed function pointers: `pub struct $name` with
/// one `Option<unsafe extern "C" fn(..)>` per function entry (a
/// [`Trampoline`] address per trampoline), and a resolver. Every row has
/// its field on every architecture, so that code calling an entry only
/// some architectures have compiles everywhere and finds `None` where the
/// image lacks it.
#[doc(hidden)]
#[macro_export]
macro_rules! __entry_pointers {
    ({ $pointers:ident } $({
        name: $name:ident,
        kind: $kind:ident,
        args: ($($arg:ident: $ty:ty),* $(,)?),
        ret: $ret:ty,
        implementation: $implementation:path,
        slot: $slot:expr,
        arches: [$($arch:literal),* $(,)?],
        abis: $abis:tt $(,)?
    })*) => {
        /// A mapped image's entry points, `None` where the image lacks one.
        #[derive(Clone, Copy, Debug)]
        pub struct $pointers {
            $(
                pub $name: Option<$crate::__entry_pointers!(@type $kind ($($ty),*) $ret)>,
            )*
        }

        impl $pointers {
            /// Each entry at the address `find` gives for its name (`None`:
            /// the image lacks it).
            ///
            /// # Safety
            /// Every address `find` returns must be the start of that
            /// entry's function (or trampoline), with the signature the
            /// table gives it, mapped for as long as the pointers are used.
            pub unsafe fn resolve(mut find: impl FnMut(&'static str) -> Option<usize>) -> Self {
                $pointers {
                    $(
                        $name: find(stringify!($name))
                            .map(|at| $crate::__entry_pointers!(@at $kind at ($($ty),*) $ret)),
                    )*
                }
            }
        }
    };
    (@type function ($($ty:ty),*) $ret:ty) => { unsafe extern "C" fn($($ty),*) -> $ret };
    (@type trampoline () $ret:ty) => { $crate::entries::Trampoline };
    (@at function $at:ident ($($ty:ty),*) $ret:ty) => {
        // SAFETY: `resolve`'s caller vouches for the address.
        unsafe { ::core::mem::transmute::<usize, unsafe extern "C" fn($($ty),*) -> $ret>($at) }
    };
    (@at trampoline $at:ident () $ret:ty) => { $crate::entries::Trampoline($at) };
}

/// Expands the rows into `pub struct $name<T>`, one `T` per entry this
/// architecture has (counters, say), named after the entries.
#[doc(hidden)]
#[macro_export]
macro_rules! __entry_per_entry {
    ({ $per:ident } $({
        name: $name:ident,
        kind: $kind:ident,
        args: ($($arg:ident: $ty:ty),* $(,)?),
        ret: $ret:ty,
        implementation: $implementation:path,
        slot: $slot:expr,
        arches: [$($arch:literal),* $(,)?],
        abis: $abis:tt $(,)?
    })*) => {
        /// One value per entry.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        #[repr(C)]
        pub struct $per<T> {
            $(
                #[cfg(any($(target_arch = $arch),*))]
                pub $name: T,
            )*
        }

        impl<T> $per<T> {
            /// The entries' names, in table order.
            pub const NAMES: &[&str] = &[$(
                #[cfg(any($(target_arch = $arch),*))]
                stringify!($name)
            ),*];

            /// A value for each entry, from its name.
            pub fn from_fn(mut f: impl FnMut(&'static str) -> T) -> Self {
                $per {
                    $(
                        #[cfg(any($(target_arch = $arch),*))]
                        $name: f(stringify!($name)),
                    )*
                }
            }

            /// Each entry's name and value, mutably, in table order.
            pub fn each_mut(&mut self) -> impl Iterator<Item = (&'static str, &mut T)> {
                [$(
                    #[cfg(any($(target_arch = $arch),*))]
                    (stringify!($name), &mut self.$name)
                ),*]
                .into_iter()
            }

            /// The value of the entry named `name`.
            pub fn get(&self, name: &str) -> Option<&T> {
                self.each().find(|(n, _)| *n == name).map(|(_, v)| v)
            }

            /// Each entry's name and value, in table order.
            pub fn each(&self) -> impl Iterator<Item = (&'static str, &T)> {
                [$(
                    #[cfg(any($(target_arch = $arch),*))]
                    (stringify!($name), &self.$name)
                ),*]
                .into_iter()
            }
        }
    };
}

/// Forwards to `$consumer` only the rows whose `abis` is `all`: the
/// entries a process finds whatever layout its image is for.
#[doc(hidden)]
#[macro_export]
macro_rules! __entry_in_every_layout {
    ({ $consumer:path { $($context:tt)* } } $($rows:tt)*) => {
        $crate::__entry_in_every_layout!(@keep { $consumer { $($context)* } } [] $($rows)*);
    };
    (@keep { $consumer:path { $($context:tt)* } } [$($kept:tt)*]) => {
        $consumer! { { $($context)* } $($kept)* }
    };
    (@keep $to:tt [$($kept:tt)*] {
        name: $name:ident,
        kind: $kind:ident,
        args: $args:tt,
        ret: $ret:ty,
        implementation: $implementation:path,
        slot: $slot:expr,
        arches: $arches:tt,
        abis: all $(,)?
    } $($rest:tt)*) => {
        $crate::__entry_in_every_layout!(@keep $to [$($kept)* {
            name: $name,
            kind: $kind,
            args: $args,
            ret: $ret,
            implementation: $implementation,
            slot: $slot,
            arches: $arches,
            abis: all,
        }] $($rest)*);
    };
    (@keep $to:tt [$($kept:tt)*] { $($row:tt)* } $($rest:tt)*) => {
        $crate::__entry_in_every_layout!(@keep $to [$($kept)*] $($rest)*);
    };
}

crate::entry_table!(crate::__entry_list { ENTRIES });
crate::entry_table!(crate::__entry_pointers { Pointers });
crate::entry_table!(crate::__entry_per_entry {
    PerEntryOfAnyLayout
});
crate::entry_table!(crate::__entry_in_every_layout { crate::__entry_per_entry { PerEntry } });
