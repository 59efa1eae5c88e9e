//! Every refusal reason end to end, visits and replays across a restart, and a first-seen
//! customer.

use ed25519_dalek::SigningKey;
use tillpass_protocol::token::{RevocationDelta, Subject, SubjectRevocation, TokenKind};

use crate::util::{Central, Till, now};

fn code(answer: &serde_json::Value) -> &str {
    answer["code"].as_str().unwrap_or("")
}

#[test]
fn every_refusal_reaches_the_pos_with_its_code_and_messages() {
    let central = Central::new();
    let till = Till::new(&central, 3, "");
    // A revoked subject, set up in the till's store before it starts.
    {
        let store = tillpass_agent::store::Store::open(&till.data()).unwrap();
        let delta = RevocationDelta {
            subjects: vec![SubjectRevocation {
                kind: TokenKind::CustomerPass,
                subject: Subject::new(b"C-REVOKED").unwrap(),
                before: now() + 10,
            }],
            ..RevocationDelta::default()
        };
        tillpass_agent::store::tokens::add_revocations(&store.conn(), &delta).unwrap();
    }
    let agent = till.start();
    let t = now();
    let stranger = SigningKey::from_bytes(&[9; 32]);
    let good = central.pass("C-1", t - 10, 3600, 1);
    let mut bad_sig = good.clone().into_bytes();
    let last = bad_sig.len() - 1;
    bad_sig[last] = if bad_sig[last] == b'0' { b'1' } else { b'0' };
    let bad_sig = String::from_utf8(bad_sig).unwrap();

    let cases: Vec<(&str, String)> = vec![
        ("expired", central.pass("C-1", t - 7200, 3600, 2)),
        ("not_yet_valid", central.pass("C-1", t + 3600, 3600, 3)),
        (
            "lifetime_too_long",
            central.pass("C-1", t - 10, 30 * 86_400, 4),
        ),
        (
            "unknown_key",
            central.token_of(TokenKind::CustomerPass, "C-1", t - 10, 3600, 5, &stranger),
        ),
        (
            "key_wrong_purpose",
            central.token_of(
                TokenKind::CustomerPass,
                "C-1",
                t - 10,
                3600,
                6,
                &central.catalog,
            ),
        ),
        ("bad_signature", bad_sig),
        ("malformed", "hello world".to_owned()),
        ("malformed", good[..good.len() / 2].to_owned()),
        ("revoked", central.pass("C-REVOKED", t - 10, 3600, 7)),
    ];
    for (expected, scan) in &cases {
        let (status, answer) = agent.identify(scan);
        assert_eq!(status, 422, "{expected}: {answer}");
        assert_eq!(code(&answer), *expected, "{answer}");
        assert!(!answer["message_es"].as_str().unwrap().is_empty());
        assert!(!answer["message_en"].as_str().unwrap().is_empty());
    }
    let (status, answer) = agent.identify(&good);
    assert_eq!(status, 200, "{answer}");
    // Refusals and the acceptance are counted.
    let (status, metrics) = agent.request("GET", "/metrics", None);
    assert_eq!(status, 200, "{metrics}");
    let metrics = metrics.as_str().unwrap();
    let mut refused: std::collections::BTreeMap<&str, usize> = Default::default();
    for (code, _) in &cases {
        *refused.entry(code).or_default() += 1;
    }
    for (code, n) in refused {
        let line = format!("tillpass_scans_total{{result=\"refused\",code=\"{code}\"}} {n}\n");
        assert!(metrics.contains(&line), "{line:?} in {metrics}");
    }
    assert!(
        metrics.contains("tillpass_scans_total{result=\"accepted\",code=\"\"} 1\n"),
        "{metrics}"
    );
    // A till that never synced has no sync age to report: the family, no sample.
    assert!(
        metrics.contains("# TYPE tillpass_last_sync_age_seconds gauge\n"),
        "{metrics}"
    );
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("tillpass_last_sync_age_seconds")),
        "{metrics}"
    );
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    agent.stop();
}

#[test]
fn a_double_read_or_a_restart_uses_nothing_and_replays_are_remembered() {
    let central = Central::new();
    // One visit per pass: any second use is a replay.
    let till = Till::new(&central, 1, "");
    let t = now();
    let pass = central.pass("C-42", t - 10, 3600, 11);
    let other = central.pass("C-43", t - 10, 3600, 13);
    let gift = central.token_of(
        TokenKind::GiftCard,
        "GC-1",
        t - 10,
        86_400,
        12,
        &central.token,
    );

    let agent = till.start();
    let (status, first) = agent.identify(&pass);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["uses"], 1);
    assert_eq!(first["max_uses"], 1);
    assert_eq!(
        first["new_customer"], true,
        "C-42 was unknown here: earn-only profile"
    );
    assert_eq!(first["customer"]["earn_only"], true);
    // The scanner reads it twice, another customer's pass comes between, it is read
    // again: all one visit.
    for scan in [&pass, &other, &pass] {
        let (status, again) = agent.identify(scan);
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["uses"], 1, "{again}");
    }
    // A gift card's QR read twice at the scanner: both accepted; reading it pays nothing,
    // so it uses nothing, and no count limits it.
    for _ in 0..2 {
        let (status, g) = agent.identify(&gift);
        assert_eq!(status, 200, "{g}");
        assert_eq!(g["token_kind"], "gift_card");
        assert_eq!(g["uses"], 0, "{g}");
        assert_eq!(g["max_uses"], serde_json::Value::Null, "{g}");
    }
    agent.stop();

    // A restart in the middle of the visit does not end it: the pass still works.
    let agent = till.start();
    let (status, after) = agent.identify(&pass);
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["uses"], 1, "{after}");
    assert_eq!(after["new_customer"], false);
    agent.stop();

    // One use each, and the new customer, in the outbox for central, in order.
    let store = tillpass_agent::store::Store::open(&till.data()).unwrap();
    let events = tillpass_agent::store::journal::pending(&store.conn(), 100, usize::MAX).unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.payload.kind()).collect();
    assert_eq!(
        kinds,
        [
            "token_used",
            "customer_created",
            "token_used",
            "customer_created"
        ]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);

    // The customer comes back an hour later (their reads aged by an hour while the till
    // was off): a new visit, past the pass's one use — a replay, also after a restart.
    store
        .conn()
        .execute(
            "UPDATE token_uses SET last_used_at = last_used_at - 3600",
            [],
        )
        .unwrap();
    drop(store);
    for _ in 0..2 {
        let agent = till.start();
        let (status, replay) = agent.identify(&pass);
        assert_eq!(status, 422, "{replay}");
        assert_eq!(code(&replay), "replayed");
        agent.stop();
    }
}

#[test]
fn the_api_wants_the_token_and_sane_bodies() {
    let central = Central::new();
    let till = Till::new(&central, 2, "");
    let agent = till.start();
    let mut stream = std::net::TcpStream::connect(&agent.addr).unwrap();
    use std::io::{Read, Write};
    let body = r#"{"scan":"TP1"}"#;
    write!(
        stream,
        "POST /v1/identify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("\"code\":\"unauthorized\""), "{answer}");
    // JSON that breaks the body's rules is 422 with the field; text that is not JSON, 400.
    let (status, body) = agent.request("POST", "/v1/identify", Some("{\"scan\": 5}"));
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        (code(&body), body["field"].as_str()),
        ("invalid", Some("scan"))
    );
    let (status, body) = agent.request("POST", "/v1/identify", Some("not json"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "malformed_json");
    // A refusal keeps the fields it always had, in a problem document.
    let (status, body) = agent.identify("TP1");
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["status"], 422);
    assert_eq!(body["source"], "api");
    assert!(
        body["message_es"].is_string() && body["message_en"].is_string(),
        "{body}"
    );
    assert!(body["at"].is_u64(), "{body}");
    agent.stop();
}

/// The stable code of each `/readyz` reason.
fn reasons(ready: &serde_json::Value) -> Vec<String> {
    ready["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|r| r.as_str())
                .map(|r| r.split(':').next().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_till_that_cannot_work_is_not_ready_and_says_why() {
    let central = Central::new();
    // Enrolled (a trust list, central's URL) but without its key and any catalog: every
    // cart would get 503 no_catalog and nothing would reach central.
    let till = Till::new(&central, 2, "");
    let agent = till.start();
    let (status, ready) = agent.request("GET", "/readyz", None);
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["ready"], false, "{ready}");
    assert_eq!(reasons(&ready), ["no_till_key", "no_catalog"], "{ready}");
    for reason in ready["reasons"].as_array().unwrap() {
        assert!(
            reason.as_str().unwrap().contains(": "),
            "what to do: {reason}"
        );
    }
    let (status, cart) = agent.request(
        "PUT",
        "/v1/sessions/S-1?dry=true",
        Some(r#"{"cart":{"currency":"EUR","lines":[]}}"#),
    );
    assert_eq!(
        (status, cart["code"].as_str()),
        (503, Some("no_catalog")),
        "{cart}"
    );
    assert!(
        cart["message_es"].is_string() && cart["message_en"].is_string(),
        "{cart}"
    );
    agent.stop();

    // Not enrolled at all.
    let fresh = Till::new(&central, 2, "");
    std::fs::remove_file(fresh.data().join("enrolment.json")).unwrap();
    let agent = fresh.start();
    let (status, ready) = agent.request("GET", "/readyz", None);
    assert_eq!(status, 503, "{ready}");
    assert_eq!(
        reasons(&ready),
        [
            "not_enrolled",
            "no_central_url",
            "no_till_key",
            "no_trust_list",
            "no_catalog"
        ],
        "{ready}"
    );
    agent.stop();
}
