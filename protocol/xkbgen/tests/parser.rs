//! The symbols reader on a small made-up layout: includes, merge modes, `any`, explicit
//! types and what Caps Lock does with them.

// A test binary: helpers outside `#[test]` functions may unwrap too; a failing unwrap is a
// failing test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use tillpass_xkbgen::keysym::{Keysyms, Sym};
use tillpass_xkbgen::symbols::Symbols;

const KEYSYMDEF: &str = r#"
#define XK_exclam                        0x0021  /* U+0021 EXCLAMATION MARK */
#define XK_quotedbl                      0x0022  /* U+0022 QUOTATION MARK */
#define XK_at                            0x0040  /* U+0040 COMMERCIAL AT */
#define XK_bracketleft                   0x005b  /* U+005B LEFT SQUARE BRACKET */
#define XK_A                             0x0041  /* U+0041 LATIN CAPITAL LETTER A */
#define XK_T                             0x0054  /* U+0054 LATIN CAPITAL LETTER T */
#define XK_X                             0x0058  /* U+0058 LATIN CAPITAL LETTER X */
#define XK_a                             0x0061  /* U+0061 LATIN SMALL LETTER A */
#define XK_b                             0x0062  /* U+0062 LATIN SMALL LETTER B */
#define XK_t                             0x0074  /* U+0074 LATIN SMALL LETTER T */
#define XK_x                             0x0078  /* U+0078 LATIN SMALL LETTER X */
#define XK_onesuperior                   0x00b9  /* U+00B9 SUPERSCRIPT ONE */
#define XK_ecaron                        0x01ec  /* U+011B LATIN SMALL LETTER E WITH CARON */
#define XK_tslash                        0x03bc  /* U+0167 LATIN SMALL LETTER T WITH STROKE */
#define XK_dead_acute                    0xfe51
"#;

const BASE: &str = r#"
// A base layout.
default partial alphanumeric_keys
xkb_symbols "basic" {
    key <AE01> { [ 1, exclam, onesuperior ] };
    key <AE02> { [ 2, at ] };
    key <AD05> { [ t, T ] };
    key <AC01> { [ a, A ] };
};

partial xkb_symbols "extra" {
    key <AE02> { [ any, quotedbl ] }; /* keeps level 1 */
};
"#;

const LAYOUT: &str = r#"
xkb_symbols "basic" {
    include "base+base(extra)"
    name[Group1] = "Made up";
    key <AE01> { [ ecaron, 1 ] };
    augment key <AD05> { [ x, X, tslash ] };
    replace key <AC01> { [ b ] };
    key <AE03> { type[Group1] = "FOUR_LEVEL_ALPHABETIC", [ bracketleft, 7 ] };
    key <AE04> { symbols[Group1] = [ dead_acute, 4 ] };
    include "level3(ralt_switch)"
};
"#;

fn dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("xkbgen-parser");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("base"), BASE).unwrap();
    std::fs::write(dir.join("lay"), LAYOUT).unwrap();
    std::fs::write(dir.join("level3"), "xkb_symbols \"ralt_switch\" { };\n").unwrap();
    dir
}

#[test]
fn includes_merge_modes_and_types_resolve_as_xkbcommon_does() {
    let keysyms = Keysyms::parse(KEYSYMDEF);
    let dir = dir();
    let mut symbols = Symbols::new(&dir, &keysyms);
    let layout = symbols.layout("lay").unwrap();

    let ae01 = &layout["AE01"];
    // Override: levels 1 and 2 replaced, level 3 kept from the include.
    assert_eq!(
        (ae01.level(0), ae01.level(1), ae01.level(2)),
        (Sym::Char('ě'), Sym::Char('1'), Sym::Char('¹'))
    );
    // Not an alphabetic type: Caps Lock upper-cases level 1.
    assert_eq!(ae01.typed(false, true), Sym::Char('Ě'));
    // `any` keeps what the include had.
    assert_eq!(
        (layout["AE02"].level(0), layout["AE02"].level(1)),
        (Sym::Char('2'), Sym::Char('"'))
    );
    // Augment fills only the missing level 3.
    let ad05 = &layout["AD05"];
    assert_eq!(
        (ad05.level(0), ad05.level(1), ad05.level(2)),
        (Sym::Char('t'), Sym::Char('T'), Sym::Char('ŧ'))
    );
    // An alphabetic key: Caps Lock selects Shift, and Shift+Caps Lock the base.
    assert_eq!(ad05.typed(false, true), Sym::Char('T'));
    assert_eq!(ad05.typed(true, true), Sym::Char('t'));
    // Replace drops the old levels.
    assert_eq!(
        (layout["AC01"].level(0), layout["AC01"].level(1)),
        (Sym::Char('b'), Sym::None)
    );
    // An explicit alphabetic type makes Caps Lock shift a symbol key.
    assert_eq!(layout["AE03"].typed(false, true), Sym::Char('7'));
    assert_eq!(layout["AE03"].typed(false, false), Sym::Char('['));
    // `symbols[Group1] =` and dead keys.
    assert_eq!(layout["AE04"].level(0), Sym::Dead('´'));

    assert!(symbols.layout("lay(nonesuch)").is_err());
    assert!(symbols.layout("nofile").is_err());
}
