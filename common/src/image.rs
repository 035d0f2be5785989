//! What turns a crate into an image: [`vdso_image!`] defines the exported
//! entry points of the [table](crate::entry_table) (each in the section the
//! linker script pins to its slot, under the architecture's symbol names),
//! the variant note and the panic handler.

/// Defines a complete image in the invoking crate. `vdso/` and `vdso-timens/`
/// each consist of one invocation, and so does each design variant under
/// `variants/`. `variant` names the [`Variant`](crate::note::Variant) the
/// note declares; `design` the [`Design`](crate::design::Design) the
/// entries are compiled for.
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
        $crate::vdso_image!(variant = $variant, design = $design, table = $crate::entry_table);
    };
    (variant = $variant:ident, design = $design:ty, table = $table:path $(,)?) => {
        const VARIANT: $crate::note::Variant = $crate::note::Variant::$variant;
        type Design = $design;

        $table!($crate::__entry_definitions {});

        #[unsafe(link_section = ".note.vdso.variant")]
        #[used]
        static VARIANT_NOTE: [u8; $crate::note::NOTE_SIZE] = $crate::note::note(VARIANT);

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

/// Expands the table's rows into the image's exported functions, one module
/// per entry (named after it) holding `entry`, exported under the
/// architecture's symbol for it and placed in the entry's section.
#[doc(hidden)]
#[macro_export]
macro_rules! __entry_definitions {
    ({} $({
        name: $name:ident,
        args: ($($arg:ident: $ty:ty),* $(,)?),
        ret: $ret:ty,
        implementation: $implementation:path,
        slot: $slot:expr,
        arches: [$($arch:literal),* $(,)?],
        abis: $abis:tt $(,)?
    })*) => {
        $(
            #[cfg(any($(target_arch = $arch),*))]
            pub mod $name {
                use $implementation as implementation;

                /// # Safety
                /// As for the system call of the same name.
                #[unsafe(export_name = $crate::__arch_entry_symbol!($name))]
                #[unsafe(link_section = concat!(".text.vdso.", stringify!($name)))]
                pub unsafe extern "C" fn entry($($arg: $ty),*) -> $ret {
                    // SAFETY: the caller's contract is the system call's.
                    unsafe { implementation::<super::Design>($($arg),*) }
                }

                $crate::__arch_entry_alias!($name);
            }
        )*
    };
}
