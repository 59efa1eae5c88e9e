//! The few single-byte character sets a scanner can put on the wire: the DOS code page 437
//! (Windows "OEM" Alt codes, ECI 0 and 2), Windows-1252 (Alt codes with a leading zero,
//! ECI 23) and ISO-8859-1 (ECI 1 and 3).

/// Character `b` in ISO-8859-1.
#[must_use]
pub fn latin1(b: u8) -> char {
    char::from(b)
}

/// Character `b` in code page 437.
#[must_use]
pub fn cp437(b: u8) -> char {
    match b.checked_sub(0x80) {
        Some(i) => CP437_HIGH[usize::from(i)],
        None => char::from(b),
    }
}

/// Character `b` in Windows-1252 (the five unassigned bytes map to the C1 controls, as
/// Windows does).
#[must_use]
pub fn cp1252(b: u8) -> char {
    match b {
        0x80..=0x9F => CP1252_C1[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// The Windows-1252 byte for `c`, if it has one.
#[must_use]
pub fn encode_cp1252(c: char) -> Option<u8> {
    let code = u32::from(c);
    if code < 0x80 || (0xA0..=0xFF).contains(&code) {
        return u8::try_from(code).ok();
    }
    CP1252_C1
        .iter()
        .position(|&x| x == c)
        .and_then(|i| u8::try_from(i + 0x80).ok())
}

const CP437_HIGH: [char; 128] = [
    '\u{00C7}', '\u{00FC}', '\u{00E9}', '\u{00E2}', '\u{00E4}', '\u{00E0}', '\u{00E5}', '\u{00E7}',
    '\u{00EA}', '\u{00EB}', '\u{00E8}', '\u{00EF}', '\u{00EE}', '\u{00EC}', '\u{00C4}', '\u{00C5}',
    '\u{00C9}', '\u{00E6}', '\u{00C6}', '\u{00F4}', '\u{00F6}', '\u{00F2}', '\u{00FB}', '\u{00F9}',
    '\u{00FF}', '\u{00D6}', '\u{00DC}', '\u{00A2}', '\u{00A3}', '\u{00A5}', '\u{20A7}', '\u{0192}',
    '\u{00E1}', '\u{00ED}', '\u{00F3}', '\u{00FA}', '\u{00F1}', '\u{00D1}', '\u{00AA}', '\u{00BA}',
    '\u{00BF}', '\u{2310}', '\u{00AC}', '\u{00BD}', '\u{00BC}', '\u{00A1}', '\u{00AB}', '\u{00BB}',
    '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}', '\u{2561}', '\u{2562}', '\u{2556}',
    '\u{2555}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255D}', '\u{255C}', '\u{255B}', '\u{2510}',
    '\u{2514}', '\u{2534}', '\u{252C}', '\u{251C}', '\u{2500}', '\u{253C}', '\u{255E}', '\u{255F}',
    '\u{255A}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}', '\u{2550}', '\u{256C}', '\u{2567}',
    '\u{2568}', '\u{2564}', '\u{2565}', '\u{2559}', '\u{2558}', '\u{2552}', '\u{2553}', '\u{256B}',
    '\u{256A}', '\u{2518}', '\u{250C}', '\u{2588}', '\u{2584}', '\u{258C}', '\u{2590}', '\u{2580}',
    '\u{03B1}', '\u{00DF}', '\u{0393}', '\u{03C0}', '\u{03A3}', '\u{03C3}', '\u{00B5}', '\u{03C4}',
    '\u{03A6}', '\u{0398}', '\u{03A9}', '\u{03B4}', '\u{221E}', '\u{03C6}', '\u{03B5}', '\u{2229}',
    '\u{2261}', '\u{00B1}', '\u{2265}', '\u{2264}', '\u{2320}', '\u{2321}', '\u{00F7}', '\u{2248}',
    '\u{00B0}', '\u{2219}', '\u{00B7}', '\u{221A}', '\u{207F}', '\u{00B2}', '\u{25A0}', '\u{00A0}',
];
const CP1252_C1: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        assert_eq!(cp437(b'A'), 'A');
        assert_eq!(cp437(0x80), 'Ç');
        assert_eq!(cp437(0xA4), 'ñ');
        assert_eq!(cp437(0xFF), '\u{A0}');
        assert_eq!(cp1252(0x80), '€');
        assert_eq!(cp1252(0xE9), 'é');
        assert_eq!(latin1(0xE9), 'é');
        for b in 0..=255u8 {
            assert_eq!(encode_cp1252(cp1252(b)), Some(b), "byte {b:#x}");
        }
        assert_eq!(encode_cp1252('→'), None);
    }
}
