//! Keysym names to characters, read from X11's `keysymdef.h` (Debian's `x11proto-dev`).
//!
//! A line `#define XK_ecaron 0x01ec /* U+011B LATIN SMALL LETTER E WITH CARON */` maps the
//! name `ecaron` to `ě`. Names without a `U+` comment map by their value when it is a
//! Latin-1 keysym (0x20–0x7e, 0xa0–0xff, equal to the code point) or a Unicode keysym
//! (0x1000000 + code point). Dead keys have no code point; [`dead_accent`] names the
//! accent each stands for.

use std::collections::HashMap;

/// What a keysym types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sym {
    /// Nothing (NoSymbol, or a function key such as Shift or BackSpace).
    None,
    /// A character.
    Char(char),
    /// A dead key, with the accent it types on its own.
    Dead(char),
}

/// Keysym names and what they type.
#[derive(Debug, Default)]
pub struct Keysyms {
    by_name: HashMap<String, char>,
}

impl Keysyms {
    /// Reads the `#define XK_name value /* U+XXXX ... */` lines of `keysymdef.h`.
    pub fn parse(header: &str) -> Keysyms {
        let mut by_name = HashMap::new();
        for line in header.lines() {
            let Some(rest) = line.strip_prefix("#define XK_") else {
                continue;
            };
            let mut words = rest.split_whitespace();
            let (Some(name), Some(value)) = (words.next(), words.next()) else {
                continue;
            };
            let Some(value) = value
                .strip_prefix("0x")
                .and_then(|v| u32::from_str_radix(v, 16).ok())
            else {
                continue;
            };
            let from_comment = rest
                .split_once("U+")
                .and_then(|(_, after)| {
                    let hex: String = after.chars().take_while(char::is_ascii_hexdigit).collect();
                    u32::from_str_radix(&hex, 16).ok()
                })
                .and_then(char::from_u32);
            if let Some(ch) = from_comment.or_else(|| keysym_value_char(value)) {
                by_name.entry(name.to_owned()).or_insert(ch);
            }
        }
        Keysyms { by_name }
    }

    /// What the keysym written `token` in a symbols file types: a name, `U20AC`, `0x1000142`
    /// or a single digit.
    pub fn sym(&self, token: &str) -> Sym {
        if let Some(accent) = dead_accent(token) {
            return Sym::Dead(accent);
        }
        // The keypad's decimal key: what it types with Num Lock on.
        match token {
            "KP_Separator" => return Sym::Char(','),
            "KP_Decimal" => return Sym::Char('.'),
            _ => {}
        }
        if let Some(&ch) = self.by_name.get(token) {
            return Sym::Char(ch);
        }
        if token.len() == 1 && token.chars().all(|c| c.is_ascii_digit()) {
            return token.chars().next().map_or(Sym::None, Sym::Char);
        }
        if let Some(hex) = token.strip_prefix('U')
            && hex.len() >= 4
            && let Some(ch) = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
        {
            return Sym::Char(ch);
        }
        if let Some(hex) = token.strip_prefix("0x")
            && let Some(ch) = u32::from_str_radix(hex, 16)
                .ok()
                .and_then(keysym_value_char)
        {
            return Sym::Char(ch);
        }
        Sym::None
    }
}

/// The character of a keysym value: Latin-1 keysyms are their code point, Unicode keysyms
/// are 0x1000000 + the code point.
fn keysym_value_char(value: u32) -> Option<char> {
    match value {
        0x20..=0x7e | 0xa0..=0xff => char::from_u32(value),
        0x0100_0100..=0x0110_ffff => char::from_u32(value - 0x0100_0000),
        _ => None,
    }
}

/// The accent a dead key stands for (what it types followed by Space), for the dead keys
/// that layouts put on the main block.
pub fn dead_accent(name: &str) -> Option<char> {
    let accent = match name.strip_prefix("dead_")? {
        "grave" => '`',
        "acute" => '´',
        "circumflex" => '^',
        "tilde" => '~',
        "perispomeni" => '῀',
        "macron" => '¯',
        "breve" => '˘',
        "abovedot" => '˙',
        "diaeresis" => '¨',
        "abovering" => '˚',
        "doubleacute" => '˝',
        "caron" => 'ˇ',
        "cedilla" => '¸',
        "ogonek" => '˛',
        "iota" => 'ͺ',
        "belowdot" => '.',
        "hook" => '̉',
        "horn" => '̛',
        "stroke" => '/',
        "abovecomma" | "psili" => '᾿',
        "abovereversedcomma" | "dasia" => '῾',
        "doublegrave" => '̏',
        "belowcomma" => ',',
        "currency" => '¤',
        "greek" => 'µ',
        _ => '\u{fffd}',
    };
    Some(accent)
}
