//! `cargo xtask <command>`; see `cargo xtask --help`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xshell::Shell;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, verify and test the vDSO images")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile, link and verify both images; write them and layout.json to target/vdso/.
    BuildVdso,
    /// Build the images, then run every test in the workspace against them.
    Test,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = Shell::new()
        .map_err(anyhow::Error::from)
        .and_then(|sh| match cli.command {
            Command::BuildVdso => xtask::build_vdso::run(&sh),
            Command::Test => xtask::test::run(&sh),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
