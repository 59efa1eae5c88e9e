//! Every `code` an error answer of the agent can carry, for the OpenAPI document and the
//! tests that hold answers to it: the agent's own ([`ErrorCode::ALL`] but those
//! [`central_only`](ErrorCode::central_only)) and those of the
//! refusal vocabularies that keep their own codes — a refused scan's ([`SCAN_REFUSALS`]),
//! tender's ([`TENDER_REFUSALS`]) and pushed catalog's ([`CATALOG_REFUSALS`]). A test
//! reads each vocabulary's source and fails when a code is missing here.

use std::collections::BTreeSet;

use tillpass_protocol::problem::ErrorCode;

/// The codes of a refused scan (`POST /v1/identify`, `customer_scan`, `voucher_scans`, a
/// gift card's `scan`): the token's (`tillpass_protocol::token::Refusal`) and the
/// identification pipeline's own.
pub const SCAN_REFUSALS: &[&str] = &[
    "malformed",
    "unknown_key",
    "key_wrong_purpose",
    "key_not_valid_at_issue",
    "bad_signature",
    "not_yet_valid",
    "expired",
    "lifetime_too_long",
    "revoked",
    "not_enrolled",
    "replayed",
    "store_unavailable",
    "unknown_scanner_data",
];

/// The codes of a refused tender (`tillpass_engine::TenderRefusal`).
pub const TENDER_REFUSALS: &[&str] = &[
    "no_customer",
    "no_savings_programme",
    "currency_mismatch",
    "not_positive",
    "nothing_due",
    "exceeds_amount_due",
    "insufficient_balance",
    "offline_cap_reached",
    "card_blocked",
    "card_expired",
    "partial_payment_not_allowed",
];

/// The codes of a refused catalog push (`crate::sync::catalogs::CatalogRefusal`, with the
/// envelope's own).
pub const CATALOG_REFUSALS: &[&str] = &[
    "not_enrolled",
    "trust_list_expired",
    "too_large",
    "malformed",
    "unknown_key",
    "key_wrong_purpose",
    "key_outside_validity",
    "bad_signature",
    "purpose_mismatch",
    "rollback",
    "issued_in_future",
    "too_old",
    "bad_payload",
    "encode_failed",
    "invalid_catalog",
    "store_unavailable",
];

/// Every code, sorted, without repeats.
pub fn all() -> BTreeSet<&'static str> {
    ErrorCode::ALL
        .iter()
        .filter(|c| !c.central_only())
        .map(|c| c.code())
        .chain(SCAN_REFUSALS.iter().copied())
        .chain(TENDER_REFUSALS.iter().copied())
        .chain(CATALOG_REFUSALS.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literals the `code(&self) -> &'static str` function of `source`'s `impl`
    /// block answers.
    fn codes_of_fn(source: &str, block: &str) -> Vec<String> {
        let block = &source[source.find(block).unwrap()..];
        let start = block.find("pub fn code(&self) -> &'static str {").unwrap();
        let body = &block[start..];
        let body = &body[..body.find("\n    }\n").unwrap()];
        body.split("=> \"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
            .collect()
    }

    #[test]
    fn every_code_of_every_refusal_vocabulary_is_listed() {
        for code in tillpass_protocol::token::RefusalCode::ALL {
            assert!(SCAN_REFUSALS.contains(&code.code()), "scan: {code:?}");
        }
        let tender = codes_of_fn(
            include_str!("../../engine/src/refusal.rs"),
            "impl TenderRefusal {",
        );
        for code in &tender {
            assert!(TENDER_REFUSALS.contains(&code.as_str()), "tender: {code}");
        }
        let catalog = codes_of_fn(include_str!("../sync/catalogs.rs"), "impl CatalogRefusal {");
        let envelope = codes_of_fn(
            include_str!("../../../protocol/src/envelope.rs"),
            "impl EnvelopeError {",
        );
        for code in catalog.iter().chain(&envelope) {
            assert!(CATALOG_REFUSALS.contains(&code.as_str()), "catalog: {code}");
        }
    }

    #[test]
    fn codes_are_snake_case() {
        for code in all() {
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
        }
    }
}
