//! `cargo xtask <command>`; see `cargo xtask --help`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::abi::Arch;
use xshell::Shell;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, verify and test the vDSO images")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile, link and verify each architecture's pair for each of its
    /// layouts; write each with its layout.json to target/vdso/<layout>/
    /// (aarch64's below target/vdso/aarch64/), and the x86_64 linux-6.6
    /// pair also to target/vdso/.
    BuildVdso {
        /// Build only this architecture (x86_64, aarch64); repeatable. By
        /// default every architecture whose tools are installed, saying
        /// which packages any other lacks.
        #[arg(long = "arch", value_parser = parse_arch)]
        arches: Vec<Arch>,
        /// Also build the design variants BENCHMARKS.md compares into
        /// target/vdso/linux-6.6/variants/.
        #[arg(long)]
        variants: bool,
        /// How the images read the TSC.
        #[arg(long, value_enum, default_value_t)]
        counter: xtask::build_vdso::Counter,
    },
    /// Build the images and the design variants, run every test in the
    /// workspace against them, then model-check the seqlock with loom.
    Test,
    /// Build the images and the variants, run the benchmarks and count
    /// instructions; print the table and write it into BENCHMARKS.md.
    Bench {
        /// About one minute instead of about six: shorter measurements.
        #[arg(long)]
        quick: bool,
    },
}

fn parse_arch(name: &str) -> Result<Arch, String> {
    Arch::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
        format!(
            "unknown architecture {name:?} (known: {})",
            known.join(", ")
        )
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = Shell::new()
        .map_err(anyhow::Error::from)
        .and_then(|sh| match cli.command {
            Command::BuildVdso {
                arches,
                variants,
                counter,
            } => xtask::build_vdso::run(&sh, counter, &arches).and_then(|_| {
                if variants {
                    xtask::variants::run(&sh)?;
                }
                Ok(())
            }),
            Command::Test => xtask::test::run(&sh),
            Command::Bench { quick } => xtask::bench::run(&sh, quick),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
