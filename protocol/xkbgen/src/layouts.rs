//! The layouts the tables cover, in the order a decoder tries them (most likely first),
//! each with its class for the corpus.

/// A family of layouts, for the corpus and the documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Western Latin layouts (QWERTY, QWERTZ, AZERTY).
    Latin,
    /// Czech, Slovak, Polish, Hungarian, South Slavic, Romanian.
    CentralEuropean,
    /// Lithuanian, Latvian, Estonian.
    Baltic,
    /// Swedish, Norwegian, Danish, Finnish, Icelandic.
    Nordic,
    /// Russian, Ukrainian, Belarusian, Bulgarian, Serbian, Macedonian.
    Cyrillic,
    /// Greek.
    Greek,
    /// Turkish Q and F.
    Turkish,
    /// Dvorak and its variants (programmer Dvorak, BÉPO).
    Dvorak,
    /// Colemak and its variants.
    Colemak,
    /// Japanese and Korean hosts (their input methods add full-width forms).
    EastAsian,
}

impl Class {
    /// A stable snake_case name.
    pub fn code(self) -> &'static str {
        match self {
            Class::Latin => "latin",
            Class::CentralEuropean => "central_european",
            Class::Baltic => "baltic",
            Class::Nordic => "nordic",
            Class::Cyrillic => "cyrillic",
            Class::Greek => "greek",
            Class::Turkish => "turkish",
            Class::Dvorak => "dvorak",
            Class::Colemak => "colemak",
            Class::EastAsian => "east_asian",
        }
    }
}

/// Every layout, by its xkb name (`file` or `file(variant)`).
pub const LAYOUTS: &[(&str, Class)] = &[
    ("us", Class::Latin),
    ("es", Class::Latin),
    ("latam", Class::Latin),
    ("fr", Class::Latin),
    ("fr(nodeadkeys)", Class::Latin),
    ("be", Class::Latin),
    ("be(nodeadkeys)", Class::Latin),
    ("de", Class::Latin),
    ("de(nodeadkeys)", Class::Latin),
    ("at", Class::Latin),
    ("ch", Class::Latin),
    ("ch(fr)", Class::Latin),
    ("it", Class::Latin),
    ("pt", Class::Latin),
    ("br", Class::Latin),
    ("gb", Class::Latin),
    ("ie", Class::Latin),
    ("nl", Class::Latin),
    ("cz", Class::CentralEuropean),
    ("cz(qwerty)", Class::CentralEuropean),
    ("sk", Class::CentralEuropean),
    ("sk(qwerty)", Class::CentralEuropean),
    ("pl", Class::CentralEuropean),
    ("hu", Class::CentralEuropean),
    ("si", Class::CentralEuropean),
    ("hr", Class::CentralEuropean),
    ("ro", Class::CentralEuropean),
    ("lt", Class::Baltic),
    ("lv", Class::Baltic),
    ("ee", Class::Baltic),
    ("se", Class::Nordic),
    ("no", Class::Nordic),
    ("dk", Class::Nordic),
    ("fi", Class::Nordic),
    ("is", Class::Nordic),
    ("ru", Class::Cyrillic),
    ("ua", Class::Cyrillic),
    ("by", Class::Cyrillic),
    ("bg", Class::Cyrillic),
    ("rs", Class::Cyrillic),
    ("mk", Class::Cyrillic),
    ("gr", Class::Greek),
    ("tr", Class::Turkish),
    ("tr(f)", Class::Turkish),
    ("us(dvorak)", Class::Dvorak),
    ("us(dvorak-intl)", Class::Dvorak),
    ("us(dvp)", Class::Dvorak),
    ("gb(dvorak)", Class::Dvorak),
    ("de(dvorak)", Class::Dvorak),
    ("se(dvorak)", Class::Dvorak),
    ("fr(bepo)", Class::Dvorak),
    ("us(colemak)", Class::Colemak),
    ("us(colemak_dh)", Class::Colemak),
    ("gr(colemak)", Class::Colemak),
    ("jp", Class::EastAsian),
    ("kr", Class::EastAsian),
];
