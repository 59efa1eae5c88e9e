//! Finding the workspace's binaries.
//!
//! `cargo test --workspace` builds every binary of the workspace before it runs the tests,
//! so they sit next to the test executable's `deps/` folder. When only this crate's tests
//! are run (`cargo test -p tillpass-tests`), build the binaries first
//! (`cargo build --workspace`), or the tests would run stale or missing ones.

use std::path::{Path, PathBuf};

/// A binary of the workspace, with the package it comes from.
#[derive(Debug, Clone, Copy)]
pub struct Bin {
    /// The binary's name.
    pub name: &'static str,
    /// The package that builds it.
    pub package: &'static str,
}

/// The agent.
pub const TILLPASS: Bin = Bin {
    name: "tillpass",
    package: "tillpass-agent",
};
/// The reference central service.
pub const CENTRAL: Bin = Bin {
    name: "tillpass-central",
    package: "tillpass-central",
};
/// The installer.
pub const INSTALL: Bin = Bin {
    name: "tillpass-install",
    package: "tillpass-installer",
};

/// The folder holding the binaries of the running test's profile (`target/debug`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/debug/deps/<test> → target/debug
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The path of `bin`. It must have been built by this test run: `cargo test --workspace`
/// builds every binary first. (Building here instead would wait forever on the lock that the
/// running `cargo test` holds on the target folder.)
pub fn path(bin: Bin) -> Result<PathBuf, String> {
    let path = profile_dir().join(bin.name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is not built at {}: run the suite with `cargo test --workspace`, or \
             `cargo build -p {}` first",
            bin.name,
            path.display(),
            bin.package
        ))
    }
}
