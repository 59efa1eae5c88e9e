//! The cashier's message, in Spanish and English, for every code the POS API answers with:
//! short, saying what to do, never technical. A refused tender or scan has its own (from
//! the engine and the identification pipeline); everything else takes its words here.
//! [`CODES`] lists every code, and a test holds the session code to it.

/// Every code of the POS API's own answers, with its (Spanish, English) cashier message.
pub const CODES: &[(&str, &str, &str)] = &[
    (
        "earn_only",
        "La caja lleva demasiado tiempo sin conexión: hoy solo se acumulan ahorros. Cobre \
         con otro medio y avise al responsable.",
        "The till has been offline too long: savings can be earned but not spent now. Take \
         another payment and tell the manager.",
    ),
    (
        "customer_earn_only",
        "Cliente nuevo en esta caja: acumula ahorros, pero podrá gastarlos cuando la caja se \
         sincronice. Cobre con otro medio.",
        "New customer at this till: they earn savings now and can spend them once the till \
         has synced. Take another payment.",
    ),
    (
        "no_catalog",
        "La caja aún no tiene las promociones de la central: espere a que se sincronice o \
         avise al responsable.",
        "The till has no promotions from central yet: wait for it to sync or tell the \
         manager.",
    ),
    (
        "not_enrolled",
        "Esta caja no está dada de alta en la central: avise al responsable.",
        "This till is not enrolled with central: tell the manager.",
    ),
    (
        "too_many_tenders",
        "Demasiados pagos de fidelidad en esta venta: cobre el resto con otro medio.",
        "Too many loyalty payments on this sale: take the rest another way.",
    ),
    (
        "unknown_gift_card",
        "Esta caja no conoce la tarjeta regalo: compruébela o espere a que la caja se \
         sincronice.",
        "This till does not know the gift card: check it, or wait for the till to sync.",
    ),
    (
        "voucher_used",
        "Este vale ya se usó en otra venta: quítelo de esta venta y cierre de nuevo.",
        "This voucher was used by another sale: remove it from this sale and close again.",
    ),
    (
        "hold_lapsed",
        "La reserva de la tarjeta regalo caducó: anule la venta y vuelva a pasar la tarjeta.",
        "The gift card hold expired: cancel the sale and tender the card again.",
    ),
    (
        "sale_id_in_use",
        "Este número de venta ya se usó en la tienda: anule la venta y use otro número.",
        "This sale number is already used in the store: cancel and use another number.",
    ),
    (
        "session_closed",
        "Esta venta ya está cerrada: para devolver artículos, haga una devolución.",
        "This sale is already closed: make a return to take goods back.",
    ),
    (
        "session_cancelled",
        "Esta venta fue anulada: empiece una venta nueva.",
        "This sale was cancelled: start a new sale.",
    ),
    (
        "stale_version",
        "La venta cambió en otra pantalla: vuelva a cargarla y repita.",
        "The sale was changed elsewhere: reload it and try again.",
    ),
    (
        "session_exists",
        "Ya hay una venta con este número: cárguela o use otro número.",
        "A sale with this number exists: load it or use another number.",
    ),
    (
        "session_not_found",
        "Venta no encontrada en esta caja: compruebe el número.",
        "Sale not found at this till: check the number.",
    ),
    (
        "tenders_present",
        "La venta tiene pagos de fidelidad: anúlela para cambiar artículos o cliente.",
        "The sale has loyalty payments: cancel it to change items or customer.",
    ),
    (
        "tenders_do_not_match",
        "Los pagos no cuadran con el total: revise los importes.",
        "The payments do not match the total: check the amounts.",
    ),
    (
        "return_exists",
        "Esta devolución ya está registrada: use un número de devolución nuevo.",
        "This return is already recorded: use a new return number.",
    ),
    (
        "sale_not_found",
        "Venta no encontrada: compruebe el número del ticket.",
        "Sale not found: check the receipt number.",
    ),
    (
        "sale_history_incomplete",
        "Esta devolución no se puede hacer aquí todavía: hágala en la caja de la venta o \
         más tarde.",
        "This return cannot be taken here yet: take it at the till that sold it, or later.",
    ),
    (
        "customer_not_found",
        "Esta caja no conoce al cliente.",
        "This till does not know the customer.",
    ),
    (
        "invalid",
        "La caja no acepta un dato de esta venta (artículo, cantidad, precio o pago): \
         corríjalo o avise a soporte.",
        "The till cannot take a detail of this sale (item, quantity, price or payment): \
         correct it or call support.",
    ),
    (
        "disk_full",
        "El disco de la caja está lleno: no se ha guardado nada. Avise al responsable.",
        "The till's disk is full: nothing was saved. Tell the manager.",
    ),
    (
        "store_error",
        "La caja tuvo un fallo interno: no se ha guardado nada. Repita la operación.",
        "The till failed internally: nothing was saved. Try again.",
    ),
    (
        "idempotency_key_reused",
        "El TPV repitió una petición con otro contenido: avise a soporte.",
        "The POS repeated a request with other content: call support.",
    ),
    (
        "idempotency_key_required",
        "El TPV envió una petición incompleta: avise a soporte.",
        "The POS sent an incomplete request: call support.",
    ),
    (
        "idempotency_key_invalid",
        "El TPV envió una petición incompleta: avise a soporte.",
        "The POS sent an incomplete request: call support.",
    ),
    (
        "malformed_json",
        "El TPV envió una petición que la caja no entiende: avise a soporte.",
        "The POS sent a request the till cannot read: call support.",
    ),
    (
        "unreadable_body",
        "El TPV envió una petición que la caja no entiende: avise a soporte.",
        "The POS sent a request the till cannot read: call support.",
    ),
    (
        "body_too_large",
        "La venta es demasiado grande para la caja: divídala en dos ventas.",
        "The sale is too large for the till: split it into two sales.",
    ),
];

/// The (Spanish, English) cashier message of `code`.
pub fn of(code: &str) -> Option<(&'static str, &'static str)> {
    CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, es, en)| (*es, *en))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the session code answers with, read from its source: each literal that
    /// follows an `ApiError` constructor taking a code.
    fn codes_in_source() -> Vec<String> {
        let sources = [
            include_str!("mod.rs"),
            include_str!("cart.rs"),
            include_str!("close.rs"),
            include_str!("tenders.rs"),
            include_str!("returns.rs"),
            include_str!("routes.rs"),
            include_str!("error.rs"),
            include_str!("events.rs"),
        ];
        let constructors = [
            "ApiError::bad_request(",
            "ApiError::unprocessable(",
            "ApiError::not_found(",
            "ApiError::conflict(",
            "ApiError::unavailable(",
            "ApiError::new(",
        ];
        let mut codes = Vec::new();
        for source in sources {
            for constructor in constructors {
                for (at, _) in source.match_indices(constructor) {
                    let rest = &source[at + constructor.len()..];
                    // `ApiError::new(status, "code", …)`: the code is the first literal.
                    let Some(open) = rest.find('"') else { continue };
                    let literal = &rest[open + 1..];
                    let Some(close) = literal.find('"') else {
                        continue;
                    };
                    let code = &literal[..close];
                    if !code.is_empty()
                        && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                        && rest[..open].bytes().filter(|b| *b == b'(').count() == 0
                    {
                        codes.push(code.to_owned());
                    }
                }
            }
        }
        codes.sort();
        codes.dedup();
        codes
    }

    #[test]
    fn every_code_of_the_api_has_a_short_cashier_message_in_both_languages() {
        let found = codes_in_source();
        assert!(found.len() > 20, "the scan found {found:?}");
        for code in &found {
            assert!(of(code).is_some(), "{code} has no cashier message");
        }
        for (code, es, en) in CODES {
            assert!(!es.is_empty() && !en.is_empty(), "{code}");
            assert_ne!(es, en, "{code}: the Spanish message is the English one");
            assert!(
                es.len() < 200 && en.len() < 200,
                "{code}: too long for a till"
            );
            for technical in ["_", "{", "http", "version", "PUT", "GET"] {
                assert!(
                    !es.contains(technical) && !en.contains(technical),
                    "{code}: technical text in a cashier message"
                );
            }
        }
    }
}
