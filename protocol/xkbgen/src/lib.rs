//! # tillpass-xkbgen
//!
//! Generates tillpass's keyboard-layout tables from xkeyboard-config's symbol files
//! (Debian's `xkb-data`, `/usr/share/X11/xkb/symbols`) and X11's keysym names (Debian's
//! `x11proto-dev`, `/usr/include/X11/keysymdef.h`). The output is committed; the test
//! `tests/drift.rs` re-runs the generator and fails when the committed files differ.
//!
//! ## Map
//! - [`keysym`]: keysym names to characters and dead keys.
//! - [`symbols`]: the reader of `symbols/` files (sections, includes, keys, key types)
//!   and what a key types with Shift and Caps Lock.
//! - [`layouts`]: the layouts covered, most likely first, with their class.
//! - [`emit`]: the three outputs — `protocol/src/token/keyboards.rs` (what a host with
//!   each layout types for the US key codes of a token text), `protocol/tests/vectors/
//!   layouts.json` (the same, as a corpus for tests and other implementers) and
//!   `hardware/src/keymap/xkb.rs` (full keymaps for keyboard-wedge scanners).
//!
//! Run `cargo run -p tillpass-xkbgen` from the workspace root to rewrite the outputs.

pub mod emit;
pub mod keysym;
pub mod layouts;
pub mod symbols;

use std::path::{Path, PathBuf};

/// Where the xkb symbol files are on Debian.
pub const SYMBOLS_DIR: &str = "/usr/share/X11/xkb/symbols";
/// Where X11's keysym names are on Debian.
pub const KEYSYMDEF: &str = "/usr/include/X11/keysymdef.h";

/// A generated file: its path from the workspace root and its contents.
#[derive(Debug)]
pub struct Output {
    /// Path relative to the workspace root.
    pub path: &'static str,
    /// The full contents.
    pub contents: String,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// An input file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A layout could not be resolved.
    #[error("layout {layout}: {source}")]
    Layout {
        /// The layout's name.
        layout: &'static str,
        /// The error.
        source: symbols::SymbolsError,
    },
}

/// Generates every output from the symbol files under `symbols_dir` and the keysym names
/// in `keysymdef`.
pub fn generate(symbols_dir: &Path, keysymdef: &Path) -> Result<Vec<Output>, GenError> {
    let header = std::fs::read_to_string(keysymdef).map_err(|source| GenError::Read {
        path: keysymdef.to_path_buf(),
        source,
    })?;
    let keysyms = keysym::Keysyms::parse(&header);
    let mut reader = symbols::Symbols::new(symbols_dir, &keysyms);
    let mut resolved = Vec::new();
    for &(name, class) in layouts::LAYOUTS {
        let layout = reader.layout(name).map_err(|source| GenError::Layout {
            layout: name,
            source,
        })?;
        resolved.push((name, class, layout));
    }
    Ok(vec![
        Output {
            path: "protocol/src/token/keyboards.rs",
            contents: emit::protocol_table(&resolved),
        },
        Output {
            path: "protocol/tests/vectors/layouts.json",
            contents: emit::corpus(&resolved),
        },
        Output {
            path: "hardware/src/keymap/xkb.rs",
            contents: emit::hardware_table(&resolved),
        },
    ])
}

/// The workspace root, from this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
