//! The committed keyboard tables are what the generator makes from this machine's xkb
//! data. Without the data (Debian's `xkb-data` and `x11proto-dev`) the test says loudly
//! that it skipped; with `TILLPASS_REQUIRE_XKB=1` (as CI sets it) absence is a failure.

use std::path::Path;

#[test]
fn committed_tables_match_the_generator() {
    let symbols = Path::new(tillpass_xkbgen::SYMBOLS_DIR);
    let keysymdef = Path::new(tillpass_xkbgen::KEYSYMDEF);
    if !symbols.is_dir() || !keysymdef.is_file() {
        let required = std::env::var_os("TILLPASS_REQUIRE_XKB").is_some_and(|v| v == "1");
        assert!(
            !required,
            "TILLPASS_REQUIRE_XKB=1 but {} or {} is missing (apt-get install xkb-data x11proto-dev)",
            symbols.display(),
            keysymdef.display()
        );
        eprintln!(
            "SKIPPED committed_tables_match_the_generator: no xkb data at {} / {} \
             (apt-get install xkb-data x11proto-dev; CI sets TILLPASS_REQUIRE_XKB=1)",
            symbols.display(),
            keysymdef.display()
        );
        return;
    }
    let root = tillpass_xkbgen::workspace_root();
    let outputs = tillpass_xkbgen::generate(symbols, keysymdef).unwrap();
    assert_eq!(outputs.len(), 3);
    for output in outputs {
        let path = root.join(output.path);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == output.contents,
            "{} differs from the generator's output; if the xkb data changed on purpose, run \
             `cargo run -p tillpass-xkbgen` and review the diff",
            path.display()
        );
    }
}

#[test]
fn the_generated_data_stays_compact() {
    let root = tillpass_xkbgen::workspace_root();
    let total: u64 = [
        "protocol/src/token/keyboards.rs",
        "protocol/tests/vectors/layouts.json",
        "hardware/src/keymap/xkb.rs",
    ]
    .iter()
    .map(|p| {
        std::fs::metadata(root.join(p))
            .map(|m| m.len())
            .unwrap_or(0)
    })
    .sum();
    assert!(
        total > 0 && total < 300_000,
        "{total} bytes of generated tables"
    );
}
