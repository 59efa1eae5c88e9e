//! `tillpass-install` against a real `tillpass-central` on loopback: install into a staged
//! root, re-run (nothing changes), a spent code refused, `doctor` on a healthy and a broken
//! till.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tillpass_tests::binary::{self, CENTRAL, INSTALL};
use tillpass_tests::process::Child;

struct Central {
    _child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Central {
    fn start() -> Central {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(binary::path(CENTRAL).unwrap());
        cmd.current_dir(dir.path()).args([
            "--db",
            "central.db",
            "--keys",
            "keys",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ]);
        let mut child = Child::spawn("central", cmd, dir.path()).unwrap();
        let line = child
            .wait_for_line("tillpass-central listening", Duration::from_secs(30))
            .unwrap();
        let addr = line.rsplit('=').next().unwrap().trim().to_owned();
        Central {
            _child: child,
            url: format!("http://{addr}"),
            dir,
        }
    }

    fn enrol_code(&self, store: &str) -> String {
        let out = Command::new(binary::path(CENTRAL).unwrap())
            .current_dir(self.dir.path())
            .args([
                "--db",
                "central.db",
                "--keys",
                "keys",
                "enrol-code",
                "--store",
                store,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["code"].as_str().unwrap().to_owned()
    }
}

fn install(args: &[&str]) -> std::process::Output {
    Command::new(binary::path(INSTALL).unwrap())
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A till staged in a temp dir and enrolled with `central` for `store`.
fn installed(central: &Central, store: &str) -> tempfile::TempDir {
    let code = central.enrol_code(store);
    let stage = tempfile::tempdir().unwrap();
    let out = install(&[
        "install",
        "--central",
        &central.url,
        "--enrol",
        &code,
        "--root",
        stage.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    stage
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn install_enrols_and_a_rerun_changes_nothing() {
    let central = Central::start();
    let code = central.enrol_code("S1");
    let stage = tempfile::tempdir().unwrap();
    let root = stage.path().to_str().unwrap();

    let first = install(&[
        "install",
        "--central",
        &central.url,
        "--enrol",
        &code,
        "--root",
        root,
    ]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("created enrolment: till S1-T1 of store S1"),
        "{}",
        text(&first)
    );

    let key = stage.path().join("etc/tillpass/till.key");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&stage.path().join("etc/tillpass/api.token")), 0o600);
    let key_before = std::fs::read(&key).unwrap();
    let enrolment: serde_json::Value = serde_json::from_slice(
        &std::fs::read(stage.path().join("var/lib/tillpass/enrolment.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(enrolment["response"]["store"], "S1");
    assert!(
        !enrolment["response"]["trust_list"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    // Again, without a code: the till is enrolled, nothing changes, the key is kept.
    let again = install(&["install", "--central", &central.url, "--root", root]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("nothing to change"),
        "{}",
        text(&again)
    );
    assert!(!text(&again).contains("created"), "{}", text(&again));
    assert_eq!(std::fs::read(&key).unwrap(), key_before);

    let doctor = install(&["doctor", "--root", root]);
    assert!(doctor.status.success(), "{}", text(&doctor));
}

#[test]
fn a_spent_code_is_refused_with_what_to_do() {
    let central = Central::start();
    let code = central.enrol_code("S2");
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ok = install(&[
        "install",
        "--central",
        &central.url,
        "--enrol",
        &code,
        "--root",
        a.path().to_str().unwrap(),
    ]);
    assert!(ok.status.success(), "{}", text(&ok));
    let again = install(&[
        "install",
        "--central",
        &central.url,
        "--enrol",
        &code,
        "--root",
        b.path().to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    let msg = text(&again);
    assert!(msg.contains("refused the enrolment"), "{msg}");
    assert!(msg.contains("new enrolment code"), "{msg}");
}

#[test]
fn an_unreachable_central_is_explained() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stage = tempfile::tempdir().unwrap();
    let out = install(&[
        "install",
        "--central",
        &format!("http://127.0.0.1:{port}"),
        "--enrol",
        "XXXX",
        "--root",
        stage.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("could not reach central"),
        "{}",
        text(&out)
    );
}

#[test]
fn doctor_finds_a_readable_key_and_says_chmod() {
    let central = Central::start();
    let stage = installed(&central, "S3");
    let root = stage.path().to_str().unwrap();
    let key = stage.path().join("etc/tillpass/till.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let doctor = install(&["doctor", "--root", root]);
    assert!(!doctor.status.success());
    let report = text(&doctor);
    assert!(report.contains("FAIL] till-key"), "{report}");
    assert!(report.contains("chmod 0600"), "{report}");
    // install puts the mode right again
    let fix = install(&["install", "--central", &central.url, "--root", root]);
    assert!(fix.status.success(), "{}", text(&fix));
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn an_installed_till_identifies_a_pass_central_issued() {
    use tillpass_tests::binary::TILLPASS;
    let central = Central::start();
    let stage = installed(&central, "S4");
    let root = stage.path().to_str().unwrap();

    let run_central = |args: &[&str]| {
        let out = Command::new(binary::path(CENTRAL).unwrap())
            .current_dir(central.dir.path())
            .args(["--db", "central.db", "--keys", "keys"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    run_central(&["customer", "create", "--first-name", "Ana", "C-0042"]);
    let pass_out = run_central(&["customer", "pass", "C-0042", "--out", "pass"]);
    let pass = pass_out
        .lines()
        .find(|l| l.starts_with("TP"))
        .expect("the pass text")
        .to_owned();

    // The agent on the staged till's files, the API on a free port.
    let mut cmd = Command::new(binary::path(TILLPASS).unwrap());
    cmd.args([
        "--config",
        &format!("{root}/etc/tillpass/config.toml"),
        "run",
    ])
    .env(
        "TILLPASS_STORE_DATA_DIR",
        format!("{root}/var/lib/tillpass"),
    )
    .env(
        "TILLPASS_TILL_ENROLMENT_FILE",
        format!("{root}/var/lib/tillpass/enrolment.json"),
    )
    .env(
        "TILLPASS_API_TOKEN_FILE",
        format!("{root}/etc/tillpass/api.token"),
    )
    .env(
        "TILLPASS_TILL_KEY_FILE",
        format!("{root}/etc/tillpass/till.key"),
    )
    .env("TILLPASS_API_LISTEN", "127.0.0.1:0");
    let mut agent = Child::spawn("agent", cmd, stage.path()).unwrap();
    let addr = agent
        .wait_for_line("tillpass listening address=", Duration::from_secs(30))
        .unwrap();
    let token = std::fs::read_to_string(stage.path().join("etc/tillpass/api.token")).unwrap();
    let body = serde_json::json!({ "scan": pass }).to_string();
    let answer = http_post(&addr, "/v1/identify", token.trim(), &body);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer}\n{}",
        agent.output()
    );
    assert!(answer.contains("\"subject\":\"C-0042\""), "{answer}");

    // The relay uploads the token use and the new customer to central, signed with the
    // till key; the outbox empties only on central's acknowledgement.
    tillpass_tests::wait::until("the outbox to drain", Duration::from_secs(30), || {
        let status = http_get(&addr, "/v1/status", token.trim());
        status.contains("\"outbox_depth\":0").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.output()));
    agent.kill();

    // Everything reached central: purge is allowed and removes data and keys.
    let purge = install(&["uninstall", "--purge", "--root", root]);
    assert!(purge.status.success(), "{}", text(&purge));
    assert!(!stage.path().join("var/lib/tillpass").exists());
    assert!(!stage.path().join("etc/tillpass/till.key").exists());
}

fn http_get(addr: &str, path: &str, token: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn http_post(addr: &str, path: &str, token: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}
