//! Every text of the dashboard in Spanish and English.
//!
//! A text is a key of [`T`] with both translations side by side in one table, so a key
//! without one of them does not compile. `{}` marks where [`T::with`] puts a value; the
//! tests check that both languages have the same placeholders and that no text is empty.
//! The labels of refusal codes, effect kinds and token kinds belong to their enums in
//! `tillpass_protocol`, whose exhaustive matches give every one both languages.

use tillpass_protocol::lang::Lang;
use tillpass_protocol::token::{RefusalCode, TokenKind};

macro_rules! texts {
    ($($key:ident => $es:literal, $en:literal;)*) => {
        /// A text of the dashboard.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum T { $($key,)* }

        impl T {
            /// Every text, for the completeness tests.
            #[cfg(test)]
            pub(crate) const ALL: &'static [T] = &[$(T::$key,)*];

            /// The text in `lang`.
            pub(crate) fn get(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((T::$key, Lang::Es) => $es, (T::$key, Lang::En) => $en,)*
                }
            }
        }
    };
}

impl T {
    /// The text in `lang` with `{}` replaced by `value`.
    pub(crate) fn with(self, lang: Lang, value: &str) -> String {
        self.get(lang).replacen("{}", value, 1)
    }
}

texts! {
    // Layout
    Dashboard => "Panel de tienda", "Store dashboard";
    NavToday => "Hoy", "Today";
    NavTransactions => "Ventas", "Transactions";
    NavScans => "Lecturas", "Scans";
    NavSync => "Sincronización", "Sync";
    NavDevices => "Lectores", "Devices";
    NavPromotions => "Promociones", "Promotions";
    SignedInAs => "Sesión de {}", "Signed in as {}";
    SignOut => "Cerrar sesión", "Sign out";
    OtherLanguage => "English", "Español";
    OtherLanguageHint => "Cambiar a inglés", "Switch to Spanish";
    // Sign-in
    LoginTitle => "Acceso de responsables de tienda", "Store manager sign-in";
    Name => "Nombre", "Name";
    Password => "Contraseña", "Password";
    SignIn => "Entrar", "Sign in";
    LoginFailed => "Nombre o contraseña incorrectos.", "Wrong name or password.";
    TryAgain => "El panel está ocupado comprobando otros accesos. Inténtelo de nuevo en unos segundos.",
        "The dashboard is busy checking other sign-ins. Try again in a few seconds.";
    LockedOut => "Demasiados intentos fallidos: este nombre está bloqueado {} min. Pruebe más tarde o pida a soporte que lo desbloquee (tillpass manager unlock).",
                 "Too many failed attempts: this name is locked for {} min. Try later, or ask support to unlock it (tillpass manager unlock).";
    FormExpired => "El formulario ha caducado o no es válido: vuelva a intentarlo.", "The form expired or is not valid: please try again.";
    NoAccounts => "Todavía no hay cuentas de responsable: créelas en la caja con «tillpass manager add --name NOMBRE».",
                  "There are no manager accounts yet: create one on the till with `tillpass manager add --name NAME`.";
    // Today
    Today => "Hoy", "Today";
    Show => "Ver", "Show";
    Day => "Día", "Day";
    PreviousDay => "← Día anterior", "← Previous day";
    NextDay => "Día siguiente →", "Next day →";
    ThisTill => "Ventas cerradas en esta caja, en la hora local de la tienda.", "Sales closed at this till, in the store's local time.";
    Sales => "Ventas", "Sales";
    LoyaltySales => "Con cliente fidelizado", "With a loyalty customer";
    ShareOfSales => "{} de las ventas", "{} of sales";
    NetSales => "Cobrado", "Net sales";
    LoyaltyNetShare => "{} con cliente fidelizado", "{} with a loyalty customer";
    Discounts => "Descuentos aplicados", "Discounts given";
    SavingsEarned => "Ahorro generado", "Savings earned";
    SavingsRedeemed => "Ahorro canjeado", "Savings redeemed";
    GiftCardTender => "Pagado con tarjeta regalo", "Gift-card tender";
    Returns => "Devoluciones", "Returns";
    Refunded => "{} devuelto", "{} refunded";
    SalesPerHour => "Ventas por hora", "Sales per hour";
    LegendAll => "Todas las ventas", "All sales";
    LegendLoyalty => "Con cliente fidelizado", "With a loyalty customer";
    TopPromotions => "Promociones más usadas", "Top promotions";
    Promotion => "Promoción", "Promotion";
    Uses => "Ventas", "Sales";
    Amount => "Importe", "Amount";
    NoSales => "Sin ventas este día.", "No sales on this day.";
    NoPromotionUses => "Ninguna promoción aplicada este día.", "No promotion applied on this day.";
    DownloadCsv => "Descargar CSV del día", "Download the day as CSV";
    // Transactions
    SearchSales => "Número de venta o referencia de cliente", "Sale id or customer reference";
    Search => "Buscar", "Search";
    Clear => "Quitar búsqueda", "Clear search";
    Time => "Hora", "Time";
    Sale => "Venta", "Sale";
    Till => "Caja", "Till";
    Customer => "Cliente", "Customer";
    Lines => "Líneas", "Lines";
    Gross => "Bruto", "Gross";
    Discount => "Descuento", "Discount";
    Net => "Cobrado", "Net";
    Savings => "Ahorro", "Savings";
    GiftCard => "Tarjeta regalo", "Gift card";
    Returned => "Con devolución", "Returned";
    Older => "Más antiguas →", "Older →";
    Newest => "← Más recientes", "← Newest";
    NoSaleFound => "Ninguna venta encontrada.", "No sale found.";
    SalesOnDay => "{} ventas este día", "{} sales on this day";
    ResultsFor => "Resultados para «{}» (todas las fechas, 50 como máximo)", "Results for “{}” (all dates, at most 50)";
    NotIdentified => "Sin identificar", "Not identified";
    // A sale
    SaleTitle => "Venta {}", "Sale {}";
    ClosedAt => "Cerrada", "Closed";
    OriginLocal => "Esta caja", "This till";
    OriginStore => "Otra caja de la tienda", "Another till of the store";
    Tier => "Nivel", "Tier";
    Item => "Artículo", "Item";
    Quantity => "Cantidad", "Quantity";
    UnitPrice => "Precio", "Unit price";
    Subtotal => "Subtotal", "Subtotal";
    Total => "Total", "Total";
    EffectsTitle => "Promociones aplicadas", "Promotions applied";
    NoEffects => "Ninguna promoción aplicada.", "No promotion applied.";
    Kind => "Tipo", "Kind";
    Voucher => "Cupón", "Voucher";
    Tenders => "Pagos", "Tenders";
    TenderSavings => "Ahorro", "Savings";
    TenderGiftCard => "Tarjeta regalo {}", "Gift card {}";
    TenderOther => "TPV: {}", "POS: {}";
    ReturnId => "Devolución", "Return";
    Refund => "Reembolso", "Refund";
    SavingsReversed => "Ahorro retirado", "Savings taken back";
    RefundTo => "Devuelto a", "Refunded to";
    NoReturns => "Sin devoluciones.", "No returns.";
    DetailUnreadable => "El detalle de esta venta no se puede leer (formato desconocido); se muestran sus totales.",
                        "This sale's detail cannot be read (unknown format); its totals are shown.";
    SaleNotFound => "Venta no encontrada.", "Sale not found.";
    BackToSales => "← Volver a las ventas", "← Back to transactions";
    // Scans
    ScansTitle => "Lecturas de QR", "QR scans";
    Accepted => "Aceptadas", "Accepted";
    Refused => "Rechazadas", "Refused";
    AcceptedOne => "Aceptada", "Accepted";
    RefusedOne => "Rechazada", "Refused";
    AllResults => "Todas", "All";
    AllScanners => "Todos los lectores", "All scanners";
    Scanner => "Lector", "Scanner";
    Result => "Resultado", "Result";
    Reason => "Motivo", "Reason";
    Detail => "Detalle", "Detail";
    Reference => "Referencia", "Reference";
    Latency => "Tiempo", "Time taken";
    LastScan => "Última lectura", "Last scan";
    RefusalReasons => "Motivos de rechazo", "Refusal reasons";
    PerScanner => "Por lector", "Per scanner";
    LatestScans => "Últimas lecturas (200 como máximo)", "Latest scans (at most 200)";
    NoScans => "Sin lecturas.", "No scans.";
    Filter => "Filtrar", "Filter";
    SourceApi => "TPV (API)", "POS (API)";
    Count => "Número", "Count";
    // Sync
    SyncTitle => "Sincronización con central", "Sync with central";
    Connection => "Conexión", "Connection";
    Online => "En línea", "Online";
    Offline => "Sin conexión", "Offline";
    LastSync => "Última sincronización correcta", "Last successful sync";
    Never => "Nunca", "Never";
    EarnOnly => "Solo acumulación (no se puede canjear ni pagar con tarjeta regalo)", "Earn only (no redemptions, no gift-card payments)";
    Outbox => "Eventos pendientes de enviar", "Events waiting to be sent";
    OldestEvent => "El más antiguo", "Oldest";
    Catalog => "Catálogo de promociones", "Promotion catalog";
    ScheduledCatalog => "Catálogo programado", "Scheduled catalog";
    Version => "Versión", "Version";
    Issued => "Emitido", "Issued";
    Age => "Antigüedad", "Age";
    ActivatesAt => "Se activa", "Activates";
    NoCatalog => "Sin catálogo", "No catalog";
    None => "Ninguno", "None";
    TrustList => "Lista de claves de confianza", "Trust list";
    NotEnrolled => "Caja no dada de alta", "Till not enrolled";
    Clock => "Reloj de la caja", "Till clock";
    ClockOk => "Correcto", "Correct";
    ClockBehind => "Atrasado {} respecto a la hora firmada por central", "{} behind central's signed time";
    OfflineRisk => "Esta caja: gastado sin confirmar por central", "This till: spent, not yet confirmed by central";
    StoreLedger => "Registro de riesgo de la tienda (todas las cajas)", "Store offline-risk ledger (all tills)";
    StoreLedgerHelp => "Cada gasto hecho con un saldo que central no había confirmado, en cualquier caja de la tienda, y lo que central decidió al recibirlo.", "Every spend made against a balance central had not confirmed, at any till of the store, and what central decided once it arrived.";
    LedgerByDay => "Por día", "By day";
    LedgerEntries => "Gastos", "Spends";
    LedgerFlags => "Avisos de central para esta tienda", "Central's flags for this store";
    LedgerEmpty => "Ningún gasto sin confirmar en el periodo de conservación.", "No unconfirmed spend within the retention period.";
    Spends => "Gastos", "Spends";
    Spent => "Gastado", "Spent";
    BeyondBalance => "Por encima del saldo", "Beyond the balance";
    Holder => "Cliente o tarjeta", "Customer or card";
    LedgerSource => "Saldo usado", "Balance used";
    Outcome => "Resultado", "Outcome";
    Raised => "Fecha", "Raised";
    AccountSavings => "Ahorro", "Savings";
    AccountGiftCard => "Tarjeta regalo", "Gift card";
    SourceSnapshot => "Instantánea del pase", "Pass snapshot";
    SourceCached => "Saldo guardado en caja", "Till's cached balance";
    SourceLive => "Central en línea", "Central, live";
    SourceUnknown => "Desconocido", "Unknown";
    OutcomeConfirmed => "Confirmado", "Confirmed";
    OutcomeDebt => "Deuda creada", "Debt created";
    OutcomeResolved => "Resuelto", "Resolved";
    OutcomeUnknown => "Desconocido", "Unknown";
    Flagged => "Avisado", "Flagged";
    FlagOverspend => "Gasto por encima del saldo: deuda", "Overspent: debt";
    FlagTokenTwoStores => "Mismo código usado en dos tiendas", "Same code used at two stores";
    FlagReversalClamped => "Devolución que dejó el ahorro a cero", "Return stopped the savings at zero";
    FlagReturnExceedsSale => "Devoluciones por encima de lo vendido", "Returns beyond what was sold";
    FlagOther => "Otro aviso", "Other flag";
    SavingsUnsynced => "Ahorro gastado sin sincronizar", "Savings spent while unsynced";
    GiftCardsUnsynced => "Tarjeta regalo gastada sin sincronizar", "Gift card spent while unsynced";
    CustomersCount => "clientes: {}", "customers: {}";
    CardsCount => "tarjetas: {}", "cards: {}";
    Conflicts => "Eventos rechazados por central", "Events central rejected";
    RejectedCount => "Rechazados por central", "Rejected by central";
    RejectedHelp => "Central no los aceptó: se guardan en la caja, no se vuelven a enviar y no se borran. Cuando central esté corregido (el motivo dice qué rechazó), reenvíelos en la caja con «tillpass journal retry --all».", "Central did not accept them: they are kept on the till, not sent again and never deleted. Once central is fixed (the reason says what it refused), re-send them on the till with `tillpass journal retry --all`.";
    RefusedAt => "Rechazado", "Refused";
    Event => "Evento", "Event";
    Created => "Creado", "Created";
    CentralReason => "Motivo de central", "Central's reason";
    Attempts => "Intentos", "Attempts";
    Ago => "hace {}", "{} ago";
    AtMost => "máximo {}", "at most {}";
    TooOld => "Demasiado antiguo: máximo {}", "Too old: at most {}";
    CapPerCustomer => "límite por cliente: {}", "cap per customer: {}";
    CapPerCard => "límite por tarjeta: {}", "cap per card: {}";
    // Devices
    DevicesTitle => "Lectores de códigos", "Scanners";
    Status => "Estado", "Status";
    Connected => "Conectado", "Connected";
    Disconnected => "Desconectado", "Disconnected";
    Path => "Dispositivo", "Device path";
    LastError => "Último error", "Last error";
    NoDevices => "No hay lectores configurados en esta caja; el TPV puede enviar las lecturas por la API.",
                 "No scanners are configured on this till; the POS may send scans through the API.";
    ScansToday => "Lecturas hoy", "Scans today";
    // Promotions
    PromotionsTitle => "Promociones", "Promotions";
    CatalogInForce => "Catálogo en vigor: versión {}", "Catalog in force: version {}";
    SearchPromotions => "Código o nombre de la promoción", "Promotion id or name";
    Id => "Código", "Id";
    Valid => "Validez", "Valid";
    Audience => "Para", "For";
    AudienceEveryone => "Todos", "Everyone";
    AudienceMembers => "Clientes fidelizados", "Members";
    AudiencePersonal => "Personal (activada en WhatsApp)", "Personal (switched on in WhatsApp)";
    Priority => "Prioridad", "Priority";
    Stacking => "Acumulación", "Stacking";
    Exclusive => "Exclusiva", "Exclusive";
    GroupOf => "Grupo {}", "Group {}";
    Rules => "Reglas", "Rules";
    StatusActive => "En vigor", "Active";
    StatusUpcoming => "Próxima", "Upcoming";
    StatusEnded => "Terminada", "Ended";
    NoPromotions => "Ninguna promoción.", "No promotions.";
    PromotionsCount => "{} promociones", "{} promotions";
    // Errors
    ErrorTitle => "Algo ha fallado", "Something went wrong";
    ErrorBody => "No se pudo mostrar esta página. Inténtelo de nuevo; si sigue fallando, avise a soporte.",
                 "This page could not be shown. Try again; if it keeps failing, tell support.";
    Forbidden => "Formulario caducado o no válido: recargue la página e inténtelo de nuevo.",
                 "The form expired or is not valid: reload the page and try again.";
}

/// The manager's label for a refusal code (`tillpass_protocol::token::RefusalCode`), or
/// `None` for a code this build does not know (shown as the code itself).
pub(crate) fn reason(code: &str, lang: Lang) -> Option<&'static str> {
    RefusalCode::from_code(code).map(|c| c.label(lang))
}

/// The label of a token kind code (`customer_pass`, `gift_card`, `voucher`), or `None`
/// for a code this build does not know.
pub(crate) fn token_kind(code: &str, lang: Lang) -> Option<&'static str> {
    TokenKind::from_code(code).map(|kind| kind.label(lang))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LANGS: [Lang; 2] = [Lang::Es, Lang::En];

    #[test]
    fn every_text_exists_in_both_languages_with_the_same_placeholders() {
        for &t in T::ALL {
            let (es, en) = (t.get(Lang::Es), t.get(Lang::En));
            assert!(!es.trim().is_empty() && !en.trim().is_empty(), "{t:?}");
            assert_eq!(es.trim(), es, "{t:?}: stray spaces");
            assert_eq!(en.trim(), en, "{t:?}: stray spaces");
            assert_eq!(es.matches("{}").count(), en.matches("{}").count(), "{t:?}");
            assert!(es.matches("{}").count() <= 1, "{t:?}: one value at most");
        }
        assert_eq!(T::SignedInAs.with(Lang::Es, "Ana"), "Sesión de Ana");
        assert_eq!(T::SalesOnDay.with(Lang::En, "3"), "3 sales on this day");
    }

    #[test]
    fn most_texts_are_translated() {
        // A text equal in both languages is a word both share ("Total"), never a
        // forgotten translation of a sentence.
        for &t in T::ALL {
            let (es, en) = (t.get(Lang::Es), t.get(Lang::En));
            if es == en {
                assert!(!es.contains(' '), "{t:?} is not translated: {es:?}");
            }
        }
    }

    #[test]
    fn every_code_has_a_label() {
        for lang in LANGS {
            for code in RefusalCode::ALL {
                assert!(reason(code.code(), lang).is_some(), "{code:?}");
            }
            for kind in ["customer_pass", "gift_card", "voucher"] {
                assert!(token_kind(kind, lang).is_some(), "{kind}");
            }
        }
        assert_eq!(reason("something_new", Lang::Es), None);
    }

    #[test]
    fn protocol_refusal_codes_have_labels() {
        use tillpass_protocol::token::Refusal;
        let kid = tillpass_protocol::trust::KeyId([0; 4]);
        for r in [
            Refusal::BadSignature,
            Refusal::UnknownKey { kid },
            Refusal::KeyNotValidAtIssue { kid },
        ] {
            assert!(reason(r.code(), Lang::En).is_some(), "{}", r.code());
        }
    }
}
