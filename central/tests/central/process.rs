//! The real `tillpass-central serve` process: HTTPS from certificate files, file modes under
//! `umask 022`, and no `5xx` while the command line writes during uploads.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tillpass_protocol::sync::{EventPayload, ServerTime, Subject, TokenId, TokenKind, TokenUsed};

use crate::util::{Central, client, rand};

/// A CA and a certificate it issued for `127.0.0.1` and `localhost`, as PEM files in `dir`;
/// the CA's PEM.
fn certificates(dir: &Path) -> String {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.join("central.crt"), leaf.pem() + &ca_cert.pem()).unwrap();
    std::fs::write(dir.join("central.key"), key.serialize_pem()).unwrap();
    ca_cert.pem()
}

#[tokio::test]
async fn central_serves_https_from_certificate_files() {
    let dir = tempfile::tempdir().unwrap();
    let ca = certificates(dir.path());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let trusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let central = Central::spawn_in(
        dir,
        &["--tls-cert", "central.crt", "--tls-key", "central.key"],
        trusting,
    )
    .await;
    assert!(central.base.starts_with("https://"), "{}", central.base);

    let response = central
        .client
        .get(central.url("/v1/time"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let time: ServerTime = response.json().await.unwrap();
    assert!((time.unix - central.now()).abs() < 5);

    // A till enrols and signs over TLS as over plain HTTP.
    let till = central.enrol("S001", "S001-T01").await;
    let (status, page) = till
        .get_json(&central, "/v1/deltas/customers?cursor=&limit=10")
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");

    // A client that does not trust the CA gets no answer, nor does plain HTTP.
    let stranger = client();
    assert!(stranger.get(central.url("/v1/time")).send().await.is_err());
    let plain = format!("http://{}/v1/time", central.addr());
    let answer = stranger.get(plain).send().await;
    assert!(answer.is_err() || !answer.unwrap().status().is_success());
}

#[test]
fn a_certificate_without_its_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let output = Central::command(dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "central.crt",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    std::fs::write(dir.path().join("broken.key"), "not a key").unwrap();
    let output = Central::command(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--tls-cert", "central.crt", "--tls-key", "broken.key"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.key"), "{stderr}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_database_and_keys_are_private_whatever_the_umask() {
    // An older install left its database readable by everyone.
    let dir = tempfile::tempdir().unwrap();
    let old = tempfile::tempdir().unwrap();
    std::fs::create_dir(old.path().join("data")).unwrap();
    std::fs::write(old.path().join("data/central.db"), b"").unwrap();
    std::fs::set_permissions(
        old.path().join("data/central.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    for folder in [dir, old] {
        let central = Central::spawn_in(folder, &[], client()).await;
        let till = central.enrol("S001", "S001-T01").await;
        let (status, _) = till.upload(&central, vec![till.event(used())]).await;
        assert_eq!(status, StatusCode::OK);
        let base = central.dir();
        for file in [
            "data/central.db",
            "data/central.db-wal",
            "data/central.db-shm",
        ] {
            assert_eq!(mode(&base.join(file)), 0o600, "{file}");
        }
        assert_eq!(mode(&base.join("keys")), 0o700);
        let mut keys = 0;
        for key in std::fs::read_dir(base.join("keys")).unwrap() {
            assert_eq!(mode(&key.unwrap().path()), 0o600);
            keys += 1;
        }
        assert!(keys >= 4);
    }
    // A folder central makes for its database is 0700.
    let fresh = Central::spawn(&[], client()).await;
    assert_eq!(mode(&fresh.dir().join("data")), 0o700);
}

fn used() -> EventPayload {
    EventPayload::TokenUsed(TokenUsed {
        token_id: TokenId::new(&rand::<8>()).unwrap(),
        kind: TokenKind::CustomerPass,
        subject: Subject::new("C-1").unwrap(),
        key_id: [1, 2, 3, 4],
        sale_id: None,
    })
}

const CATALOG: &str = r#"
format = 1
currency = "EUR"
tiers = ["silver", "gold"]

[[promotions]]
id = "SUMMER-10"
label = { es = "Verano -10 %", en = "Summer 10 % off" }
valid_from = 1751328000
valid_until = 1756684800
rules = [{ type = "percent_off", percent = 1000 }]
"#;

#[tokio::test]
async fn the_command_line_writes_during_uploads_without_a_single_5xx() {
    // The one till stands for a store's many, uploading back to back for as long as the
    // command line runs (longer on a busy machine): its own quota is off, so that what
    // is measured is the database under both, not the per-till `429` answered past it.
    let central = Central::spawn(&["--till-burst", "0"], client()).await;
    std::fs::write(central.dir().join("catalog.toml"), CATALOG).unwrap();
    let till = central.enrol("S001", "S001-T01").await;

    let dir = central.dir().to_path_buf();
    let cli = tokio::task::spawn_blocking(move || {
        let mut failures = Vec::new();
        for i in 0..8 {
            let customer = format!("C-{i}");
            let card = format!("G-{i}");
            let voucher = format!("V-{i}");
            let commands: [&[&str]; 6] = [
                &["customer", "create", &customer, "--first-name", "Ana"],
                &["gift-card", "create", &card, "--balance", "5000"],
                &["enrol-code", "--store", "S002"],
                &["customer", "pass", &customer],
                &["voucher", &voucher],
                &["catalog", "publish", "catalog.toml"],
            ];
            for args in commands {
                let output = Central::command(&dir).args(args).output().unwrap();
                if !output.status.success() {
                    failures.push(format!(
                        "{args:?}: {}",
                        String::from_utf8_lossy(&output.stderr)
                    ));
                }
            }
        }
        failures
    });

    let mut statuses = Vec::new();
    while !cli.is_finished() {
        let events = (0..200).map(|_| till.event(used())).collect();
        let (status, ack) = till.upload(&central, events).await;
        statuses.push((status, ack["detail"].clone()));
        let (status, _) = central
            .admin_json(Method::GET, "/admin/v1/flags", Value::Null)
            .await;
        statuses.push((status, Value::Null));
    }
    let failures = cli.await.unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(statuses.len() >= 4, "too little load: {}", statuses.len());
    let errors: Vec<_> = statuses
        .iter()
        .filter(|(status, _)| !status.is_success())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{}", central.log());
}
