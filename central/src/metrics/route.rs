//! Route kinds: the `route` label of the request metrics. A kind per till route, one for
//! the admin API, one for the WhatsApp webhook, health, metrics, and `other` (unknown
//! paths) — a bounded set, whatever paths clients send.

/// The kind of route `path` is.
pub fn kind(path: &str) -> &'static str {
    use tillpass_protocol::sync::paths;
    match path {
        paths::ENROL => "enrol",
        paths::JOURNAL => "journal",
        paths::TRUST_LIST => "trust_list",
        paths::CATALOG => "catalog",
        paths::LOOKUP => "lookup",
        paths::TIME => "time",
        paths::ROUND => "round",
        "/livez" | "/readyz" => "health",
        "/metrics" => "metrics",
        "/v1/vouchers" => "admin",
        _ if path.starts_with("/v1/deltas/") => "deltas",
        _ if path.starts_with("/admin/")
            || path.starts_with("/v1/customers/")
            || path.starts_with("/v1/gift-cards/") =>
        {
            "admin"
        }
        _ if path.starts_with("/webhooks/whatsapp") => "whatsapp",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_has_one_of_a_few_kinds() {
        for (path, expected) in [
            ("/v1/journal", "journal"),
            ("/v1/deltas/customers", "deltas"),
            ("/v1/trust-list", "trust_list"),
            ("/v1/sync/round", "round"),
            ("/admin/v1/flags", "admin"),
            ("/v1/customers/C1/pass", "admin"),
            ("/webhooks/whatsapp", "whatsapp"),
            ("/readyz", "health"),
            ("/metrics", "metrics"),
            ("/v1/journal/x", "other"),
            ("/../../etc/passwd", "other"),
        ] {
            assert_eq!(kind(path), expected, "{path}");
        }
    }
}
