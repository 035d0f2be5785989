//! Linking an archive into an image with the shared scripts, and stripping
//! the result.

use std::path::Path;

use anyhow::{Context, Result};
use common::entries::{Placed, SONAME};
use common::layout::LayoutInfo;
use xshell::{Shell, cmd};

use crate::arch::Tools;
use crate::scripts;

/// Links `archive` into `out` (unstripped), writing the generated scripts
/// beside it. GNU ld is named explicitly (the layout's architecture's):
/// the scripts use its syntax.
pub fn link(
    sh: &Shell,
    archive: &Path,
    entries: &[Placed],
    layout: &LayoutInfo,
    out: &Path,
) -> Result<()> {
    link_with_script(
        sh,
        Tools::of(layout.arch),
        archive,
        entries,
        &scripts::linker_script(entries, layout),
        &[],
        out,
    )
}

/// [`link`] with `script` as the linker script and `extra` ld arguments:
/// the tests link deliberately broken images this way.
pub fn link_with_script(
    sh: &Shell,
    tools: Tools,
    archive: &Path,
    entries: &[Placed],
    script: &str,
    extra: &[&str],
    out: &Path,
) -> Result<()> {
    let lds = out.with_extension("lds");
    let ver = out.with_extension("ver");
    sh.write_file(&lds, script)?;
    sh.write_file(&ver, scripts::version_script(entries))?;
    let undefined = scripts::undefined_args(entries);
    let ld = tools.binutil("ld.bfd");
    cmd!(
        sh,
        "{ld} -shared -nostdlib --no-undefined -Bsymbolic --gc-sections
            -T {lds} --version-script {ver} -soname {SONAME}
            --hash-style=both --build-id=sha1 --eh-frame-hdr
            -z max-page-size=4096 -z common-page-size=4096 -z norelro
            {extra...} {undefined...} -o {out} {archive}"
    )
    .quiet()
    .run()
    .with_context(|| format!("linking {}", out.display()))
}

/// Removes the static symbol table: an image exports only its dynamic symbols.
pub fn strip(sh: &Shell, tools: Tools, input: &Path, out: &Path) -> Result<()> {
    let objcopy = tools.binutil("objcopy");
    cmd!(sh, "{objcopy} --strip-all {input} {out}")
        .quiet()
        .run()
        .with_context(|| format!("stripping {}", input.display()))
}
