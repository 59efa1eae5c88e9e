//! The cashier's message, in Spanish and English, for every code the POS API answers with:
//! short, saying what to do, never technical. A refused tender or scan has its own (from
//! the engine and the identification pipeline); everything else takes its words here, by
//! an exhaustive match on [`ErrorCode`].

use tillpass_protocol::lang::Bilingual;
use tillpass_protocol::problem::ErrorCode;

/// The (Spanish, English) cashier message of `code`: every code the agent answers with has
/// one; central's own codes (never answered by a till) have none. A new [`ErrorCode`] does
/// not compile until it is placed here.
pub fn of(code: ErrorCode) -> Option<Bilingual> {
    let (es, en) = match code {
        ErrorCode::Unauthorized => (
            "El TPV no está autorizado en esta caja: avise a soporte.",
            "The POS is not authorised at this till: call support.",
        ),
        ErrorCode::NotFound => (
            "El TPV pidió algo que la caja no tiene: avise a soporte.",
            "The POS asked for something the till does not have: call support.",
        ),
        ErrorCode::MethodNotAllowed => (
            "El TPV pidió algo que la caja no tiene: avise a soporte.",
            "The POS asked for something the till does not have: call support.",
        ),
        ErrorCode::MalformedJson => (
            "El TPV envió una petición que la caja no entiende: avise a soporte.",
            "The POS sent a request the till cannot read: call support.",
        ),
        ErrorCode::Invalid => (
            "La caja no acepta un dato de esta venta (artículo, cantidad, precio o pago): \
         corríjalo o avise a soporte.",
            "The till cannot take a detail of this sale (item, quantity, price or payment): \
         correct it or call support.",
        ),
        ErrorCode::BadPath => (
            "El TPV envió una petición que la caja no entiende: avise a soporte.",
            "The POS sent a request the till cannot read: call support.",
        ),
        ErrorCode::BadQuery => (
            "El TPV envió una petición que la caja no entiende: avise a soporte.",
            "The POS sent a request the till cannot read: call support.",
        ),
        ErrorCode::BodyTooLarge => (
            "La venta es demasiado grande para la caja: divídala en dos ventas.",
            "The sale is too large for the till: split it into two sales.",
        ),
        ErrorCode::UnsupportedMediaType => (
            "El TPV envió una petición que la caja no entiende: avise a soporte.",
            "The POS sent a request the till cannot read: call support.",
        ),
        ErrorCode::UnreadableBody => (
            "El TPV envió una petición que la caja no entiende: avise a soporte.",
            "The POS sent a request the till cannot read: call support.",
        ),
        ErrorCode::BodyTimeout => (
            "La petición del TPV llegó incompleta: repita la operación.",
            "The POS request arrived incomplete: try again.",
        ),
        ErrorCode::Busy => (
            "La caja está ocupada: espere un momento y repita.",
            "The till is busy: wait a moment and try again.",
        ),
        ErrorCode::InternalError => (
            "La caja tuvo un fallo interno: no se ha guardado nada. Repita la operación.",
            "The till failed internally: nothing was saved. Try again.",
        ),
        ErrorCode::HostNotAllowed => (
            "El TPV llamó a la caja por un nombre que no es suyo: avise a soporte.",
            "The POS called the till by a name that is not its own: call support.",
        ),
        ErrorCode::NotReady => (
            "La caja aún no está lista para vender: avise al responsable.",
            "The till is not ready to sell yet: tell the manager.",
        ),
        ErrorCode::IdempotencyKeyRequired => (
            "El TPV envió una petición incompleta: avise a soporte.",
            "The POS sent an incomplete request: call support.",
        ),
        ErrorCode::IdempotencyKeyInvalid => (
            "El TPV envió una petición incompleta: avise a soporte.",
            "The POS sent an incomplete request: call support.",
        ),
        ErrorCode::IdempotencyKeyReused => (
            "El TPV repitió una petición con otro contenido: avise a soporte.",
            "The POS repeated a request with other content: call support.",
        ),
        ErrorCode::StoreError => (
            "La caja tuvo un fallo interno: no se ha guardado nada. Repita la operación.",
            "The till failed internally: nothing was saved. Try again.",
        ),
        ErrorCode::DiskFull => (
            "El disco de la caja está lleno: no se ha guardado nada. Avise al responsable.",
            "The till's disk is full: nothing was saved. Tell the manager.",
        ),
        ErrorCode::NoCatalog => (
            "La caja aún no tiene las promociones de la central: espere a que se sincronice o \
         avise al responsable.",
            "The till has no promotions from central yet: wait for it to sync or tell the \
         manager.",
        ),
        ErrorCode::NotEnrolled => (
            "Esta caja no está dada de alta en la central: avise al responsable.",
            "This till is not enrolled with central: tell the manager.",
        ),
        ErrorCode::EarnOnly => (
            "La caja lleva demasiado tiempo sin conexión: hoy solo se acumulan ahorros. Cobre \
         con otro medio y avise al responsable.",
            "The till has been offline too long: savings can be earned but not spent now. Take \
         another payment and tell the manager.",
        ),
        ErrorCode::CustomerEarnOnly => (
            "Cliente nuevo en esta caja: acumula ahorros, pero podrá gastarlos cuando la caja se \
         sincronice. Cobre con otro medio.",
            "New customer at this till: they earn savings now and can spend them once the till \
         has synced. Take another payment.",
        ),
        ErrorCode::SnapshotCapReached => (
            "El saldo viene del QR del cliente, no de la central: se alcanzó el límite que \
         esta caja puede cobrar con él. Cobre el resto con otro medio.",
            "The balance comes from the customer's QR, not from central: this till has reached \
         the limit it may take from it. Take the rest with another payment.",
        ),
        ErrorCode::TooManyTenders => (
            "Demasiados pagos de fidelidad en esta venta: cobre el resto con otro medio.",
            "Too many loyalty payments on this sale: take the rest another way.",
        ),
        ErrorCode::UnknownGiftCard => (
            "Esta caja no conoce la tarjeta regalo: compruébela o espere a que la caja se \
         sincronice.",
            "This till does not know the gift card: check it, or wait for the till to sync.",
        ),
        ErrorCode::TendersDoNotMatch => (
            "Los pagos no cuadran con el total: revise los importes.",
            "The payments do not match the total: check the amounts.",
        ),
        ErrorCode::VoucherUsed => (
            "Este vale ya se usó en otra venta: quítelo de esta venta y cierre de nuevo.",
            "This voucher was used by another sale: remove it from this sale and close again.",
        ),
        ErrorCode::HoldLapsed => (
            "La reserva de la tarjeta regalo caducó: anule la venta y vuelva a pasar la tarjeta.",
            "The gift card hold expired: cancel the sale and tender the card again.",
        ),
        ErrorCode::SaleIdInUse => (
            "Este número de venta ya se usó en la tienda: anule la venta y use otro número.",
            "This sale number is already used in the store: cancel and use another number.",
        ),
        ErrorCode::SessionClosed => (
            "Esta venta ya está cerrada: para devolver artículos, haga una devolución.",
            "This sale is already closed: make a return to take goods back.",
        ),
        ErrorCode::SessionCancelled => (
            "Esta venta fue anulada: empiece una venta nueva.",
            "This sale was cancelled: start a new sale.",
        ),
        ErrorCode::StaleVersion => (
            "La venta cambió en otra pantalla: vuelva a cargarla y repita.",
            "The sale was changed elsewhere: reload it and try again.",
        ),
        ErrorCode::SessionExists => (
            "Ya hay una venta con este número: cárguela o use otro número.",
            "A sale with this number exists: load it or use another number.",
        ),
        ErrorCode::TendersPresent => (
            "La venta tiene pagos de fidelidad: anúlela para cambiar artículos o cliente.",
            "The sale has loyalty payments: cancel it to change items or customer.",
        ),
        ErrorCode::ReturnExists => (
            "Esta devolución ya está registrada: use un número de devolución nuevo.",
            "This return is already recorded: use a new return number.",
        ),
        ErrorCode::SaleHistoryIncomplete => (
            "Esta devolución no se puede hacer aquí todavía: hágala en la caja de la venta o \
         más tarde.",
            "This return cannot be taken here yet: take it at the till that sold it, or later.",
        ),
        ErrorCode::SessionNotFound => (
            "Venta no encontrada en esta caja: compruebe el número.",
            "Sale not found at this till: check the number.",
        ),
        ErrorCode::SaleNotFound => (
            "Venta no encontrada: compruebe el número del ticket.",
            "Sale not found: check the receipt number.",
        ),
        ErrorCode::CustomerNotFound => (
            "Esta caja no conoce al cliente.",
            "This till does not know the customer.",
        ),
        ErrorCode::InvalidRequest => return None,
        ErrorCode::Conflict => return None,
        ErrorCode::CatalogRefused => return None,
        ErrorCode::DatabaseUnavailable
        | ErrorCode::BadSignature
        | ErrorCode::Forbidden
        | ErrorCode::NotOnThisBackend
        | ErrorCode::RateLimited => {
            return None;
        }
    };
    Some(Bilingual { es, en })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_the_agent_has_a_short_cashier_message_in_both_languages() {
        for &code in ErrorCode::ALL {
            assert_eq!(of(code).is_none(), code.central_only(), "{code}");
            let Some(Bilingual { es, en }) = of(code) else {
                continue;
            };
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
