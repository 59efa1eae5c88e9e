//! The POS API's OpenAPI document, generated from the handlers and bodies themselves
//! (`utoipa`), served at `/openapi.json` and committed as `agent/openapi.json` (a test
//! keeps the file current).
//!
//! Errors: the `Problem` schema ([`tillpass_protocol::problem::Problem`]) lists every code
//! an answer can carry ([`crate::http::codes::all`]) as the enum of `code`; every error
//! answer of every operation is `application/problem+json` with it, and each operation
//! also lists the answers of the API's edge: `401` (every `/v1` route), `422` (a route
//! with a path id), `400`, `413`, `415`, `422` and `503` (a route with a body), `400`,
//! `422`, `503` and `507` (a change, with its `Idempotency-Key`), `500`.

use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
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
        crate::http::events,
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
    modifiers(&Bearer, &Problems),
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

/// The `Problem` schema, and every error answer as `application/problem+json` with it.
struct Problems;

impl Problems {
    fn schema() -> Schema {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let codes: Vec<&str> = crate::http::codes::all().into_iter().collect();
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(
                    "An RFC 9457 problem document. `code` is stable: match on it. Refusals a \
                     cashier sees carry `message_es` and `message_en`; a refused scan also its \
                     `source` and `at`, a refused tender its `refusal`.",
                ))
                .property("type", string().description(Some("Always `about:blank`")))
                .property("title", string())
                .property(
                    "status",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(400))
                        .maximum(Some(599)),
                )
                .property("code", string().enum_values(Some(codes)))
                .property("detail", string())
                .property(
                    "field",
                    string().description(Some(
                        "The field at fault: a path into the body (`cart.lines[2].quantity`), \
                         a path parameter or a header",
                    )),
                )
                .property(
                    "retry_after",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0))
                        .description(Some("Seconds to wait before retrying")),
                )
                .property(
                    "message_es",
                    string().description(Some("The cashier's message, Spanish")),
                )
                .property(
                    "message_en",
                    string().description(Some("The cashier's message, English")),
                )
                .required("type")
                .required("title")
                .required("status")
                .required("code")
                .required("detail")
                .additional_properties(Some(AdditionalProperties::FreeForm(true)))
                .build(),
        )
    }

    fn response(description: &str) -> RefOr<Response> {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    tillpass_protocol::problem::MEDIA_TYPE,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    }
}

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .schemas
            .insert("Problem".to_owned(), RefOr::T(Self::schema()));
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut operation.responses.responses;
                for (status, response) in responses.iter_mut() {
                    if status.starts_with('4') || status.starts_with('5') {
                        let description = match response {
                            RefOr::T(r) => r.description.clone(),
                            RefOr::Ref(_) => String::new(),
                        };
                        *response = Self::response(&description);
                    }
                }
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| Self::response(description));
                };
                add("401", "No or a wrong bearer token (`unauthorized`)");
                add(
                    "500",
                    "The till failed; nothing was written (`store_error`, `internal_error`)",
                );
                let path_param = operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.parameter_in == ParameterIn::Path);
                if path_param {
                    add(
                        "422",
                        "A path parameter breaks its rules; `field` names it (`invalid`)",
                    );
                }
                let change =
                    operation.parameters.iter().flatten().any(|p| {
                        p.parameter_in == ParameterIn::Header && p.name == "Idempotency-Key"
                    });
                if change {
                    add(
                        "400",
                        "No or a malformed `Idempotency-Key` (`idempotency_key_required`, \
                         `idempotency_key_invalid`)",
                    );
                    add(
                        "422",
                        "The `Idempotency-Key` was used for another request \
                         (`idempotency_key_reused`)",
                    );
                    add(
                        "503",
                        "The till cannot sell yet (`not_enrolled`, `no_catalog`) or is busy \
                         (`busy`)",
                    );
                    add(
                        "507",
                        "The till's disk is full; nothing was written (`disk_full`)",
                    );
                }
                if operation.request_body.is_some() {
                    add(
                        "400",
                        "The body is not JSON (`malformed_json`), a path or query parameter or \
                         header is malformed",
                    );
                    add(
                        "413",
                        "The body is over the route's maximum (`body_too_large`)",
                    );
                    add(
                        "415",
                        "The body's Content-Type is not the route's (`unsupported_media_type`)",
                    );
                    add(
                        "422",
                        "The body is JSON but breaks a rule; `field` names it (`invalid`)",
                    );
                    add("503", "Too many bodies at once; retry (`busy`)");
                }
            }
        }
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
