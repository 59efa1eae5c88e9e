//! What a customer's message asks for ([`Intent`]), in Spanish or English, and which of
//! the two they write in.

use tillpass_protocol::lang::Lang;

use super::delivery::Content;

/// The reply buttons' ids (ours; Meta echoes them).
pub mod button {
    /// "Acepto / I agree": sign-up consent.
    pub const ACCEPT: &str = "consent_accept";
    /// The pass.
    pub const PASS: &str = "pass";
    /// The balance.
    pub const BALANCE: &str = "balance";
    /// The offers.
    pub const OFFERS: &str = "offers";
    /// "Borrar / Erase": the erasure's confirmation.
    pub const ERASE: &str = "erase_confirm";
}

/// What a message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// The sign-up consent.
    Accept,
    /// A fresh pass.
    Pass,
    /// Savings and gift cards.
    Balance,
    /// Offers.
    Offers,
    /// Withdraw consent ("BAJA", "STOP").
    OptOut,
    /// Re-subscribe ("ALTA", "START").
    OptIn,
    /// Erase my data (asks for confirmation).
    Erase,
    /// The erasure confirmed.
    EraseConfirmed,
    /// Anything else: the menu.
    Menu,
}

/// Lower case, accents and punctuation off, single spaces.
fn normalise(text: &str) -> String {
    let folded: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'ä' => 'a',
            'é' | 'è' | 'ë' => 'e',
            'í' | 'ì' | 'ï' => 'i',
            'ó' | 'ò' | 'ö' => 'o',
            'ú' | 'ù' | 'ü' => 'u',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What `content` asks for.
pub fn of(content: &Content) -> Intent {
    match content {
        Content::Button { id, .. } => match id.as_str() {
            button::ACCEPT => Intent::Accept,
            button::PASS => Intent::Pass,
            button::BALANCE => Intent::Balance,
            button::OFFERS => Intent::Offers,
            button::ERASE => Intent::EraseConfirmed,
            _ => Intent::Menu,
        },
        Content::Text { body } => {
            let text = normalise(body);
            let words: Vec<&str> = text.split(' ').collect();
            let has = |list: &[&str]| words.iter().any(|w| list.contains(w));
            match text.as_str() {
                "baja" | "stop" | "unsubscribe" => Intent::OptOut,
                "alta" | "start" | "subscribe" => Intent::OptIn,
                "acepto" | "i agree" | "agree" => Intent::Accept,
                _ if has(&["borrar", "borra", "erase", "delete", "olvidame", "forget"]) => {
                    Intent::Erase
                }
                _ if has(&["qr", "tarjeta", "pass", "pase", "card", "carnet"]) => Intent::Pass,
                _ if has(&[
                    "saldo", "balance", "puntos", "points", "ahorro", "savings", "regalo", "gift",
                ]) =>
                {
                    Intent::Balance
                }
                _ if has(&[
                    "ofertas",
                    "oferta",
                    "offers",
                    "offer",
                    "promociones",
                    "promos",
                    "deals",
                ]) =>
                {
                    Intent::Offers
                }
                _ => Intent::Menu,
            }
        }
        Content::Other { .. } => Intent::Menu,
    }
}

/// The language a text is written in, when it says: English words → English, Spanish
/// ones → Spanish.
pub fn language(content: &Content) -> Option<Lang> {
    let Content::Text { body } = content else {
        return None;
    };
    let text = normalise(body);
    const EN: &[&str] = &[
        "hi", "hello", "join", "i", "want", "my", "the", "please", "card", "pass", "balance",
        "offers", "stop", "start", "agree", "erase", "delete", "points", "savings",
    ];
    const ES: &[&str] = &[
        "hola", "quiero", "unirme", "mi", "el", "la", "por", "favor", "tarjeta", "saldo",
        "ofertas", "baja", "alta", "acepto", "borrar", "puntos", "ahorro", "pase",
    ];
    let (mut en, mut es) = (0, 0);
    for word in text.split(' ') {
        en += usize::from(EN.contains(&word));
        es += usize::from(ES.contains(&word));
    }
    match en.cmp(&es) {
        std::cmp::Ordering::Greater => Some(Lang::En),
        std::cmp::Ordering::Less => Some(Lang::Es),
        std::cmp::Ordering::Equal => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(body: &str) -> Content {
        Content::Text { body: body.into() }
    }

    #[test]
    fn requests_are_understood_in_both_languages() {
        for (said, wanted) in [
            ("QR", Intent::Pass),
            ("mi tarjeta por favor", Intent::Pass),
            ("my pass", Intent::Pass),
            ("¿Saldo?", Intent::Balance),
            ("balance", Intent::Balance),
            ("Ofertas", Intent::Offers),
            ("offers", Intent::Offers),
            ("BAJA", Intent::OptOut),
            ("stop", Intent::OptOut),
            ("Alta", Intent::OptIn),
            ("START", Intent::OptIn),
            ("borrar mis datos", Intent::Erase),
            ("delete my data", Intent::Erase),
            ("Acepto", Intent::Accept),
            ("hola", Intent::Menu),
        ] {
            assert_eq!(of(&text(said)), wanted, "{said}");
        }
        assert_eq!(language(&text("Hello, I want to join")), Some(Lang::En));
        assert_eq!(language(&text("Hola, quiero unirme")), Some(Lang::Es));
        assert_eq!(language(&text("QR")), None);
        let tap = Content::Button {
            id: button::ACCEPT.into(),
            title: "Acepto / I agree".into(),
        };
        assert_eq!(of(&tap), Intent::Accept);
    }
}
