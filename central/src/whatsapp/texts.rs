//! What the channel says, in Spanish and English, and the shapes of the messages it
//! sends ([`Message`]): text, reply buttons (at most [`MAX_BUTTONS`], titles at most
//! [`MAX_BUTTON_TITLE`] characters), an image and a template.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tillpass_protocol::lang::Lang;
use tillpass_protocol::money::Money;

use super::intent::button;

/// Meta's limit on reply buttons in one message.
pub const MAX_BUTTONS: usize = 3;
/// Meta's limit on a reply button's title, in characters.
pub const MAX_BUTTON_TITLE: usize = 20;
/// Meta's limit on a text body, in characters.
pub const MAX_TEXT: usize = 4_096;

/// A message the outbox sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// Text.
    Text {
        /// The text.
        body: String,
    },
    /// Text with reply buttons: `(id, title)`.
    Buttons {
        /// The text.
        body: String,
        /// The buttons.
        buttons: Vec<(String, String)>,
    },
    /// A PNG, uploaded first, with a caption.
    Image {
        /// The PNG, base64.
        png_base64: String,
        /// The caption.
        caption: String,
    },
    /// An approved template.
    Template {
        /// Its name.
        name: String,
        /// Its language code.
        lang: String,
        /// The body's parameters, in order.
        params: Vec<String>,
    },
}

impl Message {
    /// `text`, `interactive`, `image` or `template`: the outbox's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Text { .. } => "text",
            Message::Buttons { .. } => "interactive",
            Message::Image { .. } => "image",
            Message::Template { .. } => "template",
        }
    }

    /// Reply buttons, cut to Meta's limits.
    pub fn buttons(body: String, buttons: &[(&str, &str)]) -> Message {
        Message::Buttons {
            body: cut(&body, 1_024),
            buttons: buttons
                .iter()
                .take(MAX_BUTTONS)
                .map(|(id, title)| ((*id).to_owned(), cut(title, MAX_BUTTON_TITLE)))
                .collect(),
        }
    }

    /// Text, cut to Meta's limit.
    pub fn text(body: String) -> Message {
        Message::Text {
            body: cut(&body, MAX_TEXT),
        }
    }

    /// The Graph API's message object (without `to`), with `media` the uploaded image's id.
    pub fn to_graph(&self, media: Option<&str>) -> Value {
        match self {
            Message::Text { body } => json!({"type": "text", "text": {"body": body}}),
            Message::Buttons { body, buttons } => json!({
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": body},
                    "action": {"buttons": buttons.iter().map(|(id, title)| json!({
                        "type": "reply", "reply": {"id": id, "title": title}
                    })).collect::<Vec<_>>()}
                }
            }),
            Message::Image { caption, .. } => {
                json!({"type": "image", "image": {"id": media.unwrap_or_default(), "caption": caption}})
            }
            Message::Template { name, lang, params } => json!({
                "type": "template",
                "template": {
                    "name": name,
                    "language": {"code": lang},
                    "components": [{"type": "body", "parameters": params.iter().map(|p| json!({
                        "type": "text", "text": p
                    })).collect::<Vec<_>>()}]
                }
            }),
        }
    }

    /// What the outbox keeps once sent: the same without the image's bytes.
    pub fn kept(&self) -> Message {
        match self {
            Message::Image { caption, .. } => Message::Image {
                png_base64: String::new(),
                caption: caption.clone(),
            },
            other => other.clone(),
        }
    }
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Picks the text in `lang`.
fn t(lang: Lang, es: &str, en: &str) -> String {
    match lang {
        Lang::Es => es.to_owned(),
        Lang::En => en.to_owned(),
    }
}

/// The consent request, naming the terms' version.
pub fn consent(lang: Lang, terms: &str) -> Message {
    let body = match lang {
        Lang::Es => format!(
            "¡Hola! Para unirte al club acepta las condiciones (versión {terms}): guardamos \
             tu número solo para este chat, te enviamos tu pase y tus recibos aquí. Puedes \
             escribir BAJA cuando quieras.\n\nHi! To join, accept the terms (version {terms})."
        ),
        Lang::En => format!(
            "Hi! To join the club, accept the terms (version {terms}): we keep your number \
             for this chat only and send your pass and receipts here. Write STOP at any \
             time.\n\n¡Hola! Para unirte, acepta las condiciones (versión {terms})."
        ),
    };
    Message::buttons(body, &[(button::ACCEPT, "Acepto / I agree")])
}

/// The menu's buttons.
fn menu_buttons(lang: Lang) -> [(&'static str, &'static str); 3] {
    match lang {
        Lang::Es => [
            (button::PASS, "Mi QR"),
            (button::BALANCE, "Saldo"),
            (button::OFFERS, "Ofertas"),
        ],
        Lang::En => [
            (button::PASS, "My QR"),
            (button::BALANCE, "Balance"),
            (button::OFFERS, "Offers"),
        ],
    }
}

/// The welcome after sign-up.
pub fn welcome(lang: Lang, name: &str) -> Message {
    let body = match lang {
        Lang::Es => format!("¡Bienvenido/a, {name}! Ya eres del club. Pide tu QR para la caja."),
        Lang::En => format!("Welcome, {name}! You are in the club. Ask for your QR for the till."),
    };
    Message::buttons(body, &menu_buttons(lang))
}

/// The menu.
pub fn menu(lang: Lang) -> Message {
    let body = t(
        lang,
        "¿Qué necesitas? Escribe QR, SALDO, OFERTAS, BAJA o BORRAR.",
        "What do you need? Write QR, BALANCE, OFFERS, STOP or ERASE.",
    );
    Message::buttons(body, &menu_buttons(lang))
}

/// The pass's caption.
pub fn pass_caption(lang: Lang, name: &str, savings: Money) -> String {
    match lang {
        Lang::Es => {
            format!("{name}, tu pase para la caja. Ahorro disponible: {savings}. Vale 1 hora.")
        }
        Lang::En => {
            format!("{name}, your pass for the till. Savings to spend: {savings}. Valid 1 hour.")
        }
    }
}

/// A pass asked for again too soon.
pub fn pass_too_soon(lang: Lang, wait_secs: i64) -> Message {
    Message::text(match lang {
        Lang::Es => format!("Acabas de recibir tu pase. Pide otro en {wait_secs} s."),
        Lang::En => format!("You just got your pass. Ask again in {wait_secs} s."),
    })
}

/// Something this central cannot do now.
pub fn unavailable(lang: Lang) -> Message {
    Message::text(t(
        lang,
        "Ahora no podemos hacerlo. Inténtalo más tarde.",
        "We cannot do that right now. Please try later.",
    ))
}

/// The balance: spendable, pending until a date, gift cards.
pub fn balance(
    lang: Lang,
    savings: Money,
    pending: Option<(Money, i64)>,
    gift_cards: &[(String, Money)],
) -> Message {
    let mut body = match lang {
        Lang::Es => format!("Ahorro disponible: {savings}."),
        Lang::En => format!("Savings to spend: {savings}."),
    };
    if let Some((amount, until)) = pending {
        body.push('\n');
        body.push_str(&match lang {
            Lang::Es => format!("Pendiente: {amount} (disponible desde el {}).", date(until)),
            Lang::En => format!("Pending: {amount} (to spend from {}).", date(until)),
        });
    }
    if gift_cards.is_empty() {
        body.push('\n');
        body.push_str(&t(
            lang,
            "No tienes tarjetas regalo.",
            "You have no gift cards.",
        ));
    } else {
        body.push('\n');
        body.push_str(&t(lang, "Tus tarjetas regalo:", "Your gift cards:"));
        for (card, money) in gift_cards {
            body.push_str(&format!("\n• {card}: {money}"));
        }
    }
    Message::text(body)
}

/// The offers.
pub fn offers(lang: Lang, personal: &[String], highlights: &[String]) -> Message {
    if personal.is_empty() && highlights.is_empty() {
        return Message::text(t(
            lang,
            "No hay ofertas ahora mismo.",
            "No offers right now.",
        ));
    }
    let mut body = String::new();
    if !personal.is_empty() {
        body.push_str(&t(lang, "Solo para ti:", "Just for you:"));
        for p in personal {
            body.push_str(&format!("\n• {p}"));
        }
    }
    if !highlights.is_empty() {
        if !body.is_empty() {
            body.push_str("\n\n");
        }
        body.push_str(&t(lang, "En tienda:", "In store:"));
        for h in highlights {
            body.push_str(&format!("\n• {h}"));
        }
    }
    Message::text(body)
}

/// The opt-out's confirmation.
pub fn opted_out(lang: Lang) -> Message {
    Message::text(t(
        lang,
        "Te hemos dado de baja: no te enviaremos más mensajes. Escribe ALTA para volver.",
        "You are unsubscribed: we will send you nothing more. Write START to come back.",
    ))
}

/// The re-subscription's confirmation.
pub fn opted_in(lang: Lang) -> Message {
    Message::buttons(
        t(lang, "¡De nuevo en el club!", "Welcome back to the club!"),
        &menu_buttons(lang),
    )
}

/// The erasure's question.
pub fn erase_ask(lang: Lang) -> Message {
    Message::buttons(
        t(
            lang,
            "¿Borramos todos tus datos del club? Perderás tu ahorro. No se puede deshacer.",
            "Shall we erase all your club data? You lose your savings. This cannot be undone.",
        ),
        &[(button::ERASE, "Borrar / Erase")],
    )
}

/// The erasure's confirmation.
pub fn erased(lang: Lang) -> Message {
    Message::text(t(
        lang,
        "Hemos borrado tus datos y tu número. Guardamos solo la prueba anónima de tu \
         consentimiento y su retirada.",
        "We erased your data and your number. We keep only the anonymous record of your \
         consent and its withdrawal.",
    ))
}

/// A receipt in the chat: the new balance is what can be spent, and what is pending
/// (savings a sale earns are pending for the return window), so the savings just earned
/// show.
pub fn receipt(
    lang: Lang,
    sale: &str,
    net: Money,
    earned: Money,
    redeemed: Money,
    balance: Money,
    pending: Money,
) -> Message {
    let pending = if pending.amount > 0 {
        match lang {
            Lang::Es => format!(" (+{pending} pendiente)"),
            Lang::En => format!(" (+{pending} pending)"),
        }
    } else {
        String::new()
    };
    Message::text(match lang {
        Lang::Es => format!(
            "Recibo {sale}: total {net}. Ahorro ganado {earned}, usado {redeemed}. \
             Tu ahorro: {balance}{pending}."
        ),
        Lang::En => format!(
            "Receipt {sale}: total {net}. Savings earned {earned}, spent {redeemed}. \
             Your savings: {balance}{pending}."
        ),
    })
}

/// A receipt as the configured template: parameters total, earned, redeemed, balance.
pub fn receipt_template(
    name: &str,
    lang: Lang,
    net: Money,
    earned: Money,
    redeemed: Money,
    balance: Money,
) -> Message {
    Message::Template {
        name: name.to_owned(),
        lang: lang.code().to_owned(),
        params: [net, earned, redeemed, balance]
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

/// `YYYY-MM-DD` (UTC) of unix seconds.
pub fn date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_shows_the_savings_it_left_pending() {
        let eur = |amount| Money::new(amount, tillpass_protocol::money::Currency::EUR);
        let text = |m: Message| match m {
            Message::Text { body } => body,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            text(receipt(
                Lang::Es,
                "S-1",
                eur(1332),
                eur(26),
                eur(0),
                eur(0),
                eur(26)
            )),
            "Recibo S-1: total 13.32 EUR. Ahorro ganado 0.26 EUR, usado 0.00 EUR. \
             Tu ahorro: 0.00 EUR (+0.26 EUR pendiente)."
        );
        assert_eq!(
            text(receipt(
                Lang::En,
                "S-1",
                eur(1332),
                eur(26),
                eur(0),
                eur(0),
                eur(26)
            )),
            "Receipt S-1: total 13.32 EUR. Savings earned 0.26 EUR, spent 0.00 EUR. \
             Your savings: 0.00 EUR (+0.26 EUR pending)."
        );
        // Nothing pending: nothing said about it.
        assert!(
            text(receipt(
                Lang::En,
                "S-2",
                eur(100),
                eur(0),
                eur(0),
                eur(500),
                eur(0)
            ))
            .ends_with("Your savings: 5.00 EUR.")
        );
    }

    #[test]
    fn buttons_keep_metas_limits_and_dates_read_as_dates() {
        let Message::Buttons { buttons, .. } = Message::buttons(
            "x".into(),
            &[
                ("a", "a title far longer than twenty"),
                ("b", "b"),
                ("c", "c"),
                ("d", "d"),
            ],
        ) else {
            panic!()
        };
        assert_eq!(buttons.len(), MAX_BUTTONS);
        assert!(
            buttons
                .iter()
                .all(|(_, t)| t.chars().count() <= MAX_BUTTON_TITLE)
        );
        for lang in [Lang::Es, Lang::En] {
            for m in [
                consent(lang, "v1"),
                menu(lang),
                welcome(lang, "Ana"),
                erase_ask(lang),
            ] {
                let Message::Buttons { buttons, .. } = m else {
                    panic!()
                };
                assert!(buttons.len() <= MAX_BUTTONS);
                assert!(
                    buttons
                        .iter()
                        .all(|(_, t)| t.chars().count() <= MAX_BUTTON_TITLE)
                );
            }
        }
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_709_251_200), "2024-03-01");
        assert_eq!(date(951_782_400), "2000-02-29");
    }
}
