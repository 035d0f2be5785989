//! What turns a crate into an image: [`vdso_image!`] defines the exported
//! entry points of the [table](crate::entry_table) (each in the section the
//! linker script pins to its slot, under the architecture's symbol names),
//! the variant note and the panic handler, for one [`Image`]: a design, a
//! layout, and where that layout puts the pages this image reads.

use crate::design::Design;
use crate::layout::Layout;
use crate::pages::Pages;

/// What one image is compiled for. Every entry's implementation is generic
/// over it (`implementation::<I: Image>(args)`).
pub trait Image {
    type Design: Design;
    type Layout: Layout;
    type Pages: Pages<Page = <Self::Layout as Layout>::Page>;
}

/// Defines a complete image in the invoking crate. `vdso/` and `vdso-timens/`
/// each consist of one invocation, and so does each design variant under
/// `variants/`. `variant` names the [`Variant`](crate::note::Variant) the
/// note declares; `design` the [`Design`](crate::design::Design) the
/// entries are compiled for. The layout is the one xtask builds for
/// ([`crate::layout::Configured`]).
///
/// xtask's verifier refuses an image whose exports, sections or note do not
/// match the table and the variant.
///
/// `table` names another table of entries (a macro with
/// [`entry_table!`](crate::entry_table)'s interface); a test uses it to
/// prove that a table with one more row gives an image with one more
/// entry.
#[macro_export]
macro_rules! vdso_image {
    (variant = $variant:ident, design = $design:ty $(,)?) => {
        $crate::vdso_image!(
            variant = $variant,
            design = $design,
            table = $crate::entry_table
        );
    };
    (variant = $variant:ident, design = $design:ty, table = $table:path $(,)?) => {
        const VARIANT: $crate::note::Variant = $crate::note::Variant::$variant;

        /// What this image is compiled for.
        pub struct ThisImage;

        impl $crate::image::Image for ThisImage {
            type Design = $design;
            type Layout = $crate::layout::Configured;
            type Pages = $crate::pages::Mapped<
                $crate::layout::Configured,
                { <$design as $crate::design::Design>::NAMESPACE_IMAGE },
            >;
        }

        $table!($crate::__entry_definitions {});

        #[unsafe(link_section = ".note.vdso.variant")]
        #[used]
        static VARIANT_NOTE: [u8; $crate::note::NOTE_SIZE] = $crate::note::note(VARIANT);

        #[unsafe(link_section = ".note.vdso.variant")]
        #[used]
        static ABI_NOTE: [u8; $crate::note::NOTE_SIZE] = $crate::note::abi_note(
            <$crate::layout::Configured as $crate::layout::Layout>::INFO.abi,
        );

        // Nothing in the image can panic (the verifier refuses an image that
        // links any panic machinery); the handler exists because a no_std
        // binary must name one.
        #[cfg(not(test))]
        #[panic_handler]
        fn panic(_: &core::panic::PanicInfo) -> ! {
            $crate::__arch_trap!()
        }
    };
}

/// Expands the table's rows into the image's exported code: for a
/// function, one module per entry (named after it) holding `entry`,
/// exported under the architecture's symbol for it and placed in the
/// entry's section (`__arch_entry!`: on aarch64, a landing pad falling
/// through into the code); for a trampoline, the architecture's code of
/// that name.
#[doc(hidden)]
#[macro_export]
macro_rules! __entry_definitions {
    ({} $({
        name: $name:ident,
        kind: $kind:ident,
        args: ($($arg:ident: $ty:ty),* $(,)?),
        ret: $ret:ty,
        // Tokens, not a path: a trampoline's is matched by name below.
        implementation: $($implementation:tt)::+,
        slot: $slot:expr,
        arches: [$($arch:literal),* $(,)?],
        abis: $abis:tt $(,)?
    })*) => {
        $(
            $crate::__entry_definitions!(@for $abis {
                #[cfg(any($(target_arch = $arch),*))]
                $crate::__entry_definitions!(
                    @define $kind $name ($($arg: $ty),*) $ret, $($implementation)::+
                );
            });
        )*
    };
    (@define function $name:ident ($($arg:ident: $ty:ty),*) $ret:ty, $implementation:path) => {
        pub mod $name {
            use $implementation as implementation;

            $crate::__arch_entry!($name, ($($arg: $ty),*) -> $ret, {
                // SAFETY: the caller's contract is the system call's.
                unsafe { implementation::<super::ThisImage>($($arg),*) }
            });

            $crate::__arch_entry_alias!($name);
        }
    };
    (@define trampoline $name:ident () $ret:ty, $implementation:tt) => {
        $crate::__arch_trampoline!(
            $implementation,
            $crate::__arch_entry_symbol!($name),
            concat!(".text.vdso.", stringify!($name))
        );
    };
    // Only the layouts a row names have the entry: xtask builds each layout
    // with `--cfg vdso_abi="<name>"`.
    (@for all { $($item:tt)* }) => { $($item)* };
    (@for [$($abi:literal),* $(,)?] { $($item:tt)* }) => {
        #[cfg(any($(vdso_abi = $abi),*))]
        $($item)*
    };
}
