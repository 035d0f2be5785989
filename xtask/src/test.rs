//! `cargo xtask test`: build the images, then run every test of the
//! workspace against them.

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::build_vdso::{self, Dirs};

pub fn run(sh: &Shell) -> Result<()> {
    build_vdso::run(sh)?;
    let dirs = Dirs::standard();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    sh.change_dir(crate::project_root());
    cmd!(
        sh,
        "{cargo} test --workspace --exclude vdso --exclude vdso-timens"
    )
    .env("VDSO_DIR", &dirs.out)
    .run()
    .context("the workspace tests failed")?;
    Ok(())
}
