//! Central reachable, and the till's clock against central's signed time.
//!
//! `GET /v1/time` with a fresh `Tillpass-Nonce` answers a [`ServerTime`] signed with
//! central's sync key and echoing the nonce (so it cannot be a replayed answer). The key is
//! looked up in the till's trust list (the agent's newest, else the one from enrolment),
//! the signature checked, and only then is the till's clock compared with it.

use std::time::Duration;

use tillpass_protocol::sync::{HEADER_NONCE, RequestNonce, ServerTime, paths};
use tillpass_protocol::trust::{KeyId, KeyPurpose, RootKey, TrustStore};
use tillpass_tillfiles::status::OfflineStatus;

use super::{Finding, Status};
use crate::enrol::Enrolment;
use crate::layout::Layout;
use crate::system::System;

/// How far the clocks may disagree when the configuration does not say.
pub const DEFAULT_SKEW_SECS: u64 = 300;

fn read_enrolment(layout: &Layout) -> Option<Enrolment> {
    let text = std::fs::read_to_string(layout.enrolment_file()).ok()?;
    serde_json::from_str(&text).ok()
}

fn config_table(layout: &Layout) -> Option<toml::Table> {
    std::fs::read_to_string(layout.config_file())
        .ok()?
        .parse()
        .ok()
}

fn central_url(layout: &Layout, enrolment: Option<&Enrolment>) -> Option<String> {
    let configured = config_table(layout)
        .and_then(|t| t.get("central")?.get("url")?.as_str().map(str::to_owned));
    configured
        .or_else(|| enrolment.map(|e| e.central.clone()))
        .map(|u| u.trim_end_matches('/').to_owned())
}

fn skew_secs(layout: &Layout) -> u64 {
    config_table(layout)
        .and_then(|t| t.get("identify")?.get("clock_skew_secs")?.as_integer())
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(DEFAULT_SKEW_SECS)
}

/// The trust lists the till holds, newest first: the agent's (as `tillpass status
/// --offline` reports it), then enrolment's (opened as of `at`, central's claimed time:
/// the till's own clock is what is being checked).
fn trust_stores(
    status: &Result<OfflineStatus, String>,
    enrolment: Option<&Enrolment>,
    at: u64,
) -> Vec<TrustStore> {
    let mut stores = Vec::new();
    let Some(enrolment) = enrolment else {
        return stores;
    };
    let Ok(root) = RootKey::new(&enrolment.response.root_public_key) else {
        return stores;
    };
    if let Ok(status) = status
        && let Some(trust) = &status.trust_list
        && let Ok(envelope) = hex::decode(&trust.envelope)
        && let Ok((store, _)) = TrustStore::open(
            &envelope,
            &root,
            trust.issued_at,
            trust.sequence.saturating_sub(1),
        )
    {
        stores.push(store);
    }
    if let Ok((store, _)) = TrustStore::open(&enrolment.response.trust_list, &root, at, 0) {
        stores.push(store);
    }
    stores
}

/// Verifies `time` with the sync key named in it, from the till's trust lists.
fn verify(time: &ServerTime, nonce: &RequestNonce, stores: &[TrustStore]) -> Result<i64, String> {
    let at = u64::try_from(time.unix).unwrap_or(0);
    let kid = KeyId(time.key_id);
    let mut why = format!("no trust list names its key {kid}");
    for store in stores {
        match store.lookup(kid, KeyPurpose::Sync, at) {
            Ok(key) => {
                return time
                    .verify(key.verifying_key(), Some(nonce))
                    .map_err(|e| e.to_string());
            }
            Err(e) => why = e.to_string(),
        }
    }
    Err(why)
}

/// The verdict on the till's clock `local` against central's signed `server` time.
pub fn clock_finding(local: i64, server: i64, skew: u64) -> Finding {
    let diff = local.saturating_sub(server);
    let off = diff.unsigned_abs();
    let way = if diff >= 0 { "ahead of" } else { "behind" };
    if off <= skew {
        return Finding::ok(
            "clock",
            format!("within {off}s of central's signed time (allowed: {skew}s)"),
        );
    }
    Finding::bad(
        "clock",
        Status::Fail,
        format!(
            "the till's clock is {} {way} central's signed time",
            human(off)
        ),
        "set the clock right and keep it so: `timedatectl set-ntp true`, then check \
         `timedatectl timesync-status`; while it is wrong the agent refuses or misjudges \
         passes",
    )
}

fn human(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs}s"),
        120..7_200 => format!("{} min", secs / 60),
        7_200..172_800 => format!("{} h", secs / 3_600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// A central URL the till would refuse (plain `http://` to another host), or trusted
/// roots that cannot be loaded for an `https://` one: named as such, not as a network
/// problem.
fn transport_finding(layout: &Layout, central: &str) -> Option<Finding> {
    if let Err(e) = tillpass_protocol::sync::enrol::check_central_url(central) {
        return Some(Finding::bad(
            "central",
            Status::Fail,
            format!("the till refuses central's URL {central}: {e}"),
            "re-enrol with central's https:// URL: `tillpass-install install --central \
             https://… --enrol CODE`",
        ));
    }
    if !tillpass_protocol::sync::is_https(central) {
        return None;
    }
    let ca = crate::install::central_ca_file(layout);
    let ca = ca.is_file().then_some(ca);
    crate::tls::client_config(ca.as_deref()).err().map(|e| {
        Finding::bad(
            "central",
            Status::Fail,
            format!("cannot check central's certificate: {e}"),
            "install the `ca-certificates` package, or give central's CA with \
             `tillpass-install install --central-ca FILE`",
        )
    })
}

/// `central` (reachable, answering) and `clock` (against its signed time). `now` reads
/// the till's clock in unix seconds.
pub fn check(
    layout: &Layout,
    status: &Result<OfflineStatus, String>,
    system: &dyn System,
    now: &dyn Fn() -> i64,
) -> Vec<Finding> {
    let enrolment = read_enrolment(layout);
    let Some(central) = central_url(layout, enrolment.as_ref()) else {
        return vec![
            Finding::bad(
                "central",
                Status::Fail,
                "no central URL: the till is not enrolled",
                "enrol it: `tillpass-install install --central URL --enrol CODE`",
            ),
            skipped_clock(),
        ];
    };
    if let Some(finding) = transport_finding(layout, &central) {
        return vec![finding, skipped_clock()];
    }
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        return vec![Finding::bad(
            "central",
            Status::Warn,
            "the system random source failed: cannot make a request nonce",
            "check the kernel's random source (`cat /proc/sys/kernel/random/entropy_avail`)",
        )];
    }
    let nonce = RequestNonce(bytes);
    let url = format!("{central}{}", paths::TIME);
    let answer = system.http_get(
        &url,
        &[(HEADER_NONCE, nonce.to_hex())],
        Duration::from_secs(10),
    );
    let local = now();
    let answer = match answer {
        Err(e) => {
            return vec![
                Finding::bad(
                    "central",
                    Status::Fail,
                    format!("could not reach central at {central}: {e}"),
                    format!(
                        "check the till's network, DNS, proxy and firewall towards central \
                         (`curl -sS {url}`); meanwhile the till sells offline within \
                         central's offline limits and syncs when central is back"
                    ),
                ),
                skipped_clock(),
            ];
        }
        Ok(answer) if answer.status != 200 => {
            return vec![
                Finding::bad(
                    "central",
                    Status::Fail,
                    format!(
                        "central at {central} answered {}: {}",
                        answer.status,
                        answer.body.chars().take(200).collect::<String>()
                    ),
                    "central is reachable but failing: tell central IT, with this answer",
                ),
                skipped_clock(),
            ];
        }
        Ok(answer) => answer,
    };
    let reachable = Finding::ok("central", format!("{central} answers"));
    let time: ServerTime = match serde_json::from_str(&answer.body) {
        Ok(t) => t,
        Err(e) => {
            return vec![
                reachable,
                Finding::bad(
                    "clock",
                    Status::Warn,
                    format!("central's {} answer is not a signed time: {e}", paths::TIME),
                    "check that the central URL is tillpass-central (and not a proxy's page)",
                ),
            ];
        }
    };
    let stores = trust_stores(
        status,
        enrolment.as_ref(),
        u64::try_from(time.unix).unwrap_or(0),
    );
    let clock = match verify(&time, &nonce, &stores) {
        Ok(server) => clock_finding(local, server, skew_secs(layout)),
        Err(why) => Finding::bad(
            "clock",
            Status::Warn,
            format!("central's signed time could not be verified: {why}"),
            "the till's trust list lacks central's current sync key: let the agent sync \
             (`tillpass status`), or enrol the till again",
        ),
    };
    vec![reachable, clock]
}

fn skipped_clock() -> Finding {
    Finding::bad(
        "clock",
        Status::Skipped,
        "needs central's signed time",
        "see central",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_the_till_refuses_and_unusable_roots_are_not_called_network_problems() {
        let stage = tempfile::tempdir().unwrap();
        let layout = Layout::new(stage.path());
        let plain = transport_finding(&layout, "http://10.1.2.3:8440").unwrap();
        assert_eq!(plain.status, Status::Fail);
        assert!(plain.detail.contains("refuses central's URL"), "{plain}");
        assert!(!plain.to_string().contains("firewall"), "{plain}");
        assert!(transport_finding(&layout, "http://127.0.0.1:8440").is_none());
        // A CA file that holds no certificate: named as the TLS problem it is.
        std::fs::create_dir_all(layout.config_dir()).unwrap();
        std::fs::write(
            crate::install::central_ca_file(&layout),
            "not a certificate",
        )
        .unwrap();
        let roots = transport_finding(&layout, "https://central.example").unwrap();
        assert!(roots.detail.contains("certificate"), "{roots}");
        assert!(roots.fix.unwrap().contains("ca-certificates"));
    }

    #[test]
    fn the_clock_verdict_allows_the_skew_and_names_the_direction() {
        assert_eq!(clock_finding(1_000, 1_010, 300).status, Status::Ok);
        let ahead = clock_finding(1_000_000 + 3 * 3_600, 1_000_000, 300);
        assert_eq!(ahead.status, Status::Fail);
        assert!(ahead.detail.contains("3 h ahead of"), "{ahead}");
        assert!(ahead.fix.unwrap().contains("timedatectl set-ntp true"));
        let behind = clock_finding(1_000_000 - 400, 1_000_000, 300);
        assert!(behind.detail.contains("6 min behind"), "{behind}");
    }

    #[test]
    fn a_forged_time_is_not_believed() {
        let sync = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let nonce = RequestNonce([1; 16]);
        let key = tillpass_protocol::trust::TrustedKey::new(
            KeyPurpose::Sync,
            &sync.verifying_key().to_bytes(),
            0,
            u64::MAX,
        )
        .unwrap();
        let stores = vec![TrustStore::new(1, [key]).unwrap()];
        let time = ServerTime::sign(1_700_000_000, Some(nonce), &sync);
        assert_eq!(verify(&time, &nonce, &stores), Ok(1_700_000_000));
        let mut forged = time.clone();
        forged.unix += 3_600;
        assert!(verify(&forged, &nonce, &stores).is_err());
        assert!(verify(&time, &RequestNonce([2; 16]), &stores).is_err());
        assert!(verify(&time, &nonce, &[]).is_err());
    }
}
