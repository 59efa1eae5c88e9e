//! The till's trust in central, end to end with the real binaries: plain `http://` only to
//! this machine, HTTPS with a private CA (`--central-ca`, for the installer and the agent),
//! a root store that cannot be loaded said as such, and the root key pinned by the
//! enrolment code — a man in the middle that swaps it is refused and nothing is written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use tillpass_tests::binary::{self, INSTALL};
use tillpass_tests::central::Central;
use tillpass_tests::proxy::{Proxy, TestCa};
use tillpass_tests::till::Agent;

fn install(args: &[&str], root: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary::path(INSTALL).unwrap());
    cmd.arg("install").args(args).arg("--root").arg(root);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn enrolment_file(root: &Path) -> std::path::PathBuf {
    root.join("var/lib/tillpass/enrolment.json")
}

fn config_file(root: &Path) -> std::path::PathBuf {
    root.join("etc/tillpass/config.toml")
}

/// Passes central's answers through unchanged.
fn faithful() -> Box<tillpass_tests::proxy::Rewrite> {
    Box::new(|_, answer| answer)
}

#[test]
fn an_enrolment_answer_with_a_swapped_root_key_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let central = Central::start(dir.path()).unwrap();
    let code = central.enrol_code("S1").unwrap();
    // The attacker's root key replaces central's in the enrolment answer.
    let proxy = Proxy::start(
        &central.addr,
        None,
        Box::new(|path, answer| {
            if !path.starts_with("/v1/enrol") {
                return answer;
            }
            let text = String::from_utf8(answer).unwrap();
            let (before, after) = text.split_once("\"root_public_key\":\"").unwrap();
            format!(
                "{before}\"root_public_key\":\"{}{}",
                "ab".repeat(32),
                &after[64..]
            )
            .into_bytes()
        }),
    )
    .unwrap();
    let stage = tempfile::tempdir().unwrap();
    let out = install(
        &["--central", &proxy.url(), "--enrol", &code],
        stage.path(),
        &[],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("not the pinned"),
        "a clear refusal: {}",
        text(&out)
    );
    assert!(!enrolment_file(stage.path()).exists(), "no enrolment kept");
    assert!(
        !config_file(stage.path()).exists(),
        "no configuration written"
    );
}

#[test]
fn an_old_code_needs_the_root_fingerprint_given_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let central = Central::start(dir.path()).unwrap();
    let issued = central.cli(&["enrol-code", "--store", "S1"]).unwrap();
    let issued: serde_json::Value = serde_json::from_str(&issued).unwrap();
    let code = issued["code"].as_str().unwrap();
    let fingerprint = issued["root_fingerprint"].as_str().unwrap();
    let old = code.strip_suffix(&format!("-{fingerprint}")).unwrap();

    let stage = tempfile::tempdir().unwrap();
    let out = install(
        &["--central", &central.url(), "--enrol", old],
        stage.path(),
        &[],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("--central-root"), "{}", text(&out));
    assert_eq!(
        std::fs::read_dir(stage.path()).unwrap().count(),
        0,
        "refused before anything is written"
    );

    // Refused before it was sent: the same code still works with the fingerprint.
    let out = install(
        &[
            "--central",
            &central.url(),
            "--enrol",
            old,
            "--central-root",
            fingerprint,
        ],
        stage.path(),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(enrolment_file(stage.path()).exists());
}

#[test]
fn plain_http_to_another_machine_is_refused_before_anything_is_written() {
    let stage = tempfile::tempdir().unwrap();
    // TEST-NET-1: never reached, the URL is refused first.
    let out = install(
        &["--central", "http://192.0.2.1:8440", "--enrol", "X"],
        stage.path(),
        &[],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("plain http://"), "{}", text(&out));
    assert_eq!(std::fs::read_dir(stage.path()).unwrap().count(), 0);
}

#[test]
fn https_with_a_private_ca_enrols_the_till_and_carries_its_sync() {
    let dir = tempfile::tempdir().unwrap();
    let central = Central::start(dir.path()).unwrap();
    central
        .cli(&["customer", "create", "--first-name", "Ana", "C-ANA"])
        .unwrap();
    let ca = TestCa::new().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let proxy = Proxy::start(&central.addr, Some(&ca), faithful()).unwrap();
    let url = proxy.url();
    assert!(url.starts_with("https://127.0.0.1:"));

    // Without the CA, the certificate is refused; the code is not spent.
    let code = central.enrol_code("S1").unwrap();
    let stage = tempfile::tempdir().unwrap();
    let out = install(&["--central", &url, "--enrol", &code], stage.path(), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("certificate"), "{}", text(&out));
    assert!(!enrolment_file(stage.path()).exists());

    // A root store that cannot be loaded is said as such, not as a network error.
    let out = install(
        &["--central", &url, "--enrol", &code],
        stage.path(),
        &[
            ("SSL_CERT_FILE", "/nonexistent/tillpass-test.pem"),
            ("SSL_CERT_DIR", "/nonexistent/tillpass-test-certs"),
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("trusted root certificates could not be loaded"),
        "{}",
        text(&out)
    );

    let out = install(
        &[
            "--central",
            &url,
            "--enrol",
            &code,
            "--central-ca",
            ca_file.to_str().unwrap(),
        ],
        stage.path(),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let config = std::fs::read_to_string(config_file(stage.path())).unwrap();
    assert!(
        config.contains("ca_file = \"/etc/tillpass/central-ca.pem\""),
        "{config}"
    );
    assert_eq!(
        std::fs::read_to_string(stage.path().join("etc/tillpass/central-ca.pem")).unwrap(),
        ca.ca_pem
    );

    // The agent talks to central over the same HTTPS, trusting the installed CA.
    let till = tillpass_tests::till::Till::at(stage.path());
    let mut env = till.agent_env(None);
    env.push((
        "TILLPASS_CENTRAL_CA_FILE".to_owned(),
        stage
            .path()
            .join("etc/tillpass/central-ca.pem")
            .display()
            .to_string(),
    ));
    let agent = Agent::start(
        "agent",
        &till.config_file(),
        &env,
        stage.path(),
        &till.api_token().unwrap(),
    )
    .unwrap();
    agent
        .wait_for(
            "a sync round over https",
            "/v1/sync",
            Duration::from_secs(30),
            |b| b.contains("\"online\":true") && !b.contains("\"last_delta_at\":null"),
        )
        .unwrap();
    let customers = agent
        .wait_for(
            "central's customer at the till",
            "/metrics",
            Duration::from_secs(30),
            |b| b.contains("tillpass_customers 1"),
        )
        .unwrap();
    assert!(customers.contains("tillpass_customers 1"));
}
