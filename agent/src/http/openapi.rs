//! The POS API's OpenAPI document, generated from the handlers and bodies themselves
//! (`utoipa`), served at `/openapi.json` and committed as `agent/openapi.json` (a test
//! keeps the file current).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::sessions::model;
use crate::sessions::routes;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tillpass POS API",
        description = "The in-store loyalty agent's API for the till's POS software, on \
                       loopback. Every /v1 route needs `Authorization: Bearer <till token>`; \
                       every change needs an `Idempotency-Key`. Money is `{amount, currency}` \
                       in integer minor units; errors are application/problem+json with a \
                       stable `code` and the `field` at fault."
    ),
    paths(
        crate::http::identify,
        crate::http::status,
        routes::put_session,
        routes::get_session,
        routes::add_tender,
        routes::close_session,
        routes::cancel_session,
        routes::add_return,
        routes::get_customer,
        crate::sync::api::push_catalog,
        crate::sync::api::status,
    ),
    components(schemas(
        model::MoneySchema,
        model::PutSession,
        model::CartInput,
        model::TenderRequest,
        model::TenderInput,
        model::Payment,
        model::CloseRequest,
        model::CancelRequest,
        model::ReturnRequest,
        model::ReturnLineInput,
        model::SessionView,
        model::CustomerSummary,
        model::SavingsSummary,
        model::VoucherView,
        model::TenderView,
        model::Receipt,
        model::ReceiptPromotion,
        model::ReceiptGiftCard,
        model::ReturnView,
        crate::http::IdentifyRequest,
    )),
    modifiers(&Bearer),
    tags(
        (name = "sessions", description = "A sale from cart to close, and returns"),
        (name = "customers", description = "What the till knows of a customer"),
        (name = "identify", description = "Scans and the till's state"),
        (name = "sync", description = "The conversation with central; catalogs pushed by central IT"),
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON, with a final newline.
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    /// The committed `agent/openapi.json` is the document the code generates. To refresh
    /// it: `TILLPASS_WRITE_OPENAPI=1 cargo test -p tillpass-agent --lib openapi`.
    #[test]
    fn committed_openapi_json_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        let generated = super::document();
        if std::env::var_os("TILLPASS_WRITE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "agent/openapi.json is stale: run TILLPASS_WRITE_OPENAPI=1 cargo test -p \
             tillpass-agent --lib openapi"
        );
    }
}
