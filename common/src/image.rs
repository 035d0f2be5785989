//! What turns a crate into an image: [`vdso_image!`] defines the exported
//! entry points (each in the section the linker script pins to its slot),
//! their weak aliases, the variant note and the panic handler.

/// Defines a complete image in the invoking crate. `vdso/` and `vdso-timens/`
/// each consist of one invocation, and so does each design variant under
/// `variants/`. `$variant` names both the [`Variant`](crate::note::Variant)
/// the note declares and the [`design`](crate::design) type the entries
/// are compiled for.
///
/// The section names and symbols here must match [`ENTRIES`](crate::entries::ENTRIES);
/// xtask's verifier refuses an image where they do not.
#[macro_export]
macro_rules! vdso_image {
    (variant = $variant:ident) => {
        const VARIANT: $crate::note::Variant = $crate::note::Variant::$variant;
        type Design = $crate::design::$variant;

        /// # Safety
        /// As for the `clock_gettime` system call.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.vdso.clock_gettime")]
        pub unsafe extern "C" fn __vdso_clock_gettime(
            clock: i32,
            ts: *mut $crate::clock::Timespec,
        ) -> i32 {
            // SAFETY: the caller's contract is the system call's.
            unsafe { $crate::entry::clock_gettime::<Design>(clock, ts) }
        }

        /// # Safety
        /// As for the `gettimeofday` system call.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.vdso.gettimeofday")]
        pub unsafe extern "C" fn __vdso_gettimeofday(
            tv: *mut $crate::clock::Timeval,
            tz: *mut $crate::clock::Timezone,
        ) -> i32 {
            // SAFETY: the caller's contract is the system call's.
            unsafe { $crate::entry::gettimeofday::<Design>(tv, tz) }
        }

        /// # Safety
        /// As for the `time` system call.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.vdso.time")]
        pub unsafe extern "C" fn __vdso_time(t: *mut i64) -> i64 {
            // SAFETY: the caller's contract is the system call's.
            unsafe { $crate::entry::time::<Design>(t) }
        }

        /// # Safety
        /// As for the `clock_getres` system call.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.vdso.clock_getres")]
        pub unsafe extern "C" fn __vdso_clock_getres(
            clock: i32,
            res: *mut $crate::clock::Timespec,
        ) -> i32 {
            // SAFETY: the caller's contract is the system call's.
            unsafe { $crate::entry::clock_getres::<Design>(clock, res) }
        }

        /// # Safety
        /// As for the `getcpu` system call.
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text.vdso.getcpu")]
        pub unsafe extern "C" fn __vdso_getcpu(
            cpu: *mut u32,
            node: *mut u32,
            cache: *mut core::ffi::c_void,
        ) -> i64 {
            // SAFETY: the caller's contract is the system call's.
            unsafe { $crate::entry::getcpu::<Design>(cpu, node, cache) }
        }

        // The unprefixed names libcs also look up, as weak aliases like Linux's.
        core::arch::global_asm!(
            ".weak clock_gettime",
            ".set clock_gettime, __vdso_clock_gettime",
            ".weak gettimeofday",
            ".set gettimeofday, __vdso_gettimeofday",
            ".weak time",
            ".set time, __vdso_time",
            ".weak clock_getres",
            ".set clock_getres, __vdso_clock_getres",
            ".weak getcpu",
            ".set getcpu, __vdso_getcpu",
        );

        #[unsafe(link_section = ".note.vdso.variant")]
        #[used]
        static VARIANT_NOTE: [u8; $crate::note::NOTE_SIZE] = $crate::note::note(VARIANT);

        // Nothing in the image can panic (the verifier refuses an image that
        // links any panic machinery); the handler exists because a no_std
        // binary must name one.
        #[cfg(not(test))]
        #[panic_handler]
        fn panic(_: &core::panic::PanicInfo) -> ! {
            // SAFETY: `ud2` raises #UD; nothing after it runs.
            unsafe { core::arch::asm!("ud2", options(noreturn, nomem, nostack)) }
        }
    };
}
