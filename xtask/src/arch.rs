//! xtask's side of the architecture boundary: for each architecture, the
//! tools that build, link, inspect and run its images and the linker
//! script's facts, and whether this machine has them. `common::arch` is the
//! images' side, `kernel_side::arch` the kernel side's; the verifier's
//! machine-code rules are `verify::x86_64` and `verify::aarch64`.
//!
//! x86_64 is this machine's own architecture: rustup's toolchain and the
//! host's binutils. aarch64 is cross-built with Debian's `rustc-web`
//! (rustup's toolchain here has no aarch64 standard library) in target
//! directories of its own, linked with `binutils-aarch64-linux-gnu`, and
//! its tests run under `qemu-aarch64`.

use std::fmt;
use std::path::{Path, PathBuf};

use common::abi::Arch;

/// The environment variable that makes a missing toolchain an error
/// rather than a one-line notice: `.ci/run` sets it, so CI builds and
/// tests every architecture or fails.
pub const REQUIRE_ALL: &str = "VDSO_REQUIRE_ALL_ARCHES";

/// The compiler the aarch64 builds use, and where Debian installs it.
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_RUSTDOC: &str = "/usr/bin/rustdoc";

/// How to build, link and run one architecture's code from this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tools {
    pub arch: Arch,
}

impl Tools {
    pub const fn of(arch: Arch) -> Tools {
        Tools { arch }
    }

    /// The Rust target to pass as `--target`, or `None` to build for this
    /// machine with the toolchain cargo runs with.
    pub const fn rust_target(self) -> Option<&'static str> {
        match self.arch {
            Arch::X86_64 => None,
            Arch::Aarch64 => Some("aarch64-unknown-linux-gnu"),
        }
    }

    /// The environment of every cargo command building for this
    /// architecture: the compiler (and for tests the linker and the
    /// runner) where they are not the host's.
    pub fn cargo_env(self) -> Vec<(String, String)> {
        match self.arch {
            Arch::X86_64 => Vec::new(),
            Arch::Aarch64 => vec![
                ("RUSTC".into(), DEBIAN_RUSTC.into()),
                ("RUSTDOC".into(), DEBIAN_RUSTDOC.into()),
                (
                    "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER".into(),
                    "aarch64-linux-gnu-gcc".into(),
                ),
                // No `-L`: with the cross sysroot's loader, qemu 7.2 runs
                // programs against the multiarch libc:arm64 and
                // `pthread_create` spins forever. The multiarch loader
                // `libstd-rust-web-dev:arm64` pulls in matches it.
                (
                    "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER".into(),
                    self.emulator().into(),
                ),
            ],
        }
    }

    /// Where cargo's output for `target_dir` lands: below the target's
    /// name when cross-building.
    pub fn output_dir(self, target_dir: &Path, profile: &str) -> PathBuf {
        match self.rust_target() {
            Some(triple) => target_dir.join(triple).join(profile),
            None => target_dir.join(profile),
        }
    }

    /// Its qemu-user emulator: aarch64's tests run under it, and the bench
    /// report counts every architecture's instructions under it
    /// (`bench::executed`).
    pub const fn emulator(self) -> &'static str {
        match self.arch {
            Arch::X86_64 => "qemu-x86_64",
            Arch::Aarch64 => "qemu-aarch64",
        }
    }

    /// The emulated CPU, where the default lacks what the images use:
    /// x86_64's has no RDTSCP.
    pub fn emulated_cpu(self) -> Vec<&'static str> {
        match self.arch {
            Arch::X86_64 => vec!["-cpu", "max"],
            Arch::Aarch64 => Vec::new(),
        }
    }

    /// A GNU binutils program for this architecture (`ld.bfd`, `objcopy`,
    /// `readelf`, `objdump`).
    pub fn binutil(self, tool: &str) -> String {
        match self.arch {
            Arch::X86_64 => tool.to_string(),
            Arch::Aarch64 => format!("aarch64-linux-gnu-{tool}"),
        }
    }

    /// The linker script's `OUTPUT_FORMAT` and `OUTPUT_ARCH`.
    pub const fn output_format(self) -> (&'static str, &'static str) {
        match self.arch {
            Arch::X86_64 => ("elf64-x86-64", "i386:x86-64"),
            Arch::Aarch64 => ("elf64-littleaarch64", "aarch64"),
        }
    }

    /// What fills the gaps between slots: an instruction that traps
    /// wherever execution lands in it (`int3` bytes; `udf #0`, the zero
    /// word, whatever ld's byte order for the fill).
    pub const fn trap_fill(self) -> &'static str {
        match self.arch {
            Arch::X86_64 => "0xcccccccc",
            Arch::Aarch64 => "0x00000000",
        }
    }

    /// What the linker script adds to `.rodata`: its type, and input
    /// sections it folds in. arm64's ld.bfd makes a GOT header for every
    /// shared object (`_DYNAMIC` in `.got`, three reserved words in
    /// `.got.plt`), which nothing here reads and which ld refuses to
    /// discard; like Linux's arm64 `vdso.lds.S`, the script folds it into
    /// the read-only data, marked `READONLY` since the inputs say writable.
    /// A real GOT entry there would still need a dynamic relocation, which
    /// the verifier refuses.
    pub const fn rodata_extra(self) -> (&'static str, &'static str) {
        match self.arch {
            Arch::X86_64 => ("", ""),
            Arch::Aarch64 => (" (READONLY)", " *(.got) *(.got.plt)"),
        }
    }

    /// How `layout.json` names the counter read of this architecture's
    /// images (x86_64's is chosen by `--counter`).
    pub const fn counter_name(self) -> Option<&'static str> {
        match self.arch {
            Arch::X86_64 => None,
            Arch::Aarch64 => Some("isb-cntvct_el0"),
        }
    }

    /// The Debian packages that provide this architecture's tools, each
    /// with whether this machine has it. x86_64's are the project's base
    /// requirements (the README's), not checked here.
    pub fn packages(self) -> Vec<(&'static str, bool)> {
        match self.arch {
            Arch::X86_64 => Vec::new(),
            Arch::Aarch64 => vec![
                ("rustc-web", Path::new(DEBIAN_RUSTC).exists()),
                ("libstd-rust-web-dev:arm64", has_aarch64_std()),
                (
                    "binutils-aarch64-linux-gnu",
                    on_path("aarch64-linux-gnu-ld.bfd"),
                ),
                ("gcc-aarch64-linux-gnu", on_path("aarch64-linux-gnu-gcc")),
                (
                    "libc6-dev-arm64-cross",
                    Path::new("/usr/aarch64-linux-gnu/include/stdio.h").exists(),
                ),
                ("qemu-user", on_path("qemu-aarch64")),
            ],
        }
    }

    /// This architecture's tools, or which packages this machine lacks.
    pub fn check(self) -> Result<Tools, Missing> {
        let packages: Vec<&'static str> = self
            .packages()
            .into_iter()
            .filter(|(_, present)| !present)
            .map(|(name, _)| name)
            .collect();
        if packages.is_empty() {
            Ok(self)
        } else {
            Err(Missing {
                arch: self.arch,
                packages,
            })
        }
    }
}

/// An architecture whose tools this machine lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub arch: Arch,
    pub packages: Vec<&'static str>,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} images not built or tested: this machine lacks the Debian packages {} (`.ci/run` installs them)",
            self.arch,
            self.packages.join(", ")
        )
    }
}

/// The architectures to build: `requested` if given (each must have its
/// tools), else every architecture whose tools are here. A missing
/// toolchain is said in one line on stderr, or is an error when
/// [`REQUIRE_ALL`] is set.
pub fn select(requested: &[Arch]) -> anyhow::Result<Vec<Tools>> {
    let explicit = !requested.is_empty();
    let wanted: Vec<Arch> = if explicit {
        requested.to_vec()
    } else {
        Arch::ALL.to_vec()
    };
    let required = explicit || std::env::var_os(REQUIRE_ALL).is_some_and(|v| !v.is_empty());
    let mut tools = Vec::new();
    for arch in wanted {
        match Tools::of(arch).check() {
            Ok(t) => tools.push(t),
            Err(missing) if required => anyhow::bail!("{missing}"),
            Err(missing) => eprintln!("note: {missing}"),
        }
    }
    Ok(tools)
}

/// True if Debian's compiler has the aarch64 standard library.
fn has_aarch64_std() -> bool {
    let Ok(out) = std::process::Command::new(DEBIAN_RUSTC)
        .args([
            "--print",
            "target-libdir",
            "--target",
            "aarch64-unknown-linux-gnu",
        ])
        .output()
    else {
        return false;
    };
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    out.status.success()
        && std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libcore-") && name.ends_with(".rlib")
            })
        })
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
