//! The POS API's OpenAPI document, generated from the handlers and bodies themselves
//! (`utoipa`), served at `/openapi.json` and committed as `agent/openapi.json` (a test
//! keeps the file current, and refuses a change that would break a client of it).
//!
//! | module | holds |
//! |---|---|
//! | [`rules`] | the rules the server enforces, from the constants that enforce them |
//! | [`answers`] | every status of every operation, the problem codes, links, SSE |
//! | [`compat`] | what makes a new document break a client of an older one |

pub mod answers;
pub mod compat;
pub mod rules;

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

/// The document: what `utoipa` generates from the handlers, with the [`rules`] and the
/// [`answers`] stated.
pub fn value() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi())
        .unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}));
    rules::apply(&mut doc);
    answers::apply(&mut doc);
    doc
}

/// The document as pretty JSON, with a final newline.
pub fn document() -> String {
    let mut text = serde_json::to_string_pretty(&value())
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The committed `agent/openapi.json` is the contract POS vendors build on: the
    /// generated document must not break a client of it ([`super::compat`]), and must
    /// equal it. After an additive change, refresh it (`TILLPASS_WRITE_OPENAPI=1 cargo
    /// test -p tillpass-agent --lib openapi`) and say what changed in
    /// `agent/API-CHANGELOG.md`; a breaking change is refused even then.
    #[test]
    fn committed_openapi_json_is_current_and_unbroken() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        let generated = super::document();
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        let old: Value = serde_json::from_str(&committed).unwrap();
        let new: Value = serde_json::from_str(&generated).unwrap();
        let breaks = super::compat::breaks(&old, &new);
        assert!(
            breaks.is_empty(),
            "this change breaks clients of agent/openapi.json; /v1 changes only by \
             addition:\n{}",
            breaks.join("\n")
        );
        if std::env::var_os("TILLPASS_WRITE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap();
            return;
        }
        assert!(
            committed == generated,
            "agent/openapi.json is stale (the change is additive): run \
             TILLPASS_WRITE_OPENAPI=1 cargo test -p tillpass-agent --lib openapi, and add \
             an entry to agent/API-CHANGELOG.md"
        );
    }

    /// The changelog has an entry for the document's version.
    #[test]
    fn api_changelog_has_the_documents_version() {
        let log = include_str!("../API-CHANGELOG.md");
        let doc = super::value();
        let version = doc["info"]["version"].as_str().unwrap();
        assert!(
            log.lines()
                .any(|l| l.starts_with("## ") && l.contains(version)),
            "agent/API-CHANGELOG.md has no `## {version}` entry"
        );
    }

    /// The patterns the document states accept exactly what the server's checks accept.
    #[test]
    fn stated_patterns_match_the_checks() {
        use tillpass_protocol::sync::{SaleId, limits};
        let id = regex::Regex::new(tillpass_protocol::sync::ids::TEXT_ID_PATTERN).unwrap();
        let method = regex::Regex::new(limits::METHOD_PATTERN).unwrap();
        let key = regex::Regex::new(super::rules::IDEMPOTENCY_KEY_PATTERN).unwrap();
        for c in (0u32..0x250).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            assert_eq!(
                id.is_match(&text),
                SaleId::new(text.as_str()).is_ok(),
                "{c:?}"
            );
            assert_eq!(
                method.is_match(&text),
                limits::method(&text).is_ok(),
                "{c:?}"
            );
            assert_eq!(
                key.is_match(&text),
                text.bytes().all(|b| b.is_ascii_graphic()),
                "{c:?}"
            );
        }
    }

    /// Every operation documents 401 and its errors as problem documents; every change
    /// requires its `Idempotency-Key` (but a dry run).
    #[test]
    fn every_operation_documents_its_errors_and_headers() {
        let doc = super::value();
        let paths = doc["paths"].as_object().unwrap();
        let mut seen = 0;
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                seen += 1;
                let responses = op["responses"].as_object().unwrap();
                assert!(responses.contains_key("401"), "{method} {path}");
                for (status, answer) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        // A refused scan and a refused catalog keep their own bodies.
                        let own = status == "422"
                            && (path == "/v1/identify" || path == "/v1/admin/catalog");
                        let problem = own
                            || answer["content"]
                                .as_object()
                                .is_some_and(|c| c.contains_key("application/problem+json"));
                        assert!(problem, "{method} {path} {status}: {answer}");
                    }
                }
                if path.starts_with("/v1/sessions/") && method != "get" {
                    let key = op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|p| p["name"] == "Idempotency-Key")
                        .unwrap();
                    assert_eq!(key["required"], true, "{method} {path}");
                    assert_eq!(key["schema"]["maxLength"], 255);
                }
            }
        }
        assert!(seen >= 12, "{seen} operations");
    }
}
