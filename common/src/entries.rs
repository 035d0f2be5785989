//! The one list of the images' entry points. xtask generates the linker and
//! version scripts from it and verifies the images against it; the harness
//! resolves symbols from it. The images define the functions (see
//! [`vdso_image!`](crate::vdso_image)), each in the section named here.

/// The symbol version every entry is defined at, as in Linux's x86_64 vDSO.
pub const VERSION: &str = "LINUX_2.6";
/// The image's `DT_SONAME`.
pub const SONAME: &str = "linux-vdso.so.1";

/// The largest an image file may be: two pages, like Linux's x86_64 vDSO.
/// The verifier enforces it; loaders reserve this much room for an image.
pub const MAX_IMAGE_SIZE: usize = 8192;

/// Where the first slot starts, from the image's base. Everything before it
/// (ELF header, dynamic symbols, notes, `.dynamic`) is the same size in every
/// image, and the linker script fails the link if it grows past this.
pub const TEXT_START: u64 = 0x800;

/// An entry's place in the text: it starts at `offset` from the image's
/// base, in every image, and may take up to `size` bytes.
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The exported symbol, `__vdso_<name>`.
    pub symbol: &'static str,
    /// Its weak alias, `<name>`, at the same address.
    pub alias: &'static str,
    /// The input section holding the function, placed at the slot.
    pub section: &'static str,
    pub slot: Slot,
}

/// The slots are sized from the timens image's entries (the larger variant)
/// with room to spare; xtask names the entry and both sizes if one outgrows
/// its slot.
pub const ENTRIES: [Entry; 5] = [
    Entry {
        symbol: "__vdso_clock_gettime",
        alias: "clock_gettime",
        section: ".text.vdso.clock_gettime",
        slot: Slot {
            offset: TEXT_START,
            size: 0x400,
        },
    },
    Entry {
        symbol: "__vdso_gettimeofday",
        alias: "gettimeofday",
        section: ".text.vdso.gettimeofday",
        slot: Slot {
            offset: TEXT_START + 0x400,
            size: 0x180,
        },
    },
    Entry {
        symbol: "__vdso_time",
        alias: "time",
        section: ".text.vdso.time",
        slot: Slot {
            offset: TEXT_START + 0x580,
            size: 0x40,
        },
    },
    Entry {
        symbol: "__vdso_clock_getres",
        alias: "clock_getres",
        section: ".text.vdso.clock_getres",
        slot: Slot {
            offset: TEXT_START + 0x5c0,
            size: 0x80,
        },
    },
    Entry {
        symbol: "__vdso_getcpu",
        alias: "getcpu",
        section: ".text.vdso.getcpu",
        slot: Slot {
            offset: TEXT_START + 0x640,
            size: 0x40,
        },
    },
];

/// The end of the slots: other code the entries call follows.
pub const SLOTS_END: u64 = ENTRIES[ENTRIES.len() - 1].slot.end();

// Slots follow each other without gaps or overlaps, 16-byte aligned (the
// functions' own alignment), in the order the linker script lays them out.
const _: () = {
    assert!(ENTRIES[0].slot.offset == TEXT_START);
    let mut i = 1;
    while i < ENTRIES.len() {
        assert!(ENTRIES[i].slot.offset == ENTRIES[i - 1].slot.end());
        assert!(ENTRIES[i].slot.offset.is_multiple_of(16));
        i += 1;
    }
};

/// Symbols the linker script defines for the data pages (see `arch`).
pub const VVAR_SYMBOL: &str = "__vdso_vvar_page";
pub const TIMENS_SYMBOL: &str = "__vdso_timens_page";
